"""Request types for views that only logged-in users reach, and where a request came from."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class AuthenticatedHttpRequest(HttpRequest):
    """A request behind @login_required (or the admin): its user is a real account, never anonymous."""

    user: User


def request_user(request: HttpRequest) -> User:
    """The logged-in user of a request typed as plain HttpRequest (admin hooks); refused otherwise."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("log in first")
    return user


def client_ip(request: HttpRequest) -> str | None:
    """The address a request came from, as login throttling (django-axes) counts it.

    Behind the TLS proxy (SECURE_COOKIES) gunicorn only ever sees nginx, which appends the
    address it was reached from to X-Forwarded-For: the right-most entry is that one, whatever
    the client wrote into the header itself. Without the proxy the header is the client's own
    words, so it is ignored and the socket's address is used.
    """
    if settings.SECURE_COOKIES:
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    remote: str | None = request.META.get("REMOTE_ADDR")
    return remote
