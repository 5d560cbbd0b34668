"""Segmented downloads: a big item fetched as byte ranges in parallel into one partial file."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.support.fakesteam import FakeFile, FakeSteam
from tests.support.helpers import Hooks, sha256_of
from workshop.cache import partial_path
from workshop.downloads import DownloadCancelled, DownloadFailed, download_many, download_with_retry
from workshop.segments import ConnectionSlots, segments_from_stamp, split
from workshop.steam import WorkshopMetadata

from .test_downloads import leftovers, meta_of

MiB = 2**20


@pytest.fixture(autouse=True)
def segments(fast):
    """Items over 1 MiB come in 4 ranges."""
    fast.WORKSHOP_SEGMENT_MIN_BYTES = MiB
    fast.WORKSHOP_SEGMENTS_PER_ITEM = 4
    return fast


def ranges(size: int, count: int) -> list[str]:
    bounds = [size * n // count for n in range(count + 1)]
    return [f"bytes={a}-{b - 1}" for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("count", [1, 2, 4])
def test_segments_give_the_right_bytes(steam: FakeSteam, cache: Path, segments, count: int) -> None:
    segments.WORKSHOP_SEGMENTS_PER_ITEM = count
    # throttled so that each range takes half a second: they overlap in time, and the most at
    # once is seen even when a loaded machine starts them some way apart
    size = 4 * MiB + 13
    fake = steam.add_item("301", size=size, time_updated=1_700_000_301, rate_limit=2 * size // count)
    progress: list[int] = []

    assert download_with_retry(meta_of(steam, "301"), cache, Hooks(progress=progress)) is True

    path = cache / "301.vpk"
    assert sha256_of(path) == fake.sha256()
    assert int(path.stat().st_mtime) == 1_700_000_301
    assert sum(progress) == fake.size  # every range's bytes count
    expected = [None] if count == 1 else ranges(fake.size, count)
    assert sorted(steam.range_headers["301"], key=str) == sorted(expected, key=str)
    assert steam.most_sending == count
    assert leftovers(cache) == []


def test_a_small_item_is_one_stream(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("302", size=MiB)  # not larger than WORKSHOP_SEGMENT_MIN_BYTES
    download_with_retry(meta_of(steam, "302"), cache)
    assert steam.range_headers["302"] == [None]
    assert sha256_of(cache / "302.vpk") == fake.sha256()


def test_a_server_that_answers_200_to_range_gets_one_stream(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("303", size=4 * MiB, accept_ranges=False)
    lines: list[str] = []

    assert download_with_retry(meta_of(steam, "303"), cache, Hooks(lines=lines)) is True

    assert sha256_of(cache / "303.vpk") == fake.sha256()
    # the first range asked showed it; the others were never asked
    assert steam.range_headers["303"] == [ranges(fake.size, 4)[0], None]
    assert lines == ["workshop 303: the server ignores Range, one stream"]
    assert leftovers(cache) == []


def test_one_range_failing_twice_is_retried_alone(steam: FakeSteam, cache: Path) -> None:
    size = 4 * MiB
    fake = steam.add_item("304", size=size, range_steps={2 * MiB: [503, 503]})
    lines: list[str] = []

    assert download_with_retry(meta_of(steam, "304"), cache, Hooks(lines=lines)) is True

    assert sha256_of(cache / "304.vpk") == fake.sha256()
    third = f"bytes={2 * MiB}-{3 * MiB - 1}"
    assert lines == [
        f"workshop 304 bytes {2 * MiB}-{3 * MiB - 1} attempt 1/3 failed: HTTP 503",
        f"workshop 304 bytes {2 * MiB}-{3 * MiB - 1} attempt 2/3 failed: HTTP 503",
    ]
    asked = steam.range_headers["304"]
    assert asked.count(third) == 3
    assert sorted(set(asked)) == sorted(ranges(size, 4))
    assert len(asked) == 6  # the other ranges once each
    steam.wait_idle()
    assert steam.sent["304"] == size


def test_a_range_failing_for_good_fails_the_item_and_leaves_nothing(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("305", size=8 * MiB, rate_limit=4 * MiB, range_steps={4 * MiB: [404]})
    lines: list[str] = []

    started = time.monotonic()
    with pytest.raises(DownloadFailed, match=r"^HTTP 404$"):
        download_with_retry(meta_of(steam, "305"), cache, Hooks(lines=lines))

    assert time.monotonic() - started < 1.5  # the other ranges (0.5 s each) were stopped
    assert lines[-1] == "workshop 305 attempt 1/3 failed: HTTP 404"
    assert not (cache / "305.vpk").exists()
    assert leftovers(cache) == []


def test_cancel_mid_download_leaves_no_file_under_the_final_name(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("306", size=16 * MiB, rate_limit=2 * MiB)
    received: list[int] = []

    started = time.monotonic()
    with pytest.raises(DownloadCancelled):
        download_with_retry(
            meta_of(steam, "306"), cache, Hooks(progress=received, cancel=lambda: sum(received) >= MiB)
        )

    assert time.monotonic() - started < 2  # the whole file would take 2 s over 4 connections
    assert not (cache / "306.vpk").exists()
    assert leftovers(cache) == []


def test_a_build_shares_its_connections_with_the_ranges(steam: FakeSteam, cache: Path) -> None:
    big = steam.add_item("307", size=4 * MiB, rate_limit=8 * MiB)
    small = steam.add_item("308", size=MiB, rate_limit=2 * MiB)

    outcomes = download_many([meta_of(steam, "308"), meta_of(steam, "307")], cache, concurrency=2)

    assert {sid: o.status for sid, o in outcomes.items()} == {"307": "downloaded", "308": "downloaded"}
    assert steam.most_sending == 2  # never more than the build's concurrency
    assert sha256_of(cache / "307.vpk") == big.sha256()
    assert sha256_of(cache / "308.vpk") == small.sha256()


def test_connection_slots_never_give_more_than_they_have() -> None:
    slots = ConnectionSlots(3)
    slots.hold()
    assert slots.take(4) == 2
    assert slots.take(1) == 0
    slots.give(2)
    assert slots.take(1) == 1


def test_a_sidecar_that_does_not_add_up_is_not_trusted() -> None:
    good = {"segments": [[0, 5, 5], [5, 10, 2]]}
    assert segments_from_stamp(good, 10) is not None
    for rows in (
        [[0, 5, 6], [5, 10, 0]],
        [[0, 4, 0], [5, 10, 0]],
        [[0, 5, 0]],
        [[0, 5, "1"], [5, 10, 0]],
        [],
    ):
        assert segments_from_stamp({"segments": rows}, 10) is None
    assert [(s.start, s.end) for s in split(10)] == [(0, 2), (2, 5), (5, 7), (7, 10)]


KILLED_DOWNLOAD = """
import sys
import django
django.setup()
from pathlib import Path
from workshop.downloads import download_with_retry
from workshop.steam import WorkshopMetadata
meta = WorkshopMetadata(steam_id="309", file_url=sys.argv[2], file_size=int(sys.argv[3]), time_updated=1700000000)
download_with_retry(meta, Path(sys.argv[1]))
"""


def recorded(part: Path, size: int) -> list[tuple[int, int, int]]:
    try:
        stamp = json.loads(Path(f"{part}.json").read_text())
    except (OSError, ValueError):
        return []
    found = segments_from_stamp(stamp, size) or []
    return [(s.start, s.end, s.done) for s in found]


def test_a_killed_download_resumes_only_the_missing_ranges(steam: FakeSteam, cache: Path) -> None:
    fake: FakeFile = steam.add_item("309", size=8 * MiB, rate_limit=2 * MiB)  # 1 s per range
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="left4me.settings",
        WORKSHOP_DOWNLOAD_HOSTS="127.0.0.1",
        WORKSHOP_SEGMENT_MIN_BYTES=str(MiB),
        WORKSHOP_SEGMENTS_PER_ITEM="4",
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_DOWNLOAD, str(cache), steam.file_url("309"), str(fake.size)],
        cwd=django_settings.BASE_DIR,
        env=env,
    )
    part = partial_path(cache, "309")
    try:
        deadline = time.monotonic() + 20
        while not all(done >= MiB // 4 for _, _, done in recorded(part, fake.size) or [(0, 0, 0)]):
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.02)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    steam.wait_idle()  # the server notices the dead connections
    kept = recorded(part, fake.size)
    assert all(0 < done < end - start for start, end, done in kept)
    steam.reset_counters()
    lines: list[str] = []

    meta = WorkshopMetadata(
        steam_id="309", file_url=steam.file_url("309"), file_size=fake.size, time_updated=1_700_000_000
    )
    assert download_with_retry(meta, cache, Hooks(lines=lines)) is True
    steam.wait_idle()

    assert sorted(steam.range_headers["309"]) == sorted(f"bytes={s + d}-{e - 1}" for s, e, d in kept)
    assert steam.sent["309"] == sum(e - s - d for s, e, d in kept)  # nothing fetched twice
    assert sha256_of(cache / "309.vpk") == fake.sha256()
    assert lines == []
    assert leftovers(cache) == []
