from django.apps import AppConfig


class Left4meConfig(AppConfig):
    name = "left4me"
