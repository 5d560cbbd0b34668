"""The players' page: /p/<token>/ and its JSON form, with no login (overlays.players)."""

from __future__ import annotations

import json
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from overlays.players import players_answer


def _html(data: dict[str, Any]) -> bytes:
    # Rendered without the request: the page is the same for everyone, so it is cached as bytes.
    return render_to_string("overlays/players.html", {"page": data}).encode()


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def _answer(token: str, kind: str, content_type: str) -> HttpResponse:
    body = players_answer(token, kind, _html if kind == "html" else _json)
    if body is None:
        raise Http404("no players' page here")
    response = HttpResponse(body, content_type=content_type)
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def players_page(request: HttpRequest, token: str) -> HttpResponse:
    return _answer(token, "html", "text/html; charset=utf-8")


@require_GET
def players_addons_json(request: HttpRequest, token: str) -> HttpResponse:
    return _answer(token, "json", "application/json")
