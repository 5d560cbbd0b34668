"""Per-user quotas: how many overlays a user holds, and how many bytes of workshop items in all
of them. An item in two of their overlays counts once (its file is shared in the cache); sizes
are Steam's. Limits come from LEFT4ME_QUOTA_OVERLAYS and LEFT4ME_QUOTA_BYTES unless the user's
UserQuota sets their own; staff have none unless set there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import F, Func, OuterRef, Subquery
from django.db.models.functions import Coalesce

from left4me.units import counted, human_bytes
from overlays.models import Overlay, OverlayWorkshopItem
from workshop.models import WorkshopItem


@dataclass(frozen=True)
class Quota:
    """A user's limits (None: no limit) and what they use now."""

    user: User
    max_overlays: int | None
    max_bytes: int | None
    used_overlays: int
    used_bytes: int

    @property
    def overlays_full(self) -> bool:
        return self.max_overlays is not None and self.used_overlays >= self.max_overlays

    @property
    def summary(self) -> str:
        """Use against limits, as in "3 of 50 overlays · 12.4 GiB of 200.0 GiB"."""
        overlays = counted(self.used_overlays, "overlay")
        size = human_bytes(self.used_bytes)
        if self.max_overlays is None and self.max_bytes is None:
            return f"{overlays} · {size} of workshop items: no limits"
        if self.max_overlays is None:
            overlays += " (no limit)"
        else:
            overlays = f"{self.used_overlays} of {counted(self.max_overlays, 'overlay')}"
        size += " (no limit)" if self.max_bytes is None else f" of {human_bytes(self.max_bytes)}"
        return f"{overlays} · {size}"


def quota_of(user: User, *, lock: bool = False) -> Quota:
    """The user's limits and use, in one query. With `lock` (inside a transaction) the user's
    row is held until it ends, so two adds or creates of one user cannot both take the room."""
    if lock:
        list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    max_overlays, max_bytes, used_overlays, used_bytes = (
        User.objects.filter(pk=user.pk)
        .annotate(used_overlays=_count_of_overlays(), used_bytes=_bytes_of_items())
        .values_list("quota__max_overlays", "quota__max_bytes", "used_overlays", "used_bytes")
        .get()
    )
    default_overlays, default_bytes = (
        (None, None) if user.is_staff else (settings.LEFT4ME_QUOTA_OVERLAYS, settings.LEFT4ME_QUOTA_BYTES)
    )
    return Quota(
        user=user,
        max_overlays=default_overlays if max_overlays is None else max_overlays,
        max_bytes=default_bytes if max_bytes is None else max_bytes,
        used_overlays=used_overlays,
        used_bytes=used_bytes,
    )


def _count_of_overlays() -> Coalesce:
    overlays = Overlay.objects.filter(owner=OuterRef("pk")).order_by()
    return _total(Subquery(overlays.annotate(n=Func(F("pk"), function="COUNT")).values("n")))


def _bytes_of_items() -> Coalesce:
    """The sizes of the distinct items in all of a user's overlays, added up."""
    held = OverlayWorkshopItem.objects.filter(overlay__owner=OuterRef(OuterRef("pk"))).values("item_id")
    items = WorkshopItem.objects.filter(pk__in=held).order_by()
    return _total(Subquery(items.annotate(n=Func(F("file_size"), function="SUM")).values("n")))


def _total(subquery: Subquery) -> Coalesce:
    """The subquery's one value; 0 when it has no rows to add up."""
    return Coalesce(subquery, 0, output_field=models.BigIntegerField())


def items_new_to(user: User, items: Iterable[WorkshopItem]) -> list[WorkshopItem]:
    """`items` (each once, in order) that none of the user's overlays holds yet."""
    unique = list({item.pk: item for item in items}.values())
    held = set(
        OverlayWorkshopItem.objects.filter(overlay__owner=user, item__in=unique).values_list(
            "item_id", flat=True
        )
    )
    return [item for item in unique if item.pk not in held]


def quota_fit(quota: Quota, items: list[WorkshopItem]) -> tuple[list[WorkshopItem], list[WorkshopItem]]:
    """`items` split, in their order, into those the byte limit has room for and the rest. An item
    one of the user's overlays holds already costs nothing; each new one its size, once."""
    if quota.max_bytes is None:
        return items, []
    new = {item.pk for item in items_new_to(quota.user, items)}
    used = quota.used_bytes
    fits: list[WorkshopItem] = []
    rest: list[WorkshopItem] = []
    for item in items:
        cost = item.file_size if item.pk in new else 0
        if used + cost > quota.max_bytes:
            rest.append(item)
            continue
        used += cost
        new.discard(item.pk)
        fits.append(item)
    return fits, rest
