"""A 405 in the site's layout, and /healthz answered ahead of the sessions and the login checks."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


class MethodNotAllowedPage:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 405 and not response.content and request.method != "HEAD":
            response.content = render_to_string("405.html", request=request).encode()
            response["Content-Type"] = "text/html; charset=utf-8"
        return response


class HealthzShortcut:
    """GET /healthz without a session cookie, answered before the middleware after this one.

    Monitoring polls it often and anonymously: sessions, CSRF, messages and login throttling
    have nothing to do for it, and skipping them halves its cost, so pollers leave the web
    workers to the pages. Requests with a session go the whole way to the view (an operator
    may read the detail).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from left4me.views import HEALTHZ_PATH, health_response, is_local

        if (
            request.path_info == HEALTHZ_PATH
            and request.method == "GET"
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
        ):
            return health_response(detail=is_local(request))
        return self.get_response(request)
