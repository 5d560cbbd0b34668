"""A fake Steam Web API and content server on 127.0.0.1, for tests, benchmarks and demos.

It answers the two API calls left4me makes (``GetPublishedFileDetails/v1`` and
``GetCollectionDetails/v1``) from in-memory dicts, and serves item files at
``/files/<steam_id>`` with ``Range`` support and a generated preview image per item at
``/previews/<steam_id>.svg``. Files are either given as bytes or generated
from a repeating pattern by size, so a 1 GiB item costs no memory. Per-file switches inject
failures (status sequences, truncated bodies, stalls, ``Retry-After``, a request held without an
answer, a body trickled a few bytes at a time; ``range_steps`` for the GETs of one byte range,
``accept_ranges=False`` for a server that answers 200 to ``Range``) and a per-connection
rate limit; counters record every GET (and its ``Range``), the body bytes sent and API POSTs.
API calls can be scripted too, one :class:`ApiStep` per POST (``steam.script_api(502, 502)``:
two failures, then the answer; an HTML error page, a stall, a ``Retry-After``), also only for
the POSTs that ask a given id (``script_api(502, for_id="101")``: whichever batch holds it, in
whatever order batches come); ``api_outage(seconds)`` fails every POST for a while;
``api_latency`` delays every API answer (Steam's round trip), ``api_peak`` is the most POSTs
answered at once, and :meth:`FakeSteam.add_entry` serves any
``publishedfiledetails`` entry as is (result 9 or 15, banned, keys missing, odd types).
``FakeSteam(realistic=True)`` (the standalone server and the browser tests) titles items and
collections like community addons ("Helms Deep Reborn"), picked by id; otherwise an item is
"Item <id>" and a collection "Collection <id>", which the unit tests expect.

In a test::

    with FakeSteam() as steam:
        settings.STEAM_API_BASE_URL = steam.base_url
        steam.add_item("101", size=5 * 2**20, statuses=[503, 503, 200])
        ...
        assert steam.get_count("101") == 3

Standalone, for demos: ``python -m tests.support.fakesteam --port 8765 --items 20 --size 50M``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

PATTERN_PERIOD = 65521  # a prime, so no chunk size lines up with the pattern and hides an offset bug
_PIECE = 2**20
_PATTERN = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(PATTERN_PERIOD // 32 + 1))[
    :PATTERN_PERIOD
]
_PATTERN_RUN = _PATTERN * (
    _PIECE // PATTERN_PERIOD + 2
)  # any _PIECE-long slice starts within the first period
# Pattern files start as an empty VPK (header, then a tree holding nothing), so a build's check
# that a download is a VPK passes for them; the pattern fills the rest.
EMPTY_VPK_HEAD = struct.pack("<III", 0x55AA1234, 1, 1) + b"\x00"
_API_PATH = re.compile(r"^/ISteamRemoteStorage/(GetPublishedFileDetails|GetCollectionDetails)/v1/?$")
_FILE_PATH = re.compile(r"^/files/([0-9A-Za-z_-]+)$")
_PREVIEW_PATH = re.compile(r"^/previews/([0-9A-Za-z_-]+)\.svg$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
API_BATCH_LIMIT = 100


@dataclass
class Step:
    """What the server does for one GET of a file."""

    status: int = 200  # 200 serves the file (206 when a Range was asked); anything else is sent as is
    truncate_after: int | None = None  # body bytes sent before the connection drops
    stall_after: int | None = None  # body bytes sent before the server stalls for stall_seconds
    stall_seconds: float = 0.0  # math.inf: until the server stops
    retry_after: str | None = None  # Retry-After header value
    hold_seconds: float = 0.0  # accept the request and answer nothing this long (math.inf: never)
    trickle_bytes: int | None = None  # send the body this many bytes at a time...
    trickle_seconds: float = 1.0  # ...this long apart
    body: bytes | None = None  # sent instead of the file's bytes (as many), e.g. an error page


@dataclass
class ApiStep:
    """What the server does for one API POST."""

    status: int = 200
    body: str | None = None  # sent instead of the JSON answer, e.g. an HTML error page
    content_type: str = "text/html; charset=utf-8"  # of ``body`` (and of a failure's text)
    retry_after: str | None = None  # Retry-After header value
    stall_seconds: float = 0.0  # wait this long before answering (a client's read timeout)
    # Answer only once the test sets this event (at most 30 s): an order of answers that does
    # not hang on how fast a loaded machine runs the other requests.
    hold: threading.Event | None = None


HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sorry!</title></head><body>"
    "<h1>Sorry!</h1><p>An error was encountered while processing your request:</p>"
    "<h3>Please try again later.</h3></body></html>\n"
)


@dataclass
class FakeFile:
    steam_id: str
    size: int
    data: bytes | None = None  # None: bytes come from the repeating pattern
    steps: list[Step] = field(default_factory=list)  # consumed one per GET
    default: Step = field(default_factory=Step)  # once steps run out
    rate_limit: int | None = None  # bytes/s per connection; None: the server's
    accept_ranges: bool = True
    # Steps for the GETs whose Range starts at a given byte, used before ``steps``: one range
    # of a segmented download can fail while the others do not.
    range_steps: dict[int, list[Step]] = field(default_factory=dict)

    def read(self, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of the file (clipped at its end)."""
        length = max(0, min(length, self.size - start))
        if self.data is not None:
            return self.data[start : start + length]
        pieces = [
            self._pattern(pos, min(_PIECE, start + length - pos))
            for pos in range(start, start + length, _PIECE)
        ]
        body = b"".join(pieces)
        if start < len(EMPTY_VPK_HEAD) and body:
            head = EMPTY_VPK_HEAD[start : start + len(body)]
            body = head + body[len(head) :]
        return body

    def content(self) -> bytes:
        """The whole file: for small files only."""
        return self.read(0, self.size)

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for pos in range(0, self.size, _PIECE):
            digest.update(self.read(pos, _PIECE))
        return digest.hexdigest()

    def next_step(self, range_header: str | None = None) -> Step:
        match = _RANGE.match(range_header or "")
        queue = self.range_steps.get(int(match.group(1))) if match else None
        if queue:
            return queue.pop(0)
        return self.steps.pop(0) if self.steps else self.default

    def _pattern(self, start: int, length: int) -> bytes:
        offset = (start + _seed(self.steam_id)) % PATTERN_PERIOD
        return _PATTERN_RUN[offset : offset + length]


def _seed(steam_id: str) -> int:
    return int(hashlib.sha256(steam_id.encode()).hexdigest()[:8], 16) % PATTERN_PERIOD


class FakeSteam:
    """The server and the state tests configure; a context manager that starts and stops it."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        realistic: bool = False,
        api_latency: float = 0.0,
    ) -> None:
        self.host, self.port, self.rate_limit = host, port, rate_limit
        self.api_latency = api_latency  # seconds before each API answer
        self.realistic = realistic  # community-style titles instead of "Item <id>"
        self.details: dict[str, dict[str, Any]] = {}  # publishedfiledetails entries by id
        self.missing: set[str] = set()  # ids left out of the API answer altogether
        self.collections: dict[str, list[tuple[str, int]]] = {}  # (child id, filetype) in order
        self.files: dict[str, FakeFile] = {}
        self.api_statuses: list[int] = []  # statuses for the next API POSTs, e.g. [503]
        # Scripted API POSTs: by method name, or for any method under None (before api_statuses).
        self.api_steps: dict[str | None, list[ApiStep]] = {}
        # An outage of the API: every POST before this time.monotonic() gets api_outage_status.
        self.api_down_until = 0.0
        self.api_outage_status = 502
        self.api_steps_for_id: dict[str, list[ApiStep]] = {}  # for the POSTs asking that id (first)
        self.gets: Counter[str] = Counter()
        self.range_headers: dict[str, list[str | None]] = {}
        self.sent: Counter[str] = Counter()  # body bytes written to the socket, by file
        self.sending = 0  # file bodies being sent right now...
        self.most_sending = 0  # ...and the most at once since the counters were reset
        self.api_posts: Counter[str] = Counter()  # by method name
        self.api_requests: list[tuple[str, list[str]]] = []
        self.api_times: list[float] = []  # time.monotonic() of each API POST, as api_requests
        self.api_in_flight = 0
        self.api_peak = 0  # most API POSTs being answered at once
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- configuration -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def file_url(self, steam_id: str) -> str:
        return f"{self.base_url}/files/{steam_id}"

    def preview_url(self, steam_id: str) -> str:
        return f"{self.base_url}/previews/{steam_id}.svg"

    def add_item(
        self,
        steam_id: str,
        *,
        size: int | None = None,
        data: bytes | None = None,
        time_updated: int = 1_700_000_000,
        statuses: Sequence[int] = (),
        steps: Sequence[Step] = (),
        default: Step | None = None,
        rate_limit: int | None = None,
        accept_ranges: bool = True,
        range_steps: dict[int, Sequence[Step | int]] | None = None,
        **details: Any,
    ) -> FakeFile:
        """An L4D2 item with its file; ``details`` override fields of its API entry."""
        fake = FakeFile(
            steam_id=steam_id,
            size=len(data) if data is not None else int(size or 0),
            data=data,
            steps=[Step(status=s) for s in statuses] + list(steps),
            default=default or Step(),
            rate_limit=rate_limit,
            accept_ranges=accept_ranges,
            range_steps={
                start: [Step(status=s) if isinstance(s, int) else s for s in steps_]
                for start, steps_ in (range_steps or {}).items()
            },
        )
        with self.lock:
            self.files[steam_id] = fake
            self.details[steam_id] = _item_entry(self, fake, time_updated) | details
        return fake

    def add_collection(self, steam_id: str, children: Iterable[str | tuple[str, int]]) -> None:
        """A collection; a child is an item id or (id, filetype) with filetype 2 for a collection."""
        pairs = [(c, 0) if isinstance(c, str) else (str(c[0]), int(c[1])) for c in children]
        with self.lock:
            self.collections[steam_id] = pairs
            self.details[steam_id] = {
                "publishedfileid": steam_id,
                "result": 1,
                "consumer_app_id": 550,
                "title": collection_title(steam_id) if self.realistic else f"Collection {steam_id}",
                "file_url": "",
                "file_size": "0",
            }

    def add_entry(self, entry: dict[str, Any]) -> None:
        """A ``publishedfiledetails`` entry served as is, keyed by its ``publishedfileid`` (no file):
        ``{"publishedfileid": "9", "result": 15}``, an item without ``file_url``, a string size..."""
        with self.lock:
            self.details[str(entry["publishedfileid"])] = dict(entry)

    def script_api(self, *steps: int | ApiStep, method: str | None = None, for_id: str | None = None) -> None:
        """What the next API POSTs (of ``method``, or of any method; or those asking ``for_id``)
        get, one step each; a bare status is ``ApiStep(status)``, so ``script_api(502, 502)``
        fails twice and then answers."""
        with self.lock:
            if for_id is None:
                queue = self.api_steps.setdefault(method, [])
            else:
                queue = self.api_steps_for_id.setdefault(for_id, [])
            queue.extend(ApiStep(status=s) if isinstance(s, int) else s for s in steps)

    def api_outage(self, seconds: float, status: int = 502) -> None:
        """Every API POST fails with ``status`` for the next ``seconds`` (Steam down for a while)."""
        with self.lock:
            self.api_down_until = time.monotonic() + seconds
            self.api_outage_status = status

    def get_count(self, steam_id: str) -> int:
        with self.lock:
            return self.gets[steam_id]

    @property
    def api_post_count(self) -> int:
        with self.lock:
            return sum(self.api_posts.values())

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until no file body is being sent: the counters then hold every byte a finished or
        dropped response wrote (a client may read the last bytes before they are counted)."""
        deadline = time.monotonic() + timeout
        while self.sending:
            assert time.monotonic() < deadline, "the stand-in is still sending"
            time.sleep(0.01)

    def reset_counters(self) -> None:
        with self.lock:
            self.gets.clear()
            self.range_headers.clear()
            self.sent.clear()
            self.most_sending = self.sending
            self.api_posts.clear()
            self.api_requests.clear()
            self.api_times.clear()
            self.api_peak = self.api_in_flight

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeSteam:
        self.stopping.clear()
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fakesteam", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # ends stalls and rate-limit waits at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSteam:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the handler asks -----------------------------------------------------------------

    def record_get(self, steam_id: str, range_header: str | None) -> tuple[FakeFile | None, Step]:
        with self.lock:
            self.gets[steam_id] += 1
            self.range_headers.setdefault(steam_id, []).append(range_header)
            fake = self.files.get(steam_id)
            return fake, fake.next_step(range_header) if fake else Step(status=404)

    def record_post(self, method: str, ids: list[str]) -> ApiStep:
        with self.lock:
            self.api_posts[method] += 1
            self.api_requests.append((method, ids))
            self.api_times.append(time.monotonic())
            if time.monotonic() < self.api_down_until:
                return ApiStep(status=self.api_outage_status)
            for steam_id in ids:
                if self.api_steps_for_id.get(steam_id):
                    return self.api_steps_for_id[steam_id].pop(0)
            for key in (method, None):
                if self.api_steps.get(key):
                    return self.api_steps[key].pop(0)
            return ApiStep(status=self.api_statuses.pop(0)) if self.api_statuses else ApiStep()

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Counts the API POSTs being answered at once (``api_peak``)."""
        with self.lock:
            self.api_in_flight += 1
            self.api_peak = max(self.api_peak, self.api_in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.api_in_flight -= 1

    def api_answer(self, method: str, ids: list[str]) -> dict[str, Any]:
        with self.lock:
            if method == "GetPublishedFileDetails":
                entries = [self._details_entry(i) for i in ids if i not in self.missing]
                return {
                    "response": {"result": 1, "resultcount": len(entries), "publishedfiledetails": entries}
                }
            entries = [self._collection_entry(i) for i in ids if i not in self.missing]
            count = sum(1 for entry in entries if "children" in entry)
            return {"response": {"result": 1, "resultcount": count, "collectiondetails": entries}}

    def _details_entry(self, steam_id: str) -> dict[str, Any]:
        return dict(self.details.get(steam_id) or {"publishedfileid": steam_id, "result": 9})

    def _collection_entry(self, steam_id: str) -> dict[str, Any]:
        # As Steam does: an id that is not a collection (an item, a dead id) answers result 9 and
        # is not counted in resultcount.
        entry: dict[str, Any] = {
            "publishedfileid": steam_id,
            "result": 1 if steam_id in self.collections else 9,
        }
        if steam_id in self.collections:
            entry["children"] = [
                {"publishedfileid": c, "sortorder": n, "filetype": t}
                for n, (c, t) in enumerate(self.collections[steam_id], start=1)
            ]
        return entry


def _item_entry(steam: FakeSteam, fake: FakeFile, time_updated: int) -> dict[str, Any]:
    sid = fake.steam_id
    return {
        "publishedfileid": sid,
        "result": 1,
        "creator_app_id": 550,
        "consumer_app_id": 550,
        "filename": f"myl4d2addons/item_{sid}.vpk",
        "file_size": str(fake.size),
        "file_url": steam.file_url(sid),
        "preview_url": steam.preview_url(sid),
        "title": item_title(sid) if steam.realistic else f"Item {sid}",
        "time_created": time_updated - 86400,
        "time_updated": time_updated,
    }


# --- looking like the Workshop ------------------------------------------------------------------

# Names in the style of the L4D2 Workshop's campaigns, survival maps and weapon, skin and sound mods.
ITEM_TITLES = (
    "Helms Deep Reborn", "Dead Before Dawn", "Urban Flight", "Arena of the Dead", "Tank Run",
    "Diescraper Redux", "Suicide Blitz 2", "Warcelona", "City 17", "Dark Carnival Remix",
    "I Hate Mountains", "Detour Ahead", "Back to School", "Carried Off", "Haunted Forest",
    "Blood Harvest Extended", "The Bloody Moors", "Energy Crisis", "Death Aboard 2", "No Mercy Rooftop Arena",
    "Precinct 84", "Ravenholm", "Open Road", "Farewell Chenming", "Questionable Ethics",
    "Left Behind Survival", "Roadkill", "Deadly Dam", "Hard Rain: Downpour", "Swamp Fever Remix",
    "M4A1 Carbine Replacement", "AK-47 Worn Wood Skin", "Desert Eagle Chrome", "Tactical Shotgun Remake",
    "Combat Knife Animations", "HD Pipe Bomb", "Better Molotov Flames", "Realistic Gunshot Sounds",
    "Classic Tank Music", "Witch Ambience Overhaul", "Zoey Bomber Jacket", "Ellis Cowboy Hat",
    "Coach Hawaiian Shirt", "Rochelle Survivor Outfit", "HD Common Infected", "Retro HUD",
    "Minimal Crosshair Pack", "Brighter Flashlight", "Dynamic Weather", "Admin System",
)  # fmt: skip
COLLECTION_TITLES = (
    "Campaign Server Essentials", "Versus Night Pack", "Custom Campaigns Vol. 1", "Survival Maps",
    "Weapon Overhaul Collection", "Skins and Sounds",
)  # fmt: skip


def _index(steam_id: str, count: int) -> int:
    """Consecutive numeric ids get consecutive names; anything else a stable hashed one."""
    number = int(steam_id) if steam_id.isdigit() else _seed(steam_id)
    return number % count


def item_title(steam_id: str) -> str:
    return ITEM_TITLES[_index(steam_id, len(ITEM_TITLES))]


def collection_title(steam_id: str) -> str:
    return COLLECTION_TITLES[_index(steam_id, len(COLLECTION_TITLES))]


def preview_svg(steam_id: str, title: str) -> bytes:
    """A 160x90 card in the item's own colours with its initials, as Steam's previews go."""
    digest = hashlib.sha256(steam_id.encode()).digest()
    hue, accent = digest[0] * 360 // 256, digest[1] * 360 // 256
    initials = "".join(word[0] for word in re.findall(r"[A-Za-z0-9]+", title)[:2]).upper() or "?"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="90" viewBox="0 0 160 90">'
        f'<rect width="160" height="90" fill="hsl({hue},55%,32%)"/>'
        f'<circle cx="{40 + digest[2] % 80}" cy="{20 + digest[3] % 50}" r="{30 + digest[4] % 30}" '
        f'fill="hsl({accent},70%,55%)" opacity="0.45"/>'
        '<text x="80" y="58" font-family="sans-serif" font-size="34" font-weight="700" '
        f'text-anchor="middle" fill="#fff">{initials}</text></svg>'
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a stalled response
    allow_reuse_address = True
    request_queue_size = 128
    fake: FakeSteam

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hanging up is routine here
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive like the real API; headers and body go out as separate writes, so without
    # TCP_NODELAY every answer would wait for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        match = _API_PATH.match(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if match is None:
            return self._reply(404, b"not found")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        count_field = "itemcount" if match.group(1) == "GetPublishedFileDetails" else "collectioncount"
        ids = [form.get(f"publishedfileids[{i}]", "") for i in range(int(form.get(count_field) or 0))]
        with self.server.fake.answering():
            self._answer_post(match.group(1), ids)

    def _answer_post(self, method: str, ids: list[str]) -> None:
        fake = self.server.fake
        step = fake.record_post(method, ids)
        waits = (fake.api_latency, step.stall_seconds)
        if any(seconds and fake.stopping.wait(seconds) for seconds in waits) or _held(
            fake.stopping, step.hold
        ):
            self.close_connection = True  # stopping: the client hears so at once
            return None
        if step.status != 200 or step.body is not None:
            text = b"fake failure" if step.body is None else step.body.encode()
            content_type = "text/plain" if step.body is None else step.content_type
            return self._reply(step.status, text, content_type=content_type, retry_after=step.retry_after)
        if len(ids) > API_BATCH_LIMIT:
            return self._reply(400, b"too many ids")
        answer = json.dumps(fake.api_answer(method, ids)).encode()
        self._reply(200, answer, content_type="application/json")

    def do_GET(self) -> None:
        preview = _PREVIEW_PATH.match(self.path)
        if preview is not None:
            return self._send_preview(preview.group(1))
        match = _FILE_PATH.match(self.path)
        if match is None:
            return self._reply(404, b"not found")
        fake, step = self.server.fake.record_get(match.group(1), self.headers.get("Range"))
        if step.hold_seconds and self._hold(step.hold_seconds):
            return None
        if fake is None or step.status != 200:
            return self._reply(step.status, b"fake failure", retry_after=step.retry_after)
        span = _wanted_span(fake, self.headers.get("Range"))
        if span is None:
            return self._reply(416, b"", extra={"Content-Range": f"bytes */{fake.size}"})
        self._send_file(fake, step, *span)

    def _hold(self, seconds: float) -> bool:
        """Say nothing for ``seconds`` (for ever when infinite); True when the server stops first."""
        self.close_connection = True
        return _wait(self.server.fake.stopping, seconds)

    def _send_preview(self, steam_id: str) -> None:
        fake = self.server.fake
        with fake.lock:
            entry = fake.details.get(steam_id)
        if entry is None or steam_id not in fake.files:
            return self._reply(404, b"not found")
        image = preview_svg(steam_id, str(entry.get("title") or steam_id))
        self._reply(200, image, content_type="image/svg+xml", extra={"Cache-Control": "max-age=86400"})

    def _send_file(self, fake: FakeFile, step: Step, start: int, end: int, partial: bool) -> None:
        self.send_response(206 if partial else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if fake.accept_ranges:
            self.send_header("Accept-Ranges", "bytes")
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{fake.size}")
        self.end_headers()
        fake_steam = self.server.fake
        with fake_steam.lock:
            fake_steam.sending += 1
            fake_steam.most_sending = max(fake_steam.most_sending, fake_steam.sending)
        try:
            sent = self._send_body(fake, step, start, end)
        except (BrokenPipeError, ConnectionResetError):
            sent = -1
        finally:
            with fake_steam.lock:
                fake_steam.sending -= 1
        if sent != end - start:
            self.close_connection = True

    def _send_body(self, fake: FakeFile, step: Step, start: int, end: int) -> int:
        stopping = self.server.fake.stopping
        rate = fake.rate_limit or self.server.fake.rate_limit
        limit = end - start if step.truncate_after is None else min(end - start, step.truncate_after)
        chunk = max(1024, rate // 20) if rate else 65536
        if step.trickle_bytes is not None:
            chunk = step.trickle_bytes
        sent, began = 0, time.monotonic()
        while sent < limit:
            if step.trickle_bytes is not None and sent and stopping.wait(step.trickle_seconds):
                return sent
            if (
                step.stall_after is not None
                and sent == step.stall_after
                and _wait(stopping, step.stall_seconds)
            ):
                return sent
            stop_at = step.stall_after if step.stall_after is not None and sent < step.stall_after else limit
            n = min(chunk, limit - sent, stop_at - sent)
            at = start + sent
            self.wfile.write(fake.read(at, n) if step.body is None else step.body[at : at + n])
            sent += n
            with self.server.fake.lock:
                self.server.fake.sent[fake.steam_id] += n
            if rate and sent < limit and stopping.wait(max(0.0, began + sent / rate - time.monotonic())):
                return sent
        return sent

    def _reply(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/plain",
        retry_after: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _wait(stopping: threading.Event, seconds: float) -> bool:
    """Wait ``seconds`` (for ever when infinite); True when the server stops first."""
    return stopping.wait() if seconds == float("inf") else stopping.wait(seconds)


def _held(stopping: threading.Event, hold: threading.Event | None, limit: float = 30.0) -> bool:
    """Wait until ``hold`` is set (or ``limit`` passes); True when the server stops first."""
    deadline = time.monotonic() + limit
    while hold is not None and not hold.wait(0.05) and time.monotonic() < deadline:
        if stopping.is_set():
            return True
    return stopping.is_set()


def _wanted_span(fake: FakeFile, range_header: str | None) -> tuple[int, int, bool] | None:
    """(start, end, partial) to send; None when the Range cannot be satisfied."""
    match = _RANGE.match(range_header or "") if fake.accept_ranges else None
    if match is None:
        return 0, fake.size, False
    start = int(match.group(1))
    end = min(fake.size, int(match.group(2)) + 1) if match.group(2) else fake.size
    return (start, end, True) if start < end else None


# --- standalone ------------------------------------------------------------------------------


def _size(text: str) -> int:
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4096, 50M, 1G)")
    return int(match.group(1)) * units[match.group(2).upper()]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fakesteam", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--items", type=int, default=10, help="number of items (ids from --first-id on)")
    parser.add_argument("--first-id", type=int, default=100_000_001)
    parser.add_argument("--size", type=_size, default=_size("8M"), help="size of each item, e.g. 50M")
    parser.add_argument("--rate", type=_size, default=None, help="per-connection limit in bytes/s, e.g. 5M")
    parser.add_argument("--fail-first", default="", help="statuses each item answers first, e.g. 503,503")
    parser.add_argument("--collection", default="900000001", help="id of a collection holding every item")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    statuses = [int(s) for s in args.fail_first.split(",") if s.strip()]
    steam = FakeSteam(host=args.host, port=args.port, rate_limit=args.rate, realistic=True).start()
    ids = [str(args.first_id + n) for n in range(args.items)]
    for n, steam_id in enumerate(ids):
        steam.add_item(steam_id, size=args.size, statuses=statuses, time_updated=1_700_000_000 + n)
    if args.collection:
        steam.add_collection(args.collection, ids)
    print(
        f"fake Steam at {steam.base_url}  (export STEAM_API_BASE_URL={steam.base_url}"
        f" WORKSHOP_DOWNLOAD_HOSTS={steam.host})"
    )
    print(f"items: {' '.join(ids)}")
    print(
        "titles: "
        + ", ".join(item_title(steam_id) for steam_id in ids[:5])
        + (", ..." if len(ids) > 5 else "")
    )
    print(
        f"collection {args.collection} ({collection_title(args.collection)}): all items"
        if args.collection
        else "no collection"
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        steam.stop()


if __name__ == "__main__":
    main()
