"""Reading a crafted VPK tree: memory for any tree stays bounded, and is given back.

Two trees of empty entries with distinct 3-byte names (most not UTF-8), packed as densely as the
format allows (tests.support.vpkfiles.many_empty_entries):

1. 3,000,000 entries, a 63 MiB tree (under MAX_TREE_BYTES): refused with ``not a valid VPK:
   more than MAX_FILES files``;
2. MAX_FILES entries (200,000), the most a tree may hold: read.

Each run is a fresh child process (as a worker's pool child reads one item): its peak RSS is
reset through /proc/self/clear_refs once everything is imported, then the read runs, then its
result is dropped. Printed per run: the read's time, how much the peak RSS grew during the read
(target <= 64 MiB) and how much RSS the process still holds above where it started once the
result is dropped (target: a few MiB at most). Then the medians.

    .venv/bin/python bench/vpk_tree.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import _harness as h

RUNS = int(os.environ.get("BENCH_RUNS", "9"))
CRAFTED = int(os.environ.get("BENCH_TREE_ENTRIES", "3000000"))

_CHILD = """
import gc, json, sys, time
sys.path.insert(0, {repo!r})
from workshop.vpk import NotAVpk, vpk_read

def status_mib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets VmHWM (peak RSS) to the current RSS: the peak below is the read's
before = status_mib("VmRSS")
started = time.perf_counter()
try:
    result = "read {{}} files".format(vpk_read({path!r}).file_count)
except NotAVpk as exc:
    result = str(exc)
elapsed = time.perf_counter() - started
gc.collect()
print(json.dumps({{"s": elapsed, "result": result, "grew": status_mib("VmHWM") - before,
                  "kept": status_mib("VmRSS") - before}}))
"""


def runs_of(path: str) -> list[dict[str, float | str]]:
    runs = []
    for _ in range(RUNS):
        code = _CHILD.format(repo=str(h.REPO), path=path)
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout))
    return runs


def main() -> None:
    from tests.support.vpkfiles import many_empty_entries
    from workshop.vpk import MAX_FILES

    rows = []
    for count in (CRAFTED, MAX_FILES):
        path = many_empty_entries(h.ROOT / f"tree-{count}.vpk", count)
        print(f"{count:,} empty entries, a {path.stat().st_size / 2**20:.1f} MiB file:")
        runs = runs_of(str(path))
        for n, run in enumerate(runs, 1):
            print(
                f"  run {n}: {float(run['s']):.2f} s, peak RSS grew {float(run['grew']):.1f} MiB, "
                f"{float(run['kept']):.1f} MiB kept after the read: {run['result']}"
            )
        median = {key: statistics.median(float(run[key]) for run in runs) for key in ("s", "grew", "kept")}
        rows += [
            (f"{count:,} entries: time (median)", f"{median['s']:.2f} s", ""),
            (f"{count:,} entries: peak RSS growth (median)", f"{median['grew']:.1f} MiB", "<= 64 MiB"),
            (f"{count:,} entries: RSS kept after the read (median)", f"{median['kept']:.1f} MiB", "~0"),
        ]
        path.unlink()
    h.report("Machine", h.machine())
    h.report("A crafted VPK tree", rows)


if __name__ == "__main__":
    h.setup(redis=False)
    main()
