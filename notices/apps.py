from django.apps import AppConfig


class NoticesConfig(AppConfig):
    """Notices where operators already are (Discord, email, ntfy, webhooks...), sent by apprise:
    each user's destinations, the events they take, and their delivery as a job."""

    name = "notices"

    def ready(self) -> None:
        from notices import receivers  # noqa: F401  (connects to the lower apps' signals)
