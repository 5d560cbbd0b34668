"""Request types for views that only logged-in users reach."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest


class AuthenticatedHttpRequest(HttpRequest):
    """A request behind @login_required (or the admin): its user is a real account, never anonymous."""

    user: User
