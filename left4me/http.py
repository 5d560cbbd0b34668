"""Request types for views that only logged-in users reach."""

from __future__ import annotations

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
