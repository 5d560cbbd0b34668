from django.apps import AppConfig


class TestSupportConfig(AppConfig):
    """Installed only by tests/settings.py: Celery's autodiscovery finds its tasks module."""

    name = "tests.support"
    label = "testsupport"
