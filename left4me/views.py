from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from left4me.auth import address_locked
from left4me.health import health_cache
from left4me.http import client_ip

HEALTHZ_PATH = "/healthz"
# Who reads the detail of /healthz besides requests from this host.
HEALTH_DETAIL_PERMISSION = "overlays.view_storage"
LOCAL_ADDRESSES = frozenset({"127.0.0.1", "::1"})


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: object = None
) -> HttpResponse:
    """django-axes' answer to a login for a locked-out username and address (AXES_LOCKOUT_CALLABLE)."""
    minutes = settings.LEFT4ME_LOGIN_LOCKOUT_MINUTES
    context = {
        "minutes": minutes,
        "unit": "minute" if minutes == 1 else "minutes",
        "whole_address": address_locked(request),
    }
    return render(request, "registration/locked_out.html", context, status=429)


class LoginView(auth_views.LoginView):
    """Django's login page; until anyone has logged in, it says where the first admin's password
    is and how to set a new one."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        return super().get_context_data(**kwargs) | {"first_admin": first_start_admin()}


def first_start_admin() -> str:
    """The superuser's username while no user has ever logged in, else ""."""
    users = get_user_model().objects
    if users.filter(last_login__isnull=False).exists():
        return ""
    admin = users.filter(is_superuser=True).order_by("pk").first()
    return admin.get_username() if admin else ""


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("overlays:list")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """{"status": "ok"} 200, or "degraded"/"down" with 503; anyone may ask, without a login.

    Monitoring on this host and operators (HEALTH_DETAIL_PERMISSION) also read each part: the
    database, the broker, the workers with the age of their last heartbeat, the disk. A request
    without a session is answered earlier, by left4me.middleware.HealthzShortcut.
    """
    may_read_detail = is_local(request) or (
        request.user.is_authenticated and request.user.has_perm(HEALTH_DETAIL_PERMISSION)
    )
    return health_response(detail=may_read_detail)


def health_response(*, detail: bool) -> JsonResponse:
    report = health_cache.get()
    response = JsonResponse(report.detail() if detail else report.summary(), status=report.http_status)
    add_never_cache_headers(response)
    return response


def is_local(request: HttpRequest) -> bool:
    """The request comes from this host (behind the proxy: nginx was reached from this host)."""
    return client_ip(request) in LOCAL_ADDRESSES


def live_pages(request: HttpRequest) -> dict[str, int]:
    """Context for every page: how often its scripts ask for news (LEFT4ME_PAGE_POLL_SECONDS)."""
    return {"page_poll_ms": round(settings.LEFT4ME_PAGE_POLL_SECONDS * 1000)}
