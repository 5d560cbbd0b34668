"""The players' page of an overlay: an unguessable link, no login, that lists what a server on
the overlay runs (names, sizes, Workshop links, campaigns, collections), never where or whose.

Answers are cached per token and per "last changed" marker (players_marker), so a page asked
for by many players costs three small queries and a cache read; the owner's changes (name,
campaigns, items or collections added or removed) make a new marker at once, and what Steam
changes (a title, a size) shows within LEFT4ME_PLAYERS_CACHE_SECONDS.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max

from overlays.contents import stored_panel
from overlays.models import Overlay, OverlayWorkshopCollection, OverlayWorkshopItem
from workshop.steam import item_url

# secrets.token_urlsafe(24): 32 characters, 192 random bits.
TOKEN_BYTES = 24
TOKEN_MAX = 64  # Overlay.share_token's max_length


class Answer(NamedTuple):
    """A cached page, as it is and gzipped (browsers take the second: 23 KiB instead of 735 at
    2,000 items)."""

    body: bytes
    gzipped: bytes


def overlay_share(*, overlay: Overlay) -> str:
    """Turn the players' page on (a new token unless it is on already); its token."""
    if not overlay.share_token:
        overlay.share_token = secrets.token_urlsafe(TOKEN_BYTES)
        Overlay.objects.filter(pk=overlay.pk).update(share_token=overlay.share_token)
    return overlay.share_token


def overlay_share_by(*, overlay: Overlay, user: User) -> str:
    """Its owner turns the players' page on (publishing the list is the owner's choice alone:
    PermissionDenied for anyone else, operators too)."""
    if overlay.owner_id != user.pk:
        raise PermissionDenied("only its owner shares an overlay")
    return overlay_share(overlay=overlay)


def overlay_share_revoke(*, overlay: Overlay) -> None:
    """Turn the players' page off: its link answers 404 from now on; sharing again makes a new one."""
    overlay.share_token = None
    Overlay.objects.filter(pk=overlay.pk).update(share_token=None)


def shared_overlay(token: str) -> Overlay | None:
    """The overlay whose players' page `token` opens (one query), None when there is none."""
    if not token or len(token) > TOKEN_MAX:
        return None
    return (
        Overlay.objects.only("id", "name", "campaigns", "share_token")
        .filter(share_token=token, deleting=False)
        .first()
    )


def players_marker(overlay: Overlay) -> str:
    """What changes whenever the overlay's name or campaigns change, or an item or a collection
    comes or goes (two queries on the links' and collections' overlay index). What Steam says of
    an item (its title, size) is not in it: that shows within LEFT4ME_PLAYERS_CACHE_SECONDS."""
    links = OverlayWorkshopItem.objects.filter(overlay=overlay).aggregate(n=Count("id"), last=Max("id"))
    collections = OverlayWorkshopCollection.objects.filter(overlay=overlay).aggregate(
        n=Count("id"), last=Max("id")
    )
    seen = [overlay.name, overlay.campaigns, links, collections]
    return hashlib.sha256(json.dumps(seen, sort_keys=True).encode()).hexdigest()[:32]


def players_data(overlay: Overlay) -> dict[str, Any]:
    """What the page shows, as plain data (the JSON form is exactly this; two queries)."""
    rows = (
        OverlayWorkshopItem.objects.filter(overlay=overlay)
        .order_by("item__title", "item__steam_id")
        .values_list("item__steam_id", "item__title", "item__file_size", "item__preview_url")
    )
    items = [
        {
            "steam_id": steam_id,
            "title": title or f"item {steam_id}",
            "size": size,
            "thumbnail": preview,
            "workshop_url": item_url(steam_id),
        }
        for steam_id, title, size, preview in rows
    ]
    return {
        "name": overlay.name,
        "items": items,
        "total_size": sum(item["size"] for item in items),
        **_maps(overlay),
        "collections": [
            {
                "steam_id": steam_id,
                "title": title or f"collection {steam_id}",
                "workshop_url": item_url(steam_id),
            }
            for steam_id, title in overlay.workshop_collections.values_list("steam_id", "title")
        ],
    }


def _maps(overlay: Overlay) -> dict[str, list[dict[str, Any]]]:
    """The campaigns and their maps as the last build found them (why one could not be read
    stays on the owner's page: it may name files)."""
    panel = stored_panel(overlay)
    return {
        "campaigns": [
            {"name": c.name, "steam_id": c.steam_id, "item_title": c.item_title, "modes": c.modes}
            for c in panel.campaigns
            if not c.problem
        ],
        "maps_without_campaign": [
            {"steam_id": row.steam_id, "item_title": row.item_title, "maps": row.maps}
            for row in panel.items
            if row.maps
        ],
    }


def players_answer(token: str, kind: str, render: Callable[[dict[str, Any]], bytes]) -> Answer | None:
    """The page (`kind` names the form: "html", "json") from the cache, rendered by `render` from
    players_data (and compressed once) when its marker is new; None when no players' page has
    this token."""
    overlay = shared_overlay(token)
    if overlay is None:
        return None
    key = f"players:{kind}:{token}:{players_marker(overlay)}"
    answer: Answer | None = cache.get(key)
    if answer is None:
        body = render(players_data(overlay))
        answer = Answer(body, gzip.compress(body, compresslevel=6, mtime=0))
        cache.set(key, answer, settings.LEFT4ME_PLAYERS_CACHE_SECONDS)
    return answer
