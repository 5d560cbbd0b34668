"""The events a destination may take: one table, read by the form, the receivers and delivery."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import models

# Who may add the arbitrary-URL webhooks and take the operator events: the group "Operators".
OPERATOR_PERM = "overlays.manage_all_overlays"


class Event(models.TextChoices):
    ITEMS_UPDATED = "items_updated", "Items updated (with what changed)"
    BUILD_FAILED = "build_failed", "A build failed, or its retries are used up"
    ITEM_GONE = "item_gone", "An item removed, hidden or banned upstream"
    SERVER_APPLIED = "server_applied", "A server applied a build"
    APPLY_FAILED = "apply_failed", "An apply to a server failed"
    DISK_LOW = "disk_low", "Disk low (operators)"
    HOST_DOWN = "host_down", "A host down (operators)"
    QUOTA_NEAR = "quota_near", "A user near their quota (operators)"


OPERATOR_EVENTS = frozenset({Event.DISK_LOW, Event.HOST_DOWN, Event.QUOTA_NEAR})
# A test notice is delivered at once, never held for a digest.
TEST = "test"


def is_operator(user: User) -> bool:
    return user.has_perm(OPERATOR_PERM)


def events_for(user: User) -> list[Event]:
    """The events `user` may choose: the owner events, and the operator events for operators."""
    return [event for event in Event if is_operator(user) or event not in OPERATOR_EVENTS]
