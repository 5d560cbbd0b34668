"""API tokens: made (the secret shown once), revoked, and checked on every API request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from api.models import ApiToken

TOKEN_PREFIX = "l4m_"
# The characters after TOKEN_PREFIX kept in clear, for the owner to tell tokens apart.
SHOWN_CHARS = 6
NAME_MAX = ApiToken._meta.get_field("name").max_length or 100
# A token's last use is written at most this often (not once per request).
LAST_USED_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A user-facing reason why a token was not made."""


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_create(*, user: User, name: str, expires_days: int | None = None) -> NewToken:
    """A new token of `user`, valid for `expires_days` days (None: until revoked)."""
    name = name.strip()
    if not name:
        raise TokenError("name is required")
    if len(name) > NAME_MAX:
        raise TokenError(f"name is too long: {len(name)} characters (at most {NAME_MAX})")
    if expires_days is not None and expires_days < 1:
        raise TokenError("a token lasts at least 1 day")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + SHOWN_CHARS],
        digest=token_digest(secret),
        expires_at=expires_at,
    )
    return NewToken(token=token, secret=secret)


def token_revoke(*, user: User, pk: int) -> ApiToken:
    """Revoke one of `user`'s tokens (404 for anyone else's); revoking twice changes nothing."""
    token = get_object_or_404(ApiToken, pk=pk, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_authenticate(secret: str) -> ApiToken | None:
    """The token whose secret this is, if it may be used now (not revoked, not expired, its user
    active), with its user; None otherwise. Records its use (at most every LAST_USED_EVERY)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    digest = token_digest(secret)
    token = ApiToken.objects.select_related("user").filter(digest=digest).first()
    if token is None or not hmac.compare_digest(token.digest, digest):
        return None
    if token.revoked_at is not None or token.expired or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
