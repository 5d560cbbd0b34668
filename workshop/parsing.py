"""Reading what an owner typed into the "add workshop items" form.

Accepted entries, separated by whitespace, commas or newlines:
- a numeric workshop id (1-20 digits, at most 2**64 - 1, not 0), e.g. ``123456789``;
- a Steam Community link to an item or a collection:
  ``https://steamcommunity.com/sharedfiles/filedetails/?id=N`` or ``.../workshop/filedetails/?id=N``,
  with or without extra query parameters or a ``#fragment``. ``http://``, a ``www.`` host and a
  missing scheme (``steamcommunity.com/sharedfiles/filedetails/?id=N``, as some browsers copy
  the address bar) are accepted too;
- ``.../sharedfiles/filedetails/changelog/N`` (an item's change notes page);
- what the Steam client's "Copy link" gives: ``steam://url/CommunityFilePage/N``, and
  ``steam://openurl/`` or ``steam://openurl_external/`` (as Steam guides write it) followed by
  one of the links above.

A link may come HTML-escaped (``?l=english&amp;id=N``, copied from a page's source) or wrapped
in ``<...>`` (as Discord shows a link it does not preview); an invisible format character (a
zero-width space, a direction mark, a BOM) at either end of an entry is dropped.

Anything else is refused with a :class:`WorkshopInputError` naming the first bad entry.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qs, urlsplit

from django.conf import settings

MAX_STEAM_ID = 2**64 - 1
_SEPARATORS = re.compile(r"[\s,]+")
_DIGITS = re.compile(r"[0-9]{1,20}")
_URL_PATH = re.compile(r"/(?:sharedfiles|workshop)/filedetails/?", re.IGNORECASE)
_CHANGELOG_PATH = re.compile(r"/sharedfiles/filedetails/changelog/([0-9]{1,20})/?", re.IGNORECASE)
_HOSTS = {"steamcommunity.com", "www.steamcommunity.com"}
_STEAM_FILE_PAGE = re.compile(r"steam://url/CommunityFilePage/([0-9]{1,20})/?", re.IGNORECASE)
_STEAM_OPEN_URL = re.compile(r"steam://openurl(?:_external)?/(.+)", re.IGNORECASE)
_SHOWN_CHARS = 60


class WorkshopInputError(ValueError):
    """Input an owner must correct; ``str()`` is the message to show them."""


def parse_workshop_input(text: str, *, max_entries: int | None = None) -> list[str]:
    """The workshop ids in ``text``, in first-seen order, duplicates folded.

    Raises WorkshopInputError for empty input, a bad entry, or more than ``max_entries``
    distinct ids (default ``settings.WORKSHOP_MAX_ENTRIES``).
    """
    limit = settings.WORKSHOP_MAX_ENTRIES if max_entries is None else max_entries
    entries = [entry for raw in _SEPARATORS.split(text or "") if (entry := _visible(raw))]
    if not entries:
        raise WorkshopInputError("enter at least one workshop id or URL")
    ids = list(dict.fromkeys(_entry_to_id(entry) for entry in entries))
    if len(ids) > limit:
        raise WorkshopInputError(f"too many workshop ids: {len(ids)} (at most {limit} at once)")
    return ids


def steam_id_from_steam(value: object) -> str | None:
    """The canonical id for a ``publishedfileid`` in one of Steam's answers, None when it is not one.

    The rule of typed ids: an int or a string of 1-20 decimal digits, 1 <= id <= 2**64 - 1.
    Anything else (paths, signs, exponents, floats, booleans) is not an id.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 < value <= MAX_STEAM_ID else None
    if isinstance(value, str):
        return _numeric_id(value)
    return None


def _visible(entry: str) -> str:
    """`entry` without the invisible format characters (Unicode Cf) at its ends."""
    start, end = 0, len(entry)
    while start < end and unicodedata.category(entry[start]) == "Cf":
        start += 1
    while end > start and unicodedata.category(entry[end - 1]) == "Cf":
        end -= 1
    return entry[start:end]


def _entry_to_id(entry: str) -> str:
    if len(entry) > 2 and entry[0] == "<" and entry[-1] == ">":  # a link as Discord shows it
        steam_id = _id_from_url(entry[1:-1]) or _id_from_steam_link(entry[1:-1])
    else:
        steam_id = _numeric_id(entry) or _id_from_url(entry) or _id_from_steam_link(entry)
    if steam_id is None:
        raise WorkshopInputError(f"not a workshop id or URL: {shown(entry)!r}")
    return steam_id


def _numeric_id(value: str) -> str | None:
    """The canonical id for a plain number (leading zeros dropped), None when out of range."""
    if not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return str(number) if 0 < number <= MAX_STEAM_ID else None


def _id_from_url(entry: str) -> str | None:
    url = entry if "://" in entry else f"https://{entry}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or (parts.hostname or "") not in _HOSTS:
        return None
    values = parse_qs(parts.query.replace("&amp;", "&")).get("id", [])
    changelog = _CHANGELOG_PATH.fullmatch(parts.path)
    if changelog is not None:
        return _numeric_id(changelog.group(1)) if not values else None
    if not _URL_PATH.fullmatch(parts.path):
        return None
    return _numeric_id(values[0]) if len(values) == 1 else None


def _id_from_steam_link(entry: str) -> str | None:
    """``steam://url/CommunityFilePage/N`` or ``steam://openurl[_external]/<a link _id_from_url accepts>``."""
    page = _STEAM_FILE_PAGE.fullmatch(entry)
    if page is not None:
        return _numeric_id(page.group(1))
    opened = _STEAM_OPEN_URL.fullmatch(entry)
    return _id_from_url(opened.group(1)) if opened is not None else None


def shown(text: str) -> str:
    """`text` cut to a length a message can show."""
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
