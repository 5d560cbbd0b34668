"""The NinjaAPI at /api/v1/: its auth and throttle (api.auth), its routes (api.endpoints), and
what a refusal answers ({"detail": …} with the status the pages give)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError

from api.auth import TokenAuth, TokenRateThrottle
from api.endpoints import JobRefused, jobs, overlays
from api.endpoints_fleet import notifications, operators, servers
from notices.services import NoticeError
from overlays.services import OverlayError
from workshop.parsing import WorkshopInputError

api = NinjaAPI(
    title="left4me",
    version="1",
    description="Overlays, their workshop items and jobs, game servers, notice destinations, and "
    "for operators the hosts and the cache, as the pages show them. "
    "Send `Authorization: Bearer <token>` (tokens: /account/tokens/).",
    urls_namespace="api",
    auth=TokenAuth(),
    throttle=[TokenRateThrottle()],
)
api.add_router("/overlays", overlays)
api.add_router("/jobs", jobs)
api.add_router("/servers", servers)
api.add_router("/notifications", notifications)
api.add_router("", operators)


def _detail(request: HttpRequest, text: str, status: int) -> HttpResponse:
    return api.create_response(request, {"detail": text}, status=status)


@api.exception_handler(JobRefused)
@api.exception_handler(NoticeError)
@api.exception_handler(OverlayError)
@api.exception_handler(WorkshopInputError)
def refused(request: HttpRequest, exc: Exception) -> HttpResponse:
    """What the page's form would say beside a 400."""
    return _detail(request, str(exc), 400)


@api.exception_handler(PermissionDenied)
def forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _detail(request, str(exc) or "forbidden", 403)


@api.exception_handler(ValidationError)
def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """A body or a parameter of the wrong shape: 400 naming the field and what is wrong with it."""
    parts = []
    for error in exc.errors:
        where = ".".join(
            str(part) for part in error.get("loc", ()) if part not in ("body", "payload", "query")
        )
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    return _detail(request, "; ".join(parts) or "invalid request", 400)
