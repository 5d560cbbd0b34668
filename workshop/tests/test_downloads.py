from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.support.fakesteam import FakeSteam, Step
from tests.support.helpers import Hooks
from tests.support.vpkfiles import vpk_holding
from workshop import downloads
from workshop.cache import cache_path, is_cached, partial_path
from workshop.downloads import (
    DownloadCancelled,
    DownloadFailed,
    DownloadOutcome,
    DownloadStatus,
    download_many,
    download_to_cache,
    download_with_retry,
    item_lock,
    retry_delay,
)
from workshop.steam import WorkshopMetadata, fetch_metadata_batch

MiB = 2**20


@pytest.fixture
def steam(fast):
    with FakeSteam() as server:
        fast.STEAM_API_BASE_URL = server.base_url
        yield server


def meta_of(steam: FakeSteam, steam_id: str) -> WorkshopMetadata:
    entry = steam.details[steam_id]
    return WorkshopMetadata(
        steam_id=steam_id,
        file_url=entry["file_url"],
        file_size=int(entry["file_size"]),
        time_updated=int(entry["time_updated"]),
        consumer_app_id=550,
        result=1,
    )


def leftovers(cache: Path) -> list[str]:
    """Files in the cache other than complete items and lock files."""
    return sorted(
        p.name
        for p in cache.iterdir()
        if p.name not in (".locks", "versions") and not p.name.endswith(".vpk")
    )


def test_download_streams_into_place_with_mtime_and_no_leftovers(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("101", size=3 * MiB + 17, time_updated=1_700_000_123)
    progress: list[int] = []

    assert download_with_retry(meta_of(steam, "101"), cache, Hooks(progress=progress)) is True

    path = cache / "101.vpk"
    assert path.read_bytes() == fake.content()
    assert int(path.stat().st_mtime) == 1_700_000_123
    assert sum(progress) == fake.size
    assert steam.get_count("101") == 1
    assert steam.range_headers["101"] == [None]
    assert leftovers(cache) == []
    assert is_cached(meta_of(steam, "101"), cache)


def test_metadata_from_the_api_feeds_the_download(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("102", data=vpk_holding(b"vpk bytes" * 1000), time_updated=1_700_000_500)
    (meta,) = fetch_metadata_batch(["102"])
    assert download_to_cache(meta, cache) == cache / "102.vpk"
    assert (cache / "102.vpk").read_bytes() == fake.content()


def test_already_cached_makes_no_request(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("103", size=100_000)
    meta = meta_of(steam, "103")
    download_with_retry(meta, cache)
    steam.reset_counters()

    assert download_with_retry(meta, cache) is False
    assert download_to_cache(meta, cache) == cache / "103.vpk"
    assert download_many([meta], cache) == {"103": DownloadOutcome(DownloadStatus.CACHED)}
    assert steam.get_count("103") == 0


@pytest.mark.parametrize("change", ["time_updated", "size"])
def test_stale_file_is_downloaded_again(steam: FakeSteam, cache: Path, change: str) -> None:
    steam.add_item("104", data=vpk_holding(b"old" * 1000), time_updated=1_600_000_000)
    download_with_retry(meta_of(steam, "104"), cache)
    new_data = vpk_holding(b"new" * 1000 if change == "time_updated" else b"newer" * 1000)
    fake = steam.add_item("104", data=new_data, time_updated=1_700_000_000)

    assert download_with_retry(meta_of(steam, "104"), cache) is True

    path = cache / "104.vpk"
    assert path.read_bytes() == fake.content()
    assert int(path.stat().st_mtime) == 1_700_000_000
    assert steam.get_count("104") == 2


def test_truncated_body_is_retried_then_fails_with_attempt_lines(steam: FakeSteam, cache: Path) -> None:
    # each GET drops the connection after 1 MiB + 1000 bytes: every byte that came is kept
    cut = MiB + 1000
    steam.add_item("105", size=5 * MiB, default=Step(truncate_after=cut))
    lines: list[str] = []

    with pytest.raises(DownloadFailed) as caught:
        download_with_retry(meta_of(steam, "105"), cache, Hooks(lines=lines))

    assert str(caught.value) == f"short body: got {3 * cut} of {5 * MiB} bytes"
    assert type(caught.value) is DownloadFailed
    assert lines == [
        f"workshop 105 attempt 1/3 failed: short body: got {cut} of {5 * MiB} bytes",
        f"workshop 105 attempt 2/3 failed: short body: got {2 * cut} of {5 * MiB} bytes",
        f"workshop 105 attempt 3/3 failed: short body: got {3 * cut} of {5 * MiB} bytes",
    ]
    # each retry resumed where the last one stopped
    assert steam.range_headers["105"] == [None, f"bytes={cut}-", f"bytes={2 * cut}-"]
    assert not (cache / "105.vpk").exists()
    assert leftovers(cache) == []  # giving up leaves no partial behind


def test_503_twice_then_200_succeeds_with_two_attempt_lines(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("106", size=200_000, statuses=[503, 503, 200])
    lines: list[str] = []

    assert download_with_retry(meta_of(steam, "106"), cache, Hooks(lines=lines)) is True

    assert lines == [
        "workshop 106 attempt 1/3 failed: HTTP 503",
        "workshop 106 attempt 2/3 failed: HTTP 503",
    ]
    assert (cache / "106.vpk").read_bytes() == fake.content()
    assert steam.get_count("106") == 3


def test_attempts_setting_and_argument(steam: FakeSteam, cache: Path, fast) -> None:
    steam.add_item("107", size=1000, statuses=[500] * 10)
    fast.WORKSHOP_DOWNLOAD_ATTEMPTS = 2
    lines: list[str] = []
    with pytest.raises(DownloadFailed, match=r"^HTTP 500$"):
        download_with_retry(meta_of(steam, "107"), cache, Hooks(lines=lines))
    assert lines[-1] == "workshop 107 attempt 2/2 failed: HTTP 500"
    with pytest.raises(DownloadFailed):
        download_with_retry(meta_of(steam, "107"), cache, attempts=4)
    assert steam.get_count("107") == 6


def test_429_retry_after_is_honoured(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("108", size=1000, steps=[Step(429, retry_after="1")])
    lines: list[str] = []

    started = time.monotonic()
    assert download_with_retry(meta_of(steam, "108"), cache, Hooks(lines=lines)) is True

    assert time.monotonic() - started >= 0.95
    assert lines == ["workshop 108 attempt 1/3 failed: HTTP 429"]
    assert steam.get_count("108") == 2


def test_retry_after_is_capped_and_backoff_is_celerys(fast) -> None:
    fast.WORKSHOP_RETRY_BACKOFF_MAX = 5.0
    assert retry_delay(1, retry_after=3600) == 5.0
    assert retry_delay(1, retry_after=0.5) == 0.5
    fast.WORKSHOP_RETRY_BACKOFF = 1.0
    delays = [retry_delay(3) for _ in range(200)]
    assert all(0 <= d <= 4.0 for d in delays)  # full jitter in [0, 1 * 2**2]
    assert len(set(delays)) > 20
    assert all(retry_delay(30) <= 5.0 for _ in range(20))


def test_retry_after_as_http_date(steam: FakeSteam, cache: Path, fast) -> None:
    fast.WORKSHOP_RETRY_BACKOFF = 100.0  # only the date can make this quick
    steam.add_item("109", size=16, steps=[Step(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")])
    started = time.monotonic()
    assert download_with_retry(meta_of(steam, "109"), cache) is True
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("status", [404, 403, 410])
def test_permanent_status_makes_one_request_only(steam: FakeSteam, cache: Path, status: int) -> None:
    steam.add_item("110", size=1000, default=Step(status))
    lines: list[str] = []

    with pytest.raises(DownloadFailed) as caught:
        download_with_retry(meta_of(steam, "110"), cache, Hooks(lines=lines))

    assert str(caught.value) == f"HTTP {status}"
    assert lines == [f"workshop 110 attempt 1/3 failed: HTTP {status}"]
    assert steam.get_count("110") == 1
    assert leftovers(cache) == []


def test_resume_from_a_partial_sends_range_and_gives_the_right_bytes(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("111", size=3 * MiB + 5, steps=[Step(truncate_after=2 * MiB + 99)])
    meta = meta_of(steam, "111")
    # One bare attempt stands for a process killed mid-download: its partial stays behind.
    with pytest.raises(DownloadFailed):
        download_to_cache(meta, cache)
    assert partial_path(cache, "111").stat().st_size == 2 * MiB + 99
    progress: list[int] = []

    assert download_with_retry(meta, cache, Hooks(progress=progress)) is True

    assert steam.range_headers["111"] == [None, f"bytes={2 * MiB + 99}-"]
    assert (cache / "111.vpk").read_bytes() == fake.content()
    assert sum(progress) == MiB - 94
    assert leftovers(cache) == []


def test_partial_of_another_upload_is_discarded(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("112", size=500_000, time_updated=1_700_000_002)
    cache.mkdir()
    partial_path(cache, "112").write_bytes(b"x" * 1000)
    stamp = {"time_updated": 1_700_000_001, "file_size": 500_000}
    Path(f"{partial_path(cache, '112')}.json").write_text(json.dumps(stamp))

    download_with_retry(meta_of(steam, "112"), cache)

    assert steam.range_headers["112"] == [None]
    assert (cache / "112.vpk").read_bytes() == fake.content()


def test_server_ignoring_range_starts_over(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("113", size=3 * MiB, accept_ranges=False, steps=[Step(truncate_after=MiB + 1)])
    lines: list[str] = []

    assert download_with_retry(meta_of(steam, "113"), cache, Hooks(lines=lines)) is True

    assert lines == [f"workshop 113 attempt 1/3 failed: short body: got {MiB + 1} of {fake.size} bytes"]
    assert steam.range_headers["113"] == [None, f"bytes={MiB + 1}-"]
    assert (cache / "113.vpk").read_bytes() == fake.content()


def test_read_timeout_is_retried_and_resumed(steam: FakeSteam, cache: Path, fast) -> None:
    fast.WORKSHOP_READ_TIMEOUT = 0.3
    fake = steam.add_item("114", size=2 * MiB, steps=[Step(stall_after=MiB, stall_seconds=5)])
    lines: list[str] = []

    assert download_with_retry(meta_of(steam, "114"), cache, Hooks(lines=lines)) is True

    assert lines == [f"workshop 114 attempt 1/3 failed: read timeout after {MiB} of {fake.size} bytes"]
    assert steam.range_headers["114"] == [None, f"bytes={MiB}-"]
    assert (cache / "114.vpk").read_bytes() == fake.content()


def test_connection_refused_is_transient(cache: Path, fast) -> None:
    meta = WorkshopMetadata(
        steam_id="115", file_url="http://127.0.0.1:9/files/115", file_size=10, time_updated=1
    )
    lines: list[str] = []
    with pytest.raises(DownloadFailed, match=r"^connection error: Connection refused$"):
        download_with_retry(meta, cache, Hooks(lines=lines))
    assert len(lines) == 3


def test_body_longer_than_steam_says_is_refused_without_retry(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("116", size=5000, file_size="4000")
    lines: list[str] = []

    with pytest.raises(DownloadFailed, match=r"^size mismatch: server has 5000 bytes, Steam says 4000$"):
        download_with_retry(meta_of(steam, "116"), cache, Hooks(lines=lines))

    assert steam.get_count("116") == 1
    assert not (cache / "116.vpk").exists()
    assert leftovers(cache) == []


def test_cancel_mid_stream_keeps_the_previous_complete_file(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("117", data=vpk_holding(b"old complete file"), time_updated=1_600_000_000)
    download_with_retry(meta_of(steam, "117"), cache)
    steam.add_item("117", size=8 * MiB, time_updated=1_700_000_000, rate_limit=2 * MiB)
    received: list[int] = []

    started = time.monotonic()
    with pytest.raises(DownloadCancelled):
        download_with_retry(
            meta_of(steam, "117"),
            cache,
            Hooks(progress=received, cancel=lambda: sum(received) >= MiB),
        )

    assert time.monotonic() - started < 2  # the whole file would take 4 s
    path = cache / "117.vpk"
    assert path.read_bytes() == vpk_holding(b"old complete file")
    assert int(path.stat().st_mtime) == 1_600_000_000
    assert leftovers(cache) == []  # the cancelled partial is gone too


def test_cancel_of_a_new_item_leaves_no_file_under_the_final_name(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("118", size=2 * MiB)
    received: list[int] = []
    with pytest.raises(DownloadCancelled):
        download_to_cache(
            meta_of(steam, "118"), cache, Hooks(progress=received, cancel=lambda: bool(received))
        )
    assert not (cache / "118.vpk").exists()


def test_cancel_during_backoff_stops_at_once(steam: FakeSteam, cache: Path, fast) -> None:
    fast.WORKSHOP_RETRY_BACKOFF = 60.0
    fast.WORKSHOP_RETRY_BACKOFF_MAX = 60.0
    steam.add_item("119", size=16, steps=[Step(503, retry_after="60")])
    cancel_at = time.monotonic() + 0.3

    with pytest.raises(DownloadCancelled):
        download_with_retry(meta_of(steam, "119"), cache, Hooks(cancel=lambda: time.monotonic() > cancel_at))

    assert time.monotonic() - cancel_at < 0.5
    assert steam.get_count("119") == 1


def test_two_concurrent_downloads_of_one_item_make_one_get(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("120", size=2 * MiB, rate_limit=4 * MiB)
    meta = meta_of(steam, "120")
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(download_with_retry(meta, cache))) for _ in range(2)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [False, True]
    assert steam.get_count("120") == 1
    assert (cache / "120.vpk").read_bytes() == fake.content()


def test_cancel_while_another_download_holds_the_item(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("122", size=16)
    cancel_at = time.monotonic() + 0.3
    with item_lock(cache, "122"), pytest.raises(DownloadCancelled):
        download_with_retry(meta_of(steam, "122"), cache, Hooks(cancel=lambda: time.monotonic() > cancel_at))
    assert time.monotonic() - cancel_at < 0.5
    assert steam.get_count("122") == 0


LOCK_HOLDER = """
import sys, time
from workshop.downloads import item_lock
with item_lock(sys.argv[1], "123"):
    print("held", flush=True)
    time.sleep(0.6)
"""


def test_the_item_lock_holds_across_processes(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("123", size=16)
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(cache)],
        cwd=django_settings.BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert download_with_retry(meta_of(steam, "123"), cache) is True
        assert time.monotonic() - started > 0.3
    finally:
        holder.wait(timeout=10)


def test_disk_full_fails_without_retry_and_removes_the_partial(
    steam: FakeSteam, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steam.add_item("121", size=3 * MiB)
    writes: list[int] = []

    def write_then_fill_up(fd: int, data: memoryview, position: int) -> None:
        if writes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        writes.append(len(data))
        os.pwrite(fd, data, position)

    monkeypatch.setattr(downloads, "_write", write_then_fill_up)
    lines: list[str] = []

    with pytest.raises(DownloadFailed, match=r"^no space left on device$"):
        download_with_retry(meta_of(steam, "121"), cache, Hooks(lines=lines))

    assert lines == ["workshop 121 attempt 1/3 failed: no space left on device"]
    assert steam.get_count("121") == 1
    assert leftovers(cache) == []
    assert not cache_path(cache, "121").exists()


def test_download_many_reports_every_outcome(steam: FakeSteam, cache: Path, fast) -> None:
    fast.WORKSHOP_DOWNLOAD_CONCURRENCY = 3
    for steam_id in ("131", "132", "133"):
        steam.add_item(steam_id, size=2 * MiB, rate_limit=4 * MiB)
    steam.add_item("134", size=16)
    steam.add_item("135", size=16, default=Step(404))
    download_with_retry(meta_of(steam, "134"), cache)
    no_url = WorkshopMetadata(steam_id="136", result=9)
    metas = [meta_of(steam, i) for i in ("131", "132", "133", "134", "135", "131")] + [no_url]
    lines: list[str] = []
    progress: list[int] = []
    ended: list[tuple[str, str]] = []

    started = time.monotonic()
    outcomes = download_many(
        metas,
        cache,
        Hooks(lines=lines, progress=progress),
        on_item_done=lambda sid, outcome: ended.append((sid, outcome.status)),
    )

    assert time.monotonic() - started < 1.45  # one after another they take at least 1.5 s
    assert outcomes == {
        "131": DownloadOutcome("downloaded"),
        "132": DownloadOutcome("downloaded"),
        "133": DownloadOutcome("downloaded"),
        "134": DownloadOutcome("cached"),
        "135": DownloadOutcome("failed", "HTTP 404"),
        "136": DownloadOutcome("skipped", "no file_url"),
    }
    assert lines == ["workshop 135 attempt 1/3 failed: HTTP 404"]
    assert sum(progress) == 6 * MiB
    assert sorted(ended) == sorted((sid, o.status) for sid, o in outcomes.items())
    assert steam.get_count("131") == 1


def test_download_many_after_cancel_downloads_nothing(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("141", size=16)
    outcomes = download_many([meta_of(steam, "141")], cache, Hooks(cancel=lambda: True))
    assert outcomes == {"141": DownloadOutcome("cancelled")}
    assert steam.get_count("141") == 0


def test_download_many_watches_each_item_through_its_own_hooks(steam: FakeSteam, cache: Path) -> None:
    steam.add_item("161", size=3 * MiB)
    steam.add_item("162", size=MiB)
    steam.add_item("163", size=16)
    download_with_retry(meta_of(steam, "163"), cache)  # cached: its hooks see no bytes
    shared = Hooks()
    per_item: dict[str, Hooks] = {}

    def hooks_for(steam_id: str) -> Hooks:
        per_item[steam_id] = Hooks()
        return per_item[steam_id]

    outcomes = download_many(
        [meta_of(steam, i) for i in ("161", "162", "163")], cache, shared, hooks_for=hooks_for
    )

    assert {sid: o.status for sid, o in outcomes.items()} == {
        "161": "downloaded",
        "162": "downloaded",
        "163": "cached",
    }
    assert {sid: sum(h.progress) for sid, h in per_item.items()} == {"161": 3 * MiB, "162": MiB, "163": 0}
    assert shared.progress == []


MEMORY_PROBE = """
import resource, sys
import django
django.setup()
from pathlib import Path
from workshop.downloads import download_with_retry
from workshop.steam import WorkshopMetadata
meta = WorkshopMetadata(steam_id="150", file_url=sys.argv[2], file_size=int(sys.argv[3]), time_updated=1700000000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
download_with_retry(meta, Path(sys.argv[1]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before)
"""


def test_256_mib_download_keeps_peak_memory_growth_under_50_mib(steam: FakeSteam, cache: Path) -> None:
    fake = steam.add_item("150", size=256 * MiB)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="left4me.settings", WORKSHOP_DOWNLOAD_HOSTS="127.0.0.1")

    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(cache), steam.file_url("150"), str(fake.size)],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert probe.returncode == 0, probe.stderr
    growth_kib = int(probe.stdout.strip().splitlines()[-1])
    assert growth_kib < 50 * 1024
    path = cache / "150.vpk"
    assert path.stat().st_size == fake.size
    with open(path, "rb") as f:
        assert f.read(MiB) == fake.read(0, MiB)
        f.seek(fake.size - MiB)
        assert f.read() == fake.read(fake.size - MiB, MiB)
    path.unlink()


def test_every_upload_is_kept_as_a_version_and_the_newest_stays_easy_to_find(
    steam: FakeSteam, cache: Path
) -> None:
    from workshop.cache import kept_versions, version_path

    first = steam.add_item("150", size=1000, time_updated=1_700_000_000)
    download_with_retry(meta_of(steam, "150"), cache)
    second = steam.add_item("150", size=2000, time_updated=1_700_000_500)
    download_with_retry(meta_of(steam, "150"), cache)

    assert (cache / "150.vpk").read_bytes() == second.content()
    assert kept_versions(cache, "150") == [1_700_000_500, 1_700_000_000]
    assert version_path(cache, "150", 1_700_000_000).read_bytes() == first.content()
    assert os.stat(cache / "150.vpk").st_ino == os.stat(version_path(cache, "150", 1_700_000_500)).st_ino
