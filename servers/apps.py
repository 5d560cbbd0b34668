from django.apps import AppConfig


class ServersConfig(AppConfig):
    """Game servers that run an overlay: their status (A2S) and the apply of new builds (RCON)."""

    name = "servers"

    def ready(self) -> None:
        from django.db.models import Count

        from overlays.signals import overlay_page_annotations
        from servers import hooks  # noqa: F401  (connects to overlays.signals.addons_changed)

        overlay_page_annotations["server_count"] = Count("servers")
