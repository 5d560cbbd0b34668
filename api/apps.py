from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The JSON API at /api/v1/ (django-ninja) and the tokens its callers send."""

    name = "api"
