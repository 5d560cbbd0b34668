"""The two Steam Web API calls left4me makes (no API key needed); see steam-api.md for the facts.

Every request goes to ``STEAM_API_BASE_URL`` (so tests and demos can point it at a local
server) through one pooled session per process, with ``timeout=(WORKSHOP_CONNECT_TIMEOUT,
WORKSHOP_READ_TIMEOUT)``. A call is tried up to STEAM_API_ATTEMPTS times when the failure may
pass (network, timeout, HTTP 5xx or 429, an HTML page instead of JSON), with the downloads'
backoff (workshop.retry). A :class:`SteamBudget` bounds the calls and the time one user action
may spend; background jobs pass none. :func:`fetch_metadata_batches` asks for many batches at
once (WORKSHOP_API_CONCURRENCY) and yields each answer as it comes.

Nothing Steam sends is trusted: ids go through :func:`workshop.parsing.steam_id_from_steam`
(an entry with a bad id is skipped), numbers out of range mark the record ``invalid`` and
collections are walked level by level within a depth and a size bound.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from left4me import counters
from workshop.parsing import WorkshopInputError, shown, steam_id_from_steam
from workshop.retry import retry_delay, transient_wait

log = logging.getLogger(__name__)

BATCH_SIZE = 100  # Steam refuses more ids in one request
TEXT_MAX = 255  # WorkshopItem.title and .filename
ITEM_DETAILS = "GetPublishedFileDetails"
COLLECTION_DETAILS = "GetCollectionDetails"
FILETYPE_COLLECTION = 2
ITEM_PAGE = "https://steamcommunity.com/sharedfiles/filedetails/?id={}"
RESULT_OK = 1
RESULT_NOT_FOUND = 9  # deleted, private and unknown ids alike
RESULT_ACCESS_DENIED = 15
# Steam's EResult codes an item answer may carry, as a few words for a person.
RESULT_NAMES = {
    2: "failed",
    3: "no connection",
    8: "invalid id",
    10: "busy",
    11: "invalid state",
    16: "timed out",
    17: "banned",
    19: "invalid id",
    20: "service unavailable",
    24: "insufficient privilege",
    25: "limit exceeded",
    26: "revoked",
    42: "no match",
    84: "rate limited",
}
BIG_NUMBER_LIMIT = 2**63  # file_size, time_updated: 0 <= n < 2**63 (a signed 64-bit column)
SMALL_NUMBER_LIMIT = 2**31  # consumer_app_id, result: 0 <= n < 2**31
_NUMBER_CHARS = 40  # a longer "number" is unreadable, not converted


class SteamAPIError(Exception):
    """The API call itself failed (network, HTTP status, unreadable answer); the message says why.
    ``transient``: every attempt failed in a way that may pass (network, time-out, 5xx, 429, an
    HTML page), so the same call later may succeed; False for an answer Steam would repeat."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class SteamLimitError(SteamAPIError):
    """A :class:`SteamBudget` ran out: too many calls or too long for one user action."""


class CollectionLimitError(SteamAPIError):
    """Collections nest deeper or hold more items than left4me follows."""


# --- the budget of one user action ------------------------------------------------------------


@dataclass
class SteamBudget:
    """How many API calls (each attempt counts) and until when (``time.monotonic()``) one action may
    ask Steam. Thread-safe: calls made at once from several threads are counted one by one."""

    max_calls: int
    deadline: float
    calls: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float = field(init=False)  # deadline - started, as the message says it
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.seconds = round(self.deadline - self.started, 3)

    @classmethod
    def for_add(cls) -> SteamBudget:
        """The budget of one "add workshop items" request: WORKSHOP_ADD_MAX_STEAM_CALLS calls
        within WORKSHOP_ADD_DEADLINE_SECONDS from now."""
        now = time.monotonic()
        seconds = float(settings.WORKSHOP_ADD_DEADLINE_SECONDS)
        return cls(max_calls=int(settings.WORKSHOP_ADD_MAX_STEAM_CALLS), deadline=now + seconds, started=now)

    def spend(self, method: str) -> None:
        """Count one call of ``method`` about to be made; SteamLimitError when none is left."""
        with self._lock:
            if self.calls >= self.max_calls:
                log.warning("steam budget: %s refused, %d calls made already", method, self.calls)
                raise SteamLimitError(f"too many Steam calls: more than {self.max_calls} for one add")
            if self.remaining() <= 0:
                log.warning("steam budget: %s refused, the deadline has passed", method)
                raise self._late()
            self.calls += 1

    def remaining(self) -> float:
        """Seconds left until the deadline (negative once past it)."""
        return self.deadline - time.monotonic()

    def allow_wait(self, seconds: float) -> None:
        """SteamLimitError at once when waiting ``seconds`` would pass the deadline."""
        if seconds >= self.remaining():
            log.warning("steam budget: a %.2f s backoff would pass the deadline", seconds)
            raise self._late()

    def timeout(self, timeout: tuple[float, float]) -> tuple[float, float]:
        """(connect, read) seconds for the next request, none longer than the time that is left."""
        left = max(0.001, self.remaining())
        return (min(timeout[0], left), min(timeout[1], left))

    def _late(self) -> SteamLimitError:
        return SteamLimitError(f"steam did not answer in time: more than {self.seconds:g} s")


# --- records -------------------------------------------------------------------------------------


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
    banned: bool = False
    invalid: str = ""  # "steam sent an invalid file_size" when a number was out of range (then 0)

    @property
    def ok(self) -> bool:
        """Steam knows the item (found, result 1); :attr:`problem` says whether it can be downloaded."""
        return self.found and self.result == RESULT_OK

    @property
    def problem(self) -> str:
        """Why the item cannot be downloaded, in a few words; the empty string when it can."""
        if not self.found:
            return "not returned by steam"
        if self.result == RESULT_NOT_FOUND:
            return "deleted or private"
        if self.result == RESULT_ACCESS_DENIED:
            return "access denied"
        if self.banned:
            return "banned"
        if self.result != RESULT_OK:
            return self.invalid if self.invalid == _invalid("result") else result_text(self.result)
        if self.invalid:
            return self.invalid
        if self.consumer_app_id != settings.STEAM_APP_ID:
            return f"another game (app {self.consumer_app_id})"
        if not self.file_url:
            return "no file"
        return ""


def result_text(result: int) -> str:
    """``steam result 2 (failed)``: an EResult code with its meaning when it has a known one."""
    name = RESULT_NAMES.get(result)
    return f"steam result {result} ({name})" if name else f"steam result {result}"


def item_url(steam_id: str) -> str:
    """The item's (or collection's) page on the Steam Community."""
    return ITEM_PAGE.format(steam_id)


def request_timeout() -> tuple[float, float]:
    """(connect, read) seconds for every request to Steam: the API and the file hosts."""
    return (settings.WORKSHOP_CONNECT_TIMEOUT, settings.WORKSHOP_READ_TIMEOUT)


# --- item details ----------------------------------------------------------------------------------


def fetch_metadata_batch(
    ids: Sequence[str], *, budget: SteamBudget | None = None, pace: Pace | None = None
) -> list[WorkshopMetadata]:
    """One record per id, in the order given; one POST per 100 ids."""
    details: dict[str, dict[str, Any]] = {}
    for batch in batches(list(dict.fromkeys(ids))):
        for entry in _entries(ITEM_DETAILS, _post_ids(ITEM_DETAILS, "itemcount", batch, budget, pace)):
            steam_id = _entry_id(ITEM_DETAILS, entry)
            if steam_id is not None:
                details.setdefault(steam_id, entry)
    return [_metadata(steam_id, details.get(steam_id)) for steam_id in ids]


@dataclass(frozen=True)
class MetadataBatch:
    """One batch of :func:`fetch_metadata_batches`: its ids, and Steam's records or why it failed."""

    number: int  # 1-based, in the order of the ids asked
    total: int  # batches in all
    ids: list[str]
    metas: list[WorkshopMetadata]  # empty when ``error`` is set
    error: SteamAPIError | None = None


STOP_CHECK_SECONDS = 0.5  # how often fetch_metadata_batches asks should_stop() while it waits


def fetch_metadata_batches(
    ids: Sequence[str], *, concurrency: int, should_stop: Callable[[], bool] = lambda: False
) -> Generator[MetadataBatch]:
    """The records of ``ids``, 100 per POST, up to ``concurrency`` POSTs at once on the pooled
    session, yielded batch by batch as Steam answers (in any order).

    At most twice ``concurrency`` batches are asked or answered and not yet taken, so what is held
    stays the same however many ids there are. A batch that fails for good is yielded with its
    error; the others go on. When Steam asks one call to wait (Retry-After), every call waits that
    long (:class:`Pace`). Once ``should_stop()`` says so (asked at least every STOP_CHECK_SECONDS
    while answers are awaited), no batch is asked any more, retries in flight give up at their
    next wait, and the iteration ends; so does it when the caller stops taking batches.
    """
    chunks = list(batches(list(ids)))
    pace = Pace()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="steam-api")
    waiting: dict[Future[list[WorkshopMetadata]], int] = {}
    queue = iter(range(len(chunks)))
    try:
        while True:
            while len(waiting) < 2 * max(1, concurrency) and (index := next(queue, None)) is not None:
                waiting[pool.submit(fetch_metadata_batch, chunks[index], pace=pace)] = index
            if not waiting or should_stop():
                return
            done, _ = wait(waiting, timeout=STOP_CHECK_SECONDS, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=waiting.__getitem__):
                index = waiting.pop(future)
                yield _batch_answer(index, chunks, future)
    finally:
        pace.stop()
        pool.shutdown(wait=False, cancel_futures=True)


def _batch_answer(
    index: int, chunks: list[list[str]], future: Future[list[WorkshopMetadata]]
) -> MetadataBatch:
    try:
        metas = future.result()
    except SteamAPIError as exc:
        return MetadataBatch(index + 1, len(chunks), chunks[index], [], exc)
    return MetadataBatch(index + 1, len(chunks), chunks[index], metas)


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


def _metadata(steam_id: str, entry: dict[str, Any] | None) -> WorkshopMetadata:
    if entry is None:
        return WorkshopMetadata(steam_id=steam_id, result=0, found=False)
    numbers: dict[str, int] = {}
    invalid = ""
    for name, limit in _NUMBER_FIELDS:
        value = _number(entry.get(name))
        if value is None or not 0 <= value < limit:
            log.warning("workshop %s: steam sent an invalid %s: %s", steam_id, name, _shown(entry.get(name)))
            invalid = invalid or _invalid(name)
            value = 0
        numbers[name] = value
    return WorkshopMetadata(
        steam_id=steam_id,
        title=_text(entry.get("title"), TEXT_MAX),
        filename=_text(entry.get("filename"), TEXT_MAX),
        file_url=_text(entry.get("file_url")),
        file_size=numbers["file_size"],
        time_updated=numbers["time_updated"],
        preview_url=_web_url(_text(entry.get("preview_url"))),
        consumer_app_id=numbers["consumer_app_id"],
        result=numbers["result"],
        banned=_flag(entry.get("banned")),
        invalid=invalid,
    )


# Checked in this order; the first bad one names the record's ``invalid``.
_NUMBER_FIELDS = (
    ("result", SMALL_NUMBER_LIMIT),
    ("consumer_app_id", SMALL_NUMBER_LIMIT),
    ("file_size", BIG_NUMBER_LIMIT),
    ("time_updated", BIG_NUMBER_LIMIT),
)


def _web_url(url: str) -> str:
    """`url` when it is an https or http address, else "" (a ``javascript:`` or ``data:`` URL
    must never reach a page's ``<img src>``)."""
    scheme, colon, _rest = url.partition(":")
    return (
        url if colon and scheme.lower() in ("https", "http") and url[len(scheme) :].startswith("://") else ""
    )


def _invalid(name: str) -> str:
    return f"steam sent an invalid {name}"


def _number(value: Any) -> int | None:
    """Steam's numbers, whether sent as int or string (file_size became a string in 2024); a missing
    one is 0, an unreadable one None."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and len(value) <= _NUMBER_CHARS:
        digits = value[1:] if value[:1] in "+-" else value
        if digits.isascii() and digits.isdigit():
            return int(value)
    return None


def _flag(value: Any) -> bool:
    """Steam's 0/1 flags, sent as int, bool or string."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true"}
    return isinstance(value, int) and value != 0


def _text(value: Any, limit: int | None = None) -> str:
    """Steam's text as the database can keep it: no NUL characters, cut to the column's size."""
    return str(value or "").replace("\x00", "")[:limit]


# --- collections ---------------------------------------------------------------------------------


def fetch_collection_children(
    collection_ids: Sequence[str], *, budget: SteamBudget | None = None
) -> list[str]:
    """The item ids of the given collections in collection order, duplicates folded.

    Nested collections are expanded in place, each one once (a loop ends there). An id that is
    not a collection contributes nothing; use :func:`expand_collections` to tell which are.
    Raises CollectionLimitError past the bounds of :func:`expand_collections`.
    """
    expanded = expand_collections(collection_ids, budget=budget)
    return list(dict.fromkeys(item for children in expanded.values() for item in children))


def expand_collections(
    ids: Sequence[str],
    *,
    budget: SteamBudget | None = None,
    max_depth: int | None = None,
    max_children: int | None = None,
    dropped: Callable[[str], object] | None = None,
) -> dict[str, list[str]]:
    """For each given id that is a collection: its item ids in collection order, nested expanded.

    Ids that are not collections (Steam sends no ``children`` for them) are left out of the
    answer, so the add form can send every entry here and treat the rest as items.

    Steam is asked one level at a time (a given collection is level 0), and no more once a bound
    is passed: CollectionLimitError when a collection nests deeper than ``max_depth`` levels
    (default WORKSHOP_COLLECTION_MAX_DEPTH) or the collections hold more than ``max_children``
    distinct children in all, items and nested collections (default WORKSHOP_COLLECTION_MAX_ITEMS).
    A child whose id is not a workshop id is left out, and named to ``dropped`` (a job's log).
    """
    depth_limit = settings.WORKSHOP_COLLECTION_MAX_DEPTH if max_depth is None else max_depth
    size_limit = settings.WORKSHOP_COLLECTION_MAX_ITEMS if max_children is None else max_children
    tree = _collection_tree(ids, budget, depth_limit, size_limit, dropped or _log_dropped)
    return {steam_id: _flatten(steam_id, tree) for steam_id in dict.fromkeys(ids) if steam_id in tree}


Children = list[tuple[str, int]]  # (child id, filetype) in collection order


def _flatten(collection_id: str, tree: dict[str, Children]) -> list[str]:
    """The collection's items, nested collections expanded in place, each once (no recursion)."""
    items: dict[str, None] = {}
    expanded = {collection_id}
    stack = [iter(tree[collection_id])]
    while stack:
        for child_id, filetype in stack[-1]:
            if filetype != FILETYPE_COLLECTION:
                items.setdefault(child_id)
            elif child_id in tree and child_id not in expanded:
                expanded.add(child_id)
                stack.append(iter(tree[child_id]))
                break
        else:
            stack.pop()
    return list(items)


def _collection_tree(
    ids: Sequence[str],
    budget: SteamBudget | None,
    max_depth: int,
    max_children: int,
    dropped: Callable[[str], object],
) -> dict[str, Children]:
    """Children of every collection reachable from ids: one POST per level (per 100 ids)."""
    tree: dict[str, Children] = {}
    root_of = {steam_id: steam_id for steam_id in ids}  # the given collection each one was found in
    children: set[str] = set()
    pending = list(dict.fromkeys(ids))
    depth = 0
    while pending:
        for batch in batches(pending):
            for collection_id, kids in _fetch_children(batch, budget, dropped).items():
                tree[collection_id] = kids
                children.update(child for child, _ in kids)
                if len(children) > max_children:
                    raise CollectionLimitError(f"collections hold more than {max_children} items")
        nested: dict[str, str] = {}  # new collection id -> its root
        for collection_id in pending:
            for child, filetype in tree.get(collection_id, ()):
                if filetype == FILETYPE_COLLECTION and child not in root_of and child not in nested:
                    nested[child] = root_of[collection_id]
        if nested and depth >= max_depth:
            root = next(iter(nested.values()))
            raise CollectionLimitError(f"collection {root} is nested more than {max_depth} levels deep")
        root_of.update(nested)
        pending = list(nested)
        depth += 1
    return tree


def _fetch_children(
    batch: list[str], budget: SteamBudget | None, dropped: Callable[[str], object]
) -> dict[str, Children]:
    """Children of the collections among ``batch``; answers for ids not asked are ignored."""
    asked = set(batch)
    found: dict[str, Children] = {}
    for entry in _entries(
        COLLECTION_DETAILS, _post_ids(COLLECTION_DETAILS, "collectioncount", batch, budget)
    ):
        collection_id = _entry_id(COLLECTION_DETAILS, entry)
        children = entry.get("children")
        if collection_id in asked and collection_id not in found and isinstance(children, list):
            ordered = sorted((c for c in children if isinstance(c, dict)), key=_sortorder)
            found[collection_id] = [
                (child_id, _int(c.get("filetype")))
                for c in ordered
                if (child_id := _child_id(collection_id, c, dropped)) is not None
            ]
    return found


def _child_id(collection_id: str, child: dict[str, Any], dropped: Callable[[str], object]) -> str | None:
    steam_id = steam_id_from_steam(child.get("publishedfileid"))
    if steam_id is None:
        dropped(
            f"collection {collection_id}: left out a child with a bad id: {_shown(child.get('publishedfileid'))}"
        )
    return steam_id


def _log_dropped(text: str) -> None:
    log.warning("%s", text)


def _sortorder(child: dict[str, Any]) -> int:
    return _int(child.get("sortorder"))


def _int(value: Any) -> int:
    """A number that only orders or classifies (sortorder, filetype): 0 when unreadable."""
    number = _number(value)
    return number if number is not None and -BIG_NUMBER_LIMIT <= number < BIG_NUMBER_LIMIT else 0


# --- answers ---------------------------------------------------------------------------------------


def _entries(method: str, response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The entries of an answer's list (``publishedfiledetails`` or ``collectiondetails``)."""
    key = "publishedfiledetails" if method == ITEM_DETAILS else "collectiondetails"
    entries = response.get(key)
    if method == ITEM_DETAILS and not isinstance(entries, list):
        # Not "every id left out": an answer without its list says nothing of the items, and
        # reading it as their removal would wipe a whole batch.
        raise SteamAPIError(f"{method}: answer has no '{key}' list")
    if isinstance(entries, list):
        yield from (entry for entry in entries if isinstance(entry, dict))


def _entry_id(method: str, entry: dict[str, Any]) -> str | None:
    """The entry's ``publishedfileid`` when it is a workshop id; else None, logged."""
    value = entry.get("publishedfileid")
    steam_id = steam_id_from_steam(value)
    if steam_id is None:
        log.warning("%s: skipped an entry with a bad publishedfileid: %s", method, _shown(value))
    return steam_id


def _shown(value: Any) -> str:
    return shown(repr(value))


def batches(ids: list[str]) -> Iterator[list[str]]:
    """`ids` in runs of at most BATCH_SIZE, the most Steam takes in one request."""
    for start in range(0, len(ids), BATCH_SIZE):
        yield ids[start : start + BATCH_SIZE]


# --- requests ------------------------------------------------------------------------------------

_session: requests.Session | None = None
_session_pid = 0
_session_lock = threading.Lock()
_POOL_SIZE = 10  # requests' own default: connections kept per host


def api_session() -> requests.Session:
    """This process's pooled session for the API; a forked process (a Celery worker) makes its own.
    It keeps a connection per concurrent call (WORKSHOP_API_CONCURRENCY) open between calls."""
    global _session, _session_pid
    with _session_lock:
        if _session is None or _session_pid != os.getpid():
            _session, _session_pid = _new_session(), os.getpid()
        return _session


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_maxsize=max(_POOL_SIZE, int(settings.WORKSHOP_API_CONCURRENCY)))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Pace:
    """Shared by the calls one job makes at once: a Retry-After one of them gets holds them all
    (asking again sooner would only earn more 429s and spend their attempts), and ``stop()``
    ends every wait at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0  # time.monotonic() before which no call is sent
        self._stopped = threading.Event()

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait_turn(self, method: str, budget: SteamBudget | None) -> None:
        """Wait out a hold; SteamAPIError once stopped."""
        while (left := self._left()) > 0:
            if budget is not None:
                budget.allow_wait(left)
            self.sleep(method, left)
        if self._stopped.is_set():
            raise SteamAPIError(f"{method}: stopped")

    def sleep(self, method: str, seconds: float) -> None:
        if self._stopped.wait(seconds):
            raise SteamAPIError(f"{method}: stopped")

    def stop(self) -> None:
        self._stopped.set()

    def _left(self) -> float:
        with self._lock:
            return self._until - time.monotonic()


@dataclass(frozen=True)
class _Transient:
    """One attempt failed in a way the next may not: ``why`` for the message, ``detail`` for the log."""

    why: str
    detail: str
    retry_after: float | None = None


def _post_ids(
    method: str, count_field: str, ids: list[str], budget: SteamBudget | None, pace: Pace | None = None
) -> dict[str, Any]:
    form = {count_field: str(len(ids))}
    form.update({f"publishedfileids[{i}]": steam_id for i, steam_id in enumerate(ids)})
    return _post(method, form, budget, pace)


def _post(
    method: str, form: dict[str, str], budget: SteamBudget | None = None, pace: Pace | None = None
) -> dict[str, Any]:
    """The ``response`` object of one API call, tried up to STEAM_API_ATTEMPTS times while the
    failure may pass; else SteamAPIError saying what went wrong (SteamLimitError past the budget)."""
    url = f"{settings.STEAM_API_BASE_URL}/ISteamRemoteStorage/{method}/v1/"
    attempts = max(1, int(settings.STEAM_API_ATTEMPTS))
    counters.count(counters.STEAM_API_CALLS)
    try:
        return _tries(method, url, form, attempts, budget, pace)
    except SteamAPIError:
        counters.count(counters.STEAM_API_FAILURES)
        raise


def _tries(
    method: str,
    url: str,
    form: dict[str, str],
    attempts: int,
    budget: SteamBudget | None,
    pace: Pace | None,
) -> dict[str, Any]:
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            counters.count(counters.STEAM_API_RETRIES)
        if pace is not None:
            pace.wait_turn(method, budget)
        if budget is not None:
            budget.spend(method)
        outcome = _attempt(method, url, form, budget)
        if not isinstance(outcome, _Transient):
            return outcome
        log.warning(
            "%s attempt %d/%d failed: %s (%s)", method, attempt, attempts, outcome.why, outcome.detail
        )
        if attempt == attempts:
            tries = "attempt" if attempts == 1 else "attempts"
            raise SteamAPIError(f"{method}: {outcome.why} after {attempts} {tries}", transient=True)
        delay = retry_delay(attempt, outcome.retry_after)
        if budget is not None:
            budget.allow_wait(delay)
        if pace is None:
            _wait(delay)
        elif outcome.retry_after is not None:
            pace.hold(delay)  # this call waits its turn with the others
        else:
            pace.sleep(method, delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _attempt(
    method: str, url: str, form: dict[str, str], budget: SteamBudget | None
) -> dict[str, Any] | _Transient:
    """One POST: the ``response`` object, a _Transient, or SteamAPIError when trying again is no use."""
    timeout = request_timeout() if budget is None else budget.timeout(request_timeout())
    try:
        reply = api_session().post(url, data=form, timeout=timeout)
    except requests.Timeout as exc:
        return _Transient("timed out", f"{url}: {exc!r}")
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        timed_out = any(isinstance(arg, ReadTimeoutError) for arg in exc.args)
        return _Transient("timed out" if timed_out else "connection failed", f"{url}: {exc!r}")
    except requests.RequestException as exc:
        log.warning("%s failed: %s: %r", method, url, exc)
        raise SteamAPIError(f"{method}: request failed ({exc.__class__.__name__})") from exc
    status = reply.status_code
    after = transient_wait(reply)
    if after is not False:
        return _Transient(f"HTTP {status}", f"{url}: {_body_start(reply)}", after)
    if status != 200:
        log.warning("%s failed: %s: HTTP %d: %s", method, url, status, _body_start(reply))
        raise SteamAPIError(f"{method}: HTTP {status}")
    try:
        body = reply.json()
    except ValueError:
        return _Transient("answer is not JSON", f"{url}: {_body_start(reply)}")
    response = body.get("response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        log.warning("%s failed: %s: no 'response' object in %s", method, url, _body_start(reply))
        raise SteamAPIError(f"{method}: answer has no 'response' object")
    return response


def _body_start(reply: requests.Response) -> str:
    return repr(reply.text[:200])


def _wait(seconds: float) -> None:
    time.sleep(seconds)
