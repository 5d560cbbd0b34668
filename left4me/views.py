from __future__ import annotations

import logging
import os
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from left4me.celery import app
from left4me.disk import free_bytes

logger = logging.getLogger(__name__)

# Each probe gives up quickly: a health check that hangs is worse than one that says "error".
BROKER_TIMEOUT = 2
WORKER_PING_TIMEOUT = 1.0


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: object = None
) -> HttpResponse:
    """django-axes' answer to a login for a locked-out username and address (AXES_LOCKOUT_CALLABLE)."""
    minutes = settings.LEFT4ME_LOGIN_LOCKOUT_MINUTES
    context = {"minutes": minutes, "unit": "minute" if minutes == 1 else "minutes"}
    return render(request, "registration/locked_out.html", context, status=429)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("overlays:list")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer and the disk has room, 503 naming what failed.

    A missing worker is reported ("none seen") but is not a failure: the web still serves and
    jobs wait in the queue.
    """
    status = {"database": _probe("database", _check_database), "broker": _probe("broker", _check_broker)}
    status["worker"] = _worker_status() if status["broker"] == "ok" else "none seen"
    status["disk"] = _disk_status()
    healthy = status["database"] == "ok" and status["broker"] == "ok" and status["disk"] == "ok"
    return JsonResponse(status, status=200 if healthy else 503)


def _disk_status() -> str:
    """ "low" when the workshop cache's file system has less than WORKSHOP_MIN_FREE_BYTES free."""
    try:
        free = free_bytes(settings.WORKSHOP_CACHE_ROOT)
    except OSError as exc:
        return f"error: {_describe(exc)}"
    return "ok" if free >= settings.WORKSHOP_MIN_FREE_BYTES else "low"


def _probe(name: str, check: Callable[[], None]) -> str:
    try:
        check()
    except Exception as exc:
        logger.warning("healthz: %s check failed", name, exc_info=True)
        return f"error: {_describe(exc)}"
    return "ok"


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    options = {"socket_timeout": BROKER_TIMEOUT, "socket_connect_timeout": BROKER_TIMEOUT}
    with app.connection_for_write(url=settings.CELERY_BROKER_URL, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT)


def _worker_status() -> str:
    try:
        replies = app.control.ping(timeout=WORKER_PING_TIMEOUT)
    except Exception:
        logger.warning("healthz: worker ping failed", exc_info=True)
        return "none seen"
    return "ok" if replies else "none seen"


def _describe(exc: BaseException) -> str:
    """Why a check failed, without its message: messages can carry host names, users, URLs."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno).lower()
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__
