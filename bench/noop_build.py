"""No-op build: an overlay of 2,000 cached items whose addons/ links are all correct already.

The build job runs in this process through the real task wrapper (claim, heartbeat, log,
progress). A first build creates the links; the builds after it are measured: wall time, and
filesystem writes counted two ways: a snapshot of (inode, mtime_ns, ctime_ns, size) of every
entry of addons/ and of the cache (and of both folders) before and after, and the disk bytes
this process wrote (/proc/self/io write_bytes) while the SQLite database and its temporary
files sit on /dev/shm, so that figure holds only what the build did to the disk.

    .venv/bin/python bench/noop_build.py
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import _harness as h

if TYPE_CHECKING:
    from overlays.models import Overlay

ITEMS = int(os.environ.get("BENCH_NOOP_ITEMS", "2000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def snapshot(*folders: Path) -> dict[str, tuple[int, int, int, int]]:
    """(inode, mtime_ns, ctime_ns, size) of each folder and each entry in it, links not followed."""
    found: dict[str, tuple[int, int, int, int]] = {}
    for folder in folders:
        for path in [folder, *folder.iterdir()]:
            st = path.lstat()
            found[str(path)] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    return found


def atimes(*folders: Path) -> dict[str, int]:
    return {str(p): p.lstat().st_atime_ns for folder in folders for p in [folder, *folder.iterdir()]}


def differences(before: Mapping[str, object], after: Mapping[str, object]) -> int:
    return sum(1 for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def disk_write_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise KeyError("write_bytes")


def build(overlay: Overlay) -> tuple[float, str]:
    from jobs.models import Job
    from overlays.services import build_enqueue
    from overlays.tasks import build_overlay

    job = build_enqueue(overlay=overlay, user=None, reason="benchmark")
    with h.timer() as took:
        build_overlay.run(job.pk)
    job.refresh_from_db()
    if job.state != Job.State.SUCCEEDED:
        raise SystemExit(f"build failed: {job.error}")
    last = job.lines.order_by("seq").last()
    if last is None:
        raise SystemExit("build logged nothing")
    return took["seconds"], last.text


def main() -> None:
    on_tmpfs = Path("/dev/shm").is_dir()
    if on_tmpfs:  # SQLite's temporary files (big sorts) too, else they land in /var/tmp
        os.environ["SQLITE_TMPDIR"] = "/dev/shm"
    h.setup(database_dir="/dev/shm" if on_tmpfs else None)
    from django.conf import settings
    from django.contrib.auth.models import User

    from overlays.services import overlay_create

    owner = User.objects.create_user("bench", password="bench-pw-1")
    overlay = overlay_create(owner=owner, name="noop")
    h.seed_cached_items(overlay, 9_000_000_001, ITEMS)
    first_seconds, first_summary = build(overlay)
    os.sync()

    folders = (overlay.addons_path, Path(settings.WORKSHOP_CACHE_ROOT))
    seconds: list[float] = []
    changed: list[int] = []
    written: list[int] = []
    accessed: list[int] = []
    for _ in range(RUNS):
        before, atime_before, io_before = snapshot(*folders), atimes(*folders), disk_write_bytes()
        took, summary = build(overlay)
        written.append(disk_write_bytes() - io_before)
        changed.append(differences(before, snapshot(*folders)))
        accessed.append(differences(atime_before, atimes(*folders)))
        seconds.append(took)

    h.report("machine", h.machine())
    h.report(
        f"build of an overlay of {ITEMS} cached items",
        [
            ("first build (creates the links)", f"{first_seconds:.2f} s", ""),
            ("first build summary", first_summary, ""),
            (f"no-op build: wall time, median of {RUNS}", f"{statistics.median(seconds):.2f} s", "<= 2 s"),
            ("no-op build: runs (s)", " ".join(f"{s:.2f}" for s in seconds), ""),
            ("no-op build summary", summary, ""),
            ("entries of addons/ and the cache changed (max over runs)", str(max(changed)), "0"),
            ("entries whose atime the kernel updated (runs)", " ".join(map(str, accessed)), ""),
            (
                "disk bytes written by the process (max over runs)",
                f"{max(written)} (runs: {' '.join(map(str, written))})"
                + ("" if on_tmpfs else "  (database included: /dev/shm missing)"),
                "0",
            ),
        ],
    )


if __name__ == "__main__":
    main()
