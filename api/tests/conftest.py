"""An API caller: the test client sending a bearer token and JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.services import token_create


class ApiClient:
    """Requests to /api/v1/ with `Authorization: Bearer <secret>` (none when secret is None)."""

    def __init__(self, client: Any, secret: str | None) -> None:
        self.client, self.secret = client, secret

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.secret}"} if self.secret is not None else {}
        send = getattr(self.client, method.lower())
        if body is None:  # no body at all, as `curl -X POST` sends
            if method == "GET":
                return send(f"/api/v1{path}", headers=headers)
            return send(f"/api/v1{path}", data=b"", content_type="application/json", headers=headers)
        return send(f"/api/v1{path}", data=json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture(autouse=True)
def _private_roots(private_roots: None) -> None:
    """Every test here gets its own cache and overlays folders."""


@pytest.fixture
def owner_token(owner: Any) -> str:
    return token_create(user=owner, name="bot").secret


@pytest.fixture
def api(client: Any, owner_token: str) -> ApiClient:
    """The owner's API client."""
    return ApiClient(client, owner_token)


@pytest.fixture
def stranger_api(client: Any, stranger: Any) -> ApiClient:
    return ApiClient(client, token_create(user=stranger, name="other").secret)
