"""The players' page: /p/<token>/ and its JSON form, with no login (overlays.players)."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from overlays.players import players_answer


def _html(data: dict[str, Any]) -> bytes:
    # Rendered without the request: the page is the same for everyone, so it is cached as bytes.
    return render_to_string("overlays/players.html", {"page": data}).encode()


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def _answer(request: HttpRequest, token: str, kind: str, content_type: str) -> HttpResponse:
    answer = players_answer(token, kind, _html if kind == "html" else _json)
    if answer is None:
        raise Http404("no players' page here")
    if _accepts_gzip(request):
        response = HttpResponse(answer.gzipped, content_type=content_type)
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(answer.body, content_type=content_type)
    patch_vary_headers(response, ["Accept-Encoding"])
    response["X-Robots-Tag"] = "noindex"
    return response


def _accepts_gzip(request: HttpRequest) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


@require_GET
def players_page(request: HttpRequest, token: str) -> HttpResponse:
    return _answer(request, token, "html", "text/html; charset=utf-8")


@require_GET
def players_addons_json(request: HttpRequest, token: str) -> HttpResponse:
    return _answer(request, token, "json", "application/json")
