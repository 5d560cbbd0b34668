"""Who calls the API (a bearer token) and how often (per token)."""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja.throttling import SimpleRateThrottle

from api.models import ApiToken
from api.services import token_authenticate

logger = logging.getLogger(__name__)


class ApiRequest(HttpRequest):
    """A request that passed TokenAuth: `auth` is the token, `user` its owner."""

    auth: ApiToken
    user: User


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`; anything else (none, unknown, expired, revoked) is 401."""

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        # ninja's own parsing logs a header of another scheme in full under DEBUG: a token
        # sent as "Token l4m_…" would land in the log.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = token_authenticate(token)
        if found is not None:
            request.user = found.user
        return found


class TokenRateThrottle(SimpleRateThrottle):
    """LEFT4ME_API_RATE requests per token, counted in Redis (the "api" cache), so every web
    process counts against one limit. Redis down: requests pass (the limit protects the web
    processes, and a request that starts work fails on the broker anyway)."""

    scope = "token"

    def __init__(self) -> None:
        super().__init__(rate=settings.LEFT4ME_API_RATE)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        token = getattr(request, "auth", None)
        return f"rate-{token.digest}" if isinstance(token, ApiToken) else None

    def allow_request(self, request: HttpRequest) -> bool:
        self.cache = caches["api"]
        self.num_requests, self.duration = self.parse_rate(settings.LEFT4ME_API_RATE)
        try:
            return super().allow_request(request)
        except redis.RedisError as exc:
            logger.warning("api rate not counted: %s", exc)
            return True
