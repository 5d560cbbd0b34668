from django.apps import AppConfig


class FleetConfig(AppConfig):
    """Operator work across overlays and hosts: the storage page, cache collection, hosts' cache
    checks, the refresh of every overlay and the reindexing of cached uploads."""

    name = "fleet"
