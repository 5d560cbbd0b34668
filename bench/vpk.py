"""Reading a VPK's directory, and an overlay's conflict report.

1. The directory of a 2 GiB single-file VPK holding 20,000 files (the tree in front, then the
   data: a hole, so the file costs a few MiB of disk) read by workshop.vpk.vpk_read: wall time
   and how much the read grew the process's peak RSS (a fresh child per run, its peak reset
   through /proc/self/clear_refs once srctools is imported), and that child's whole peak RSS.
   Targets: <= 1 s, < 100 MiB.
2. The conflict report of an overlay of 2,000 items holding 1,000 files each (stored contents,
   as the build leaves them; 1% of the paths shared between pairs of items), found by
   overlays.contents.overlay_conflicts_compute, database reads and writes included. Target: <= 2 s.

Every run is printed, then the median.

    .venv/bin/python bench/vpk.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import _harness as h

if TYPE_CHECKING:
    from overlays.models import Overlay

RUNS = int(os.environ.get("BENCH_RUNS", "9"))
VPK_FILES = int(os.environ.get("BENCH_VPK_FILES", "20000"))
VPK_BYTES = 2 * 2**30
ITEMS = int(os.environ.get("BENCH_CONFLICT_ITEMS", "2000"))
FILES_PER_ITEM = int(os.environ.get("BENCH_CONFLICT_FILES", "1000"))

_CHILD = """
import resource, sys, time, json
sys.path.insert(0, {repo!r})
from workshop.vpk import vpk_read

def status_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM (peak RSS) to the current RSS: the peak below is the read's
before = status_kib("VmRSS")
started = time.perf_counter()
contents = vpk_read({path!r})
elapsed = time.perf_counter() - started
print(json.dumps({{"s": elapsed, "files": contents.file_count, "before_kib": before,
                  "read_peak_kib": status_kib("VmHWM"),
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def make_big_vpk(path: Path) -> Path:
    from tests.support.vpkfiles import addoninfo, build_vpk, mission

    files: dict[str, bytes | str] = {
        "addoninfo.txt": addoninfo("Big campaign"),
        "missions/big.txt": mission("big", {"coop": [f"big_{n}" for n in range(1, 6)]}),
    }
    for n in range(VPK_FILES - len(files)):
        files[f"materials/models/big/set{n // 500:02d}/texture_{n:05d}.vtf"] = b"v" * 64
    return build_vpk(path, files, layout="footer", size=VPK_BYTES)


def bench_read(path: Path) -> list[dict[str, float]]:
    runs = []
    for _ in range(RUNS):
        code = _CHILD.format(repo=str(h.REPO), path=str(path))
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout))
    return runs


def make_overlay_contents() -> Overlay:
    from overlays.models import OverlayWorkshopItem
    from workshop.models import WorkshopItem, WorkshopItemContents
    from workshop.vpk import paths_pack

    overlay = _overlay()
    items = WorkshopItem.objects.bulk_create(
        WorkshopItem(steam_id=str(9_000_000 + n), file_url="u", time_updated=h.CACHED_TIME_UPDATED)
        for n in range(ITEMS)
    )
    OverlayWorkshopItem.objects.bulk_create(OverlayWorkshopItem(overlay=overlay, item=i) for i in items)
    rows = []
    for n, item in enumerate(items):
        own = [f"materials/addon{n}/file{k:04d}.vmt" for k in range(FILES_PER_ITEM - 10)]
        shared = [f"models/shared/pair{n // 2}/m{k}.mdl" for k in range(10)]  # items 2k and 2k+1
        paths = sorted([*own, *shared, "addoninfo.txt", "scripts/vscripts/mapspawn_addon.nut"])
        rows.append(
            WorkshopItemContents(
                item=item, version=h.CACHED_TIME_UPDATED, paths=paths_pack(paths), file_count=len(paths)
            )
        )
    WorkshopItemContents.objects.bulk_create(rows, batch_size=500)
    return overlay


def _overlay() -> Overlay:
    from django.contrib.auth.models import User

    from overlays.services import overlay_create

    owner = User.objects.create_user("bench-vpk")
    return overlay_create(owner=owner, name="conflicts")


def bench_conflicts(overlay: Overlay) -> tuple[list[float], int]:
    from overlays.contents import overlay_conflicts_compute

    times, found = [], 0
    for _ in range(RUNS):
        started = time.perf_counter()
        found = overlay_conflicts_compute(overlay=overlay)
        times.append(time.perf_counter() - started)
    return times, found


def main() -> None:
    h.setup(redis=False)
    path = make_big_vpk(h.ROOT / "big.vpk")
    disk = os.stat(path).st_blocks * 512
    print(
        f"VPK: {path.stat().st_size / 2**30:.1f} GiB apparent, {disk / 2**20:.1f} MiB on disk, {VPK_FILES} files"
    )
    runs = bench_read(path)
    for n, run in enumerate(runs, 1):
        grew = (run["read_peak_kib"] - run["before_kib"]) / 1024
        print(
            f"  read {n}: {run['s'] * 1000:.0f} ms, RSS grew {grew:.1f} MiB during the read "
            f"(process peak {run['peak_kib'] / 1024:.1f} MiB, imports included), {run['files']} files"
        )
    read_s = statistics.median(r["s"] for r in runs)
    peak = max(r["peak_kib"] for r in runs) / 1024
    grew = max(r["read_peak_kib"] - r["before_kib"] for r in runs) / 1024
    overlay = make_overlay_contents()
    times, found = bench_conflicts(overlay)
    for n, t in enumerate(times, 1):
        print(f"  conflicts {n}: {t * 1000:.0f} ms ({found} groups)")
    conflicts_s = statistics.median(times)
    h.report("Machine", h.machine())
    h.report(
        "VPK contents and conflicts",
        [
            (f"read the directory of a 2 GiB VPK, {VPK_FILES} files", f"median {read_s:.2f} s", "<= 1 s"),
            ("memory the read added (peak RSS growth, worst run)", f"{grew:.1f} MiB", "< 100 MiB"),
            ("peak RSS of the whole process, imports included", f"{peak:.1f} MiB", ""),
            (
                f"conflict report, {ITEMS} items x {FILES_PER_ITEM} files",
                f"median {conflicts_s:.2f} s ({found} groups)",
                "<= 2 s",
            ),
        ],
    )


if __name__ == "__main__":
    main()
