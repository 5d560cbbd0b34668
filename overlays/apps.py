from django.apps import AppConfig
from django.core import checks


class OverlaysConfig(AppConfig):
    name = "overlays"

    def ready(self) -> None:
        from overlays.checks import check_hardlink_one_filesystem

        checks.register(check_hardlink_one_filesystem)
