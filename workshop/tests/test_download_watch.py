"""Every download attempt ends: a stall, the deadline and a cancel cut it short whatever the
server does (answers nothing, trickles, stops mid-body)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.fakesteam import FakeSteam, Step
from workshop import watch
from workshop.downloads import DownloadCancelled, DownloadFailed, download_with_retry
from workshop.steam import WorkshopMetadata
from workshop.watch import AttemptWatch, Trip, attempt_deadline

KiB = 2**10
CANCEL_WITHIN = 2.0


@pytest.fixture
def steam(settings):
    settings.WORKSHOP_CONNECT_TIMEOUT = 2.0
    settings.WORKSHOP_READ_TIMEOUT = 60.0  # only the watch may end these attempts
    with FakeSteam() as server:
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "workshop_cache"


def meta_of(steam: FakeSteam, steam_id: str) -> WorkshopMetadata:
    fake = steam.files[steam_id]
    return WorkshopMetadata(
        steam_id=steam_id, file_url=steam.file_url(steam_id), file_size=fake.size, time_updated=1_700_000_000
    )


@dataclass
class TimedHooks:
    """DownloadHooks that note when each line came; a cancel is seen as a job sees it (the job
    row is read at most every 0.5 s, jobs.runner.CANCEL_CHECK_INTERVAL)."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    lines: list[tuple[float, str]] = field(default_factory=list)
    received: int = 0
    _seen: bool = False
    _looked_at: float = -math.inf

    def should_cancel(self) -> bool:
        now = time.monotonic()
        if not self._seen and now - self._looked_at >= 0.5:
            self._looked_at, self._seen = now, self.cancelled.is_set()
        return self._seen

    def add_bytes(self, n: int) -> None:
        self.received += n

    def log_stderr(self, text: str) -> None:
        self.lines.append((time.monotonic(), text))


# --- a stall ------------------------------------------------------------------------------------


def test_a_trickle_fails_as_stalled_within_its_window_and_the_next_attempt_resumes(
    steam: FakeSteam, cache: Path, settings
) -> None:
    settings.WORKSHOP_MIN_BYTES_PER_SECOND = 64 * KiB
    settings.WORKSHOP_STALL_SECONDS = 1
    # 1 KiB every 0.1 s: 10 KiB/s, far under 64 KiB/s; the second GET gets the rest at full speed
    fake = steam.add_item("201", size=512 * KiB, steps=[Step(trickle_bytes=KiB, trickle_seconds=0.1)])
    hooks = TimedHooks()

    began = time.monotonic()
    assert download_with_retry(meta_of(steam, "201"), cache, hooks) is True

    [(failed_at, line)] = hooks.lines
    assert line == "workshop 201 attempt 1/3 failed: stalled: under 64.0 KiB/s for 1 s"
    assert 1.0 <= failed_at - began <= 1.0 + 2 * watch.WATCH_INTERVAL + 0.3
    resumed_from = int(steam.range_headers["201"][1].removeprefix("bytes=").rstrip("-"))
    assert 5 * KiB <= resumed_from <= 15 * KiB  # what trickled in that second was kept
    assert (cache / "201.vpk").read_bytes() == fake.content()


def test_a_server_stopping_mid_body_fails_as_stalled_not_after_the_read_timeout(
    steam: FakeSteam, cache: Path, settings
) -> None:
    settings.WORKSHOP_STALL_SECONDS = 1
    settings.WORKSHOP_DOWNLOAD_ATTEMPTS = 1
    steam.add_item("202", size=2 * 2**20, steps=[Step(stall_after=2**20, stall_seconds=60)])
    hooks = TimedHooks()

    began = time.monotonic()
    with pytest.raises(DownloadFailed, match=r"^stalled: under 32\.0 KiB/s for 1 s$"):
        download_with_retry(meta_of(steam, "202"), cache, hooks)

    assert time.monotonic() - began < 2.0  # the read timeout is 60 s
    assert hooks.received == 2**20


def test_waiting_for_headers_counts_as_a_stall(steam: FakeSteam, cache: Path, settings) -> None:
    settings.WORKSHOP_STALL_SECONDS = 1
    steam.add_item("203", size=100 * KiB, steps=[Step(hold_seconds=math.inf)])
    hooks = TimedHooks()

    assert download_with_retry(meta_of(steam, "203"), cache, hooks) is True

    assert [line for _at, line in hooks.lines] == [
        "workshop 203 attempt 1/3 failed: stalled: under 32.0 KiB/s for 1 s"
    ]
    assert steam.get_count("203") == 2


def test_a_slow_download_above_the_least_rate_is_left_alone(steam: FakeSteam, cache: Path, settings) -> None:
    settings.WORKSHOP_MIN_BYTES_PER_SECOND = 32 * KiB
    settings.WORKSHOP_STALL_SECONDS = 1
    fake = steam.add_item("204", size=200 * KiB, rate_limit=80 * KiB)  # 2.5 s, always above
    hooks = TimedHooks()

    assert download_with_retry(meta_of(steam, "204"), cache, hooks) is True

    assert hooks.lines == []
    assert steam.get_count("204") == 1
    assert (cache / "204.vpk").read_bytes() == fake.content()


# --- the deadline -------------------------------------------------------------------------------


def test_the_deadline_follows_from_the_size(settings) -> None:
    settings.WORKSHOP_CONNECT_TIMEOUT = 10.0
    settings.WORKSHOP_MIN_BYTES_PER_SECOND = 32 * KiB
    settings.WORKSHOP_STALL_SECONDS = 30
    assert attempt_deadline(100 * 2**20) == 10 + 3200 + 30 + watch.DEADLINE_GRACE_SECONDS
    assert attempt_deadline(0) == 10 + 30 + watch.DEADLINE_GRACE_SECONDS


def test_an_attempt_past_its_deadline_ends_even_while_bytes_flow(
    steam: FakeSteam, cache: Path, settings, monkeypatch
) -> None:
    settings.WORKSHOP_MIN_BYTES_PER_SECOND = KiB
    settings.WORKSHOP_STALL_SECONDS = 1
    settings.WORKSHOP_DOWNLOAD_ATTEMPTS = 1
    monkeypatch.setattr(watch, "attempt_deadline", lambda _bytes: 1.0)
    steam.add_item("205", size=2 * 2**20, rate_limit=64 * KiB)  # steady, 32 s in all
    hooks = TimedHooks()

    began = time.monotonic()
    with pytest.raises(DownloadFailed, match=r"^deadline passed: \d+ of 2097152 bytes in 1 s$"):
        download_with_retry(meta_of(steam, "205"), cache, hooks)

    assert 1.0 <= time.monotonic() - began < 1.0 + 2 * watch.WATCH_INTERVAL + 0.3
    assert 32 * KiB < hooks.received < 128 * KiB


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_watch_measures_over_a_sliding_window(settings) -> None:
    settings.WORKSHOP_MIN_BYTES_PER_SECOND = 100
    settings.WORKSHOP_STALL_SECONDS = 10
    clock = Clock()
    attempt = AttemptWatch(should_cancel=lambda: False, bytes_to_fetch=100_000, clock=clock)
    for _second in range(30):  # 1000 bytes in each of the first 30 s: above 100/s
        clock.now += 1
        attempt.add_bytes(1000)
        assert attempt.check() is None
    for _second in range(9):  # then nothing: the last 10 s still hold 1000 bytes...
        clock.now += 1
        assert attempt.check() is None
    clock.now += 1.5  # ...until they do not
    assert attempt.check() == Trip(False, "stalled: under 100 bytes/s for 10 s")


def test_an_item_smaller_than_a_window_at_the_least_rate_must_finish_within_it(settings) -> None:
    settings.WORKSHOP_MIN_BYTES_PER_SECOND = 32 * KiB
    settings.WORKSHOP_STALL_SECONDS = 30
    clock = Clock()
    attempt = AttemptWatch(should_cancel=lambda: False, bytes_to_fetch=10 * KiB, clock=clock)
    clock.now += 29
    attempt.add_bytes(9 * KiB)
    assert attempt.check() is None
    clock.now += 1.5
    assert attempt.check() == Trip(False, "stalled: under 32.0 KiB/s for 30 s")


# --- cancel -------------------------------------------------------------------------------------

FAULTS = {
    "headers never come": Step(hold_seconds=math.inf),
    "a trickle": Step(trickle_bytes=64, trickle_seconds=0.5),
    "a stall mid-body": Step(stall_after=256 * KiB, stall_seconds=math.inf),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_cancel_ends_the_download_within_two_seconds(steam: FakeSteam, cache: Path, settings, fault) -> None:
    # The default window and rate: only a cancel can end these attempts within the test.
    steam.add_item("206", size=2**20, default=fault)
    hooks = TimedHooks()
    ended: list[object] = []

    def download() -> None:
        try:
            download_with_retry(meta_of(steam, "206"), cache, hooks)
        except Exception as exc:
            ended.append(exc)

    thread = threading.Thread(target=download)
    thread.start()
    time.sleep(1.37)  # well into the fault (off the beat of the polls)
    assert thread.is_alive() and steam.get_count("206") == 1
    cancelled_at = time.monotonic()
    hooks.cancelled.set()
    thread.join(timeout=10)

    elapsed = time.monotonic() - cancelled_at
    assert not thread.is_alive()
    assert [type(exc) for exc in ended] == [DownloadCancelled]
    assert elapsed <= CANCEL_WITHIN, elapsed
    assert not (cache / "206.vpk").exists()
    assert list(cache.glob(".*.part*")) == []  # a cancelled download leaves nothing behind
