"""/metrics for Prometheus: django-prometheus' request and database numbers and left4me's own
(fleet.metrics), for the addresses in LEFT4ME_METRICS_ALLOW or a bearer of LEFT4ME_METRICS_TOKEN."""

from __future__ import annotations

import hmac
import ipaddress
import os

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from fleet.metrics import FleetCollector
from left4me.http import client_ip


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.LEFT4ME_METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request) or "")
    except ValueError:
        return False
    return any(address in network for network in settings.LEFT4ME_METRICS_ALLOW)


def _process_registry() -> CollectorRegistry:
    """This process's numbers; under gunicorn with PROMETHEUS_MULTIPROC_DIR, every worker's."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        raise PermissionDenied("not an address or token allowed to read /metrics")
    fleet = CollectorRegistry(auto_describe=False)
    fleet.register(FleetCollector())
    body = generate_latest(_process_registry()) + generate_latest(fleet)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
