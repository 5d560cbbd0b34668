"""The two Steam Web API calls left4me makes (no API key needed); see steam-api.md for the facts.

Every request carries ``timeout=(WORKSHOP_CONNECT_TIMEOUT, WORKSHOP_READ_TIMEOUT)`` and goes to
``STEAM_API_BASE_URL``, so tests and demos can point it at a local server.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from workshop.parsing import WorkshopInputError

BATCH_SIZE = 100  # Steam refuses more ids in one request
TEXT_MAX = 255  # WorkshopItem.title and .filename
ITEM_DETAILS = "GetPublishedFileDetails"
COLLECTION_DETAILS = "GetCollectionDetails"
FILETYPE_COLLECTION = 2
ITEM_PAGE = "https://steamcommunity.com/sharedfiles/filedetails/?id={}"


class SteamAPIError(Exception):
    """The API call itself failed (network, HTTP status, unreadable answer); the message says why."""


@dataclass(frozen=True)
class WorkshopMetadata:
    steam_id: str
    title: str = ""
    filename: str = ""
    file_url: str = ""
    file_size: int = 0
    time_updated: int = 0
    preview_url: str = ""
    consumer_app_id: int = 0
    result: int = 0
    found: bool = True  # False when Steam left the id out of its answer altogether (then result == 0)

    @property
    def ok(self) -> bool:
        return self.found and self.result == 1


def item_url(steam_id: str) -> str:
    """The item's (or collection's) page on the Steam Community."""
    return ITEM_PAGE.format(steam_id)


def request_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every request to Steam: the API and the file hosts."""
    return (settings.WORKSHOP_CONNECT_TIMEOUT, settings.WORKSHOP_READ_TIMEOUT)


def fetch_metadata_batch(ids: Sequence[str]) -> list[WorkshopMetadata]:
    """One record per id, in the order given; one POST per 100 ids."""
    details: dict[str, dict[str, Any]] = {}
    for batch in batches(list(dict.fromkeys(ids))):
        for entry in _post_ids(ITEM_DETAILS, "itemcount", batch).get("publishedfiledetails") or []:
            if isinstance(entry, dict):
                details[str(entry.get("publishedfileid", ""))] = entry
    return [_metadata(steam_id, details.get(steam_id)) for steam_id in ids]


def require_game_items(metas: Sequence[WorkshopMetadata]) -> None:
    """Refuse items Steam knows that belong to another game than settings.STEAM_APP_ID."""
    foreign = [m for m in metas if m.ok and m.consumer_app_id != settings.STEAM_APP_ID]
    if len(foreign) == 1:
        meta = foreign[0]
        raise WorkshopInputError(
            f"workshop item {meta.steam_id} is for another game (app {meta.consumer_app_id}), "
            "not Left 4 Dead 2"
        )
    if foreign:
        named = ", ".join(f"{m.steam_id} (app {m.consumer_app_id})" for m in foreign)
        raise WorkshopInputError(f"workshop items {named} are for other games, not Left 4 Dead 2")


def fetch_collection_children(collection_ids: Sequence[str]) -> list[str]:
    """The item ids of the given collections in collection order, duplicates folded.

    Nested collections are expanded in place, each one once (a loop ends there). An id that is
    not a collection contributes nothing; use :func:`expand_collections` to tell which are.
    """
    expanded = expand_collections(collection_ids)
    return list(dict.fromkeys(item for children in expanded.values() for item in children))


def expand_collections(ids: Sequence[str]) -> dict[str, list[str]]:
    """For each given id that is a collection: its item ids in collection order, nested expanded.

    Ids that are not collections (Steam sends no ``children`` for them) are left out of the
    answer, so the add form can send every entry here and treat the rest as items.
    """
    tree = _collection_tree(ids)
    answer: dict[str, list[str]] = {}
    for steam_id in dict.fromkeys(ids):
        if steam_id in tree:
            answer[steam_id] = list(dict.fromkeys(_walk(steam_id, tree, {steam_id})))
    return answer


def _walk(collection_id: str, tree: dict[str, list[tuple[str, int]]], expanded: set[str]) -> Iterator[str]:
    for child_id, filetype in tree[collection_id]:
        if filetype != FILETYPE_COLLECTION:
            yield child_id
        elif child_id in tree and child_id not in expanded:
            expanded.add(child_id)
            yield from _walk(child_id, tree, expanded)


def _collection_tree(ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """Children (id, filetype) of every collection reachable from ids: one POST per level."""
    tree: dict[str, list[tuple[str, int]]] = {}
    asked: set[str] = set()
    pending = list(dict.fromkeys(ids))
    while pending:
        asked.update(pending)
        level: dict[str, list[tuple[str, int]]] = {}
        for batch in batches(pending):
            level.update(_fetch_children(batch))
        tree.update(level)
        nested = (c for kids in level.values() for c, ftype in kids if ftype == FILETYPE_COLLECTION)
        pending = [c for c in dict.fromkeys(nested) if c not in asked]
    return tree


def _fetch_children(batch: list[str]) -> dict[str, list[tuple[str, int]]]:
    found: dict[str, list[tuple[str, int]]] = {}
    for entry in _post_ids(COLLECTION_DETAILS, "collectioncount", batch).get("collectiondetails") or []:
        children = entry.get("children") if isinstance(entry, dict) else None
        if isinstance(children, list):
            ordered = sorted((c for c in children if isinstance(c, dict)), key=_sortorder)
            found[str(entry.get("publishedfileid", ""))] = [
                (str(c.get("publishedfileid", "")), _int(c.get("filetype"))) for c in ordered
            ]
    return found


def _text(value: Any, limit: int | None = None) -> str:
    """Steam's text as the database can keep it: no NUL characters, cut to the column's size."""
    return str(value or "").replace("\x00", "")[:limit]


def _sortorder(child: dict[str, Any]) -> int:
    return _int(child.get("sortorder"))


def _metadata(steam_id: str, entry: dict[str, Any] | None) -> WorkshopMetadata:
    if entry is None:
        return WorkshopMetadata(steam_id=steam_id, result=0, found=False)
    return WorkshopMetadata(
        steam_id=steam_id,
        title=_text(entry.get("title"), TEXT_MAX),
        filename=_text(entry.get("filename"), TEXT_MAX),
        file_url=_text(entry.get("file_url")),
        file_size=_int(entry.get("file_size")),
        time_updated=_int(entry.get("time_updated")),
        preview_url=_text(entry.get("preview_url")),
        consumer_app_id=_int(entry.get("consumer_app_id")),
        result=_int(entry.get("result")),
    )


def _int(value: Any) -> int:
    """Steam's numbers, whether sent as int or string (file_size became a string in 2024)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def batches(ids: list[str]) -> Iterator[list[str]]:
    """`ids` in runs of at most BATCH_SIZE, the most Steam takes in one request."""
    for start in range(0, len(ids), BATCH_SIZE):
        yield ids[start : start + BATCH_SIZE]


def _post_ids(method: str, count_field: str, ids: list[str]) -> dict[str, Any]:
    form = {count_field: str(len(ids))}
    form.update({f"publishedfileids[{i}]": steam_id for i, steam_id in enumerate(ids)})
    return _post(method, form)


def _post(method: str, form: dict[str, str]) -> dict[str, Any]:
    """The ``response`` object of one API call, or SteamAPIError saying what went wrong."""
    url = f"{settings.STEAM_API_BASE_URL}/ISteamRemoteStorage/{method}/v1/"
    try:
        reply = requests.post(url, data=form, timeout=request_timeout())
    except requests.Timeout as exc:
        raise SteamAPIError(f"{method}: timed out ({exc.__class__.__name__})") from exc
    except requests.RequestException as exc:
        raise SteamAPIError(f"{method}: {exc.__class__.__name__}: {exc}") from exc
    if reply.status_code != 200:
        raise SteamAPIError(f"{method}: HTTP {reply.status_code}")
    return _response_object(method, reply)


def _response_object(method: str, reply: requests.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError as exc:
        raise SteamAPIError(f"{method}: answer is not JSON") from exc
    response = body.get("response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        raise SteamAPIError(f"{method}: answer has no 'response' object")
    return response
