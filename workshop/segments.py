"""The byte ranges of a segmented download and what its partial file's sidecar says of them.

An item larger than WORKSHOP_SEGMENT_MIN_BYTES is split into WORKSHOP_SEGMENTS_PER_ITEM ranges
fetched over connections of their own (Steam's CDN limits each connection, not each client),
all written into one partial file preallocated to the item's size. The file's size then says
nothing of what came, so the sidecar (``.<id>.vpk.part.json``) records each range's progress::

    {"time_updated": 1700000000, "file_size": 1073741824,
     "segments": [[0, 268435456, 1048576], [268435456, 536870912, 0], ...]}

as ``[start, end, bytes done from start]``, rewritten (write, then rename) at most every
SAVE_SECONDS and when a range ends, and only ever after the bytes it counts were written: a
killed worker loses at most the last SAVE_SECONDS of each range, and the next attempt asks only
for what is missing. The connections come out of a build's WORKSHOP_DOWNLOAD_CONCURRENCY
(:class:`ConnectionSlots`), so a build never has more open than that.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

SAVE_SECONDS = 0.2


@dataclass
class Segment:
    start: int
    end: int  # exclusive
    done: int = 0  # bytes on disk from start on

    @property
    def missing(self) -> int:
        return self.end - self.start - self.done

    @property
    def label(self) -> str:
        return f"bytes {self.start}-{self.end - 1}"


def segmented(file_size: int) -> bool:
    """Whether an item this large is fetched in ranges."""
    return settings.WORKSHOP_SEGMENTS_PER_ITEM > 1 and file_size > settings.WORKSHOP_SEGMENT_MIN_BYTES


def split(file_size: int) -> list[Segment]:
    """WORKSHOP_SEGMENTS_PER_ITEM ranges of (nearly) equal length covering the file."""
    count = max(1, min(settings.WORKSHOP_SEGMENTS_PER_ITEM, file_size))
    bounds = [file_size * n // count for n in range(count + 1)]
    return [Segment(start, end) for start, end in itertools.pairwise(bounds)]


def segments_from_stamp(stamp: Any, file_size: int) -> list[Segment] | None:
    """The ranges a sidecar records, if they are whole and consistent; else None."""
    rows = stamp.get("segments") if isinstance(stamp, dict) else None
    if not isinstance(rows, list) or not rows:
        return None
    segments: list[Segment] = []
    position = 0
    for row in rows:
        if not (isinstance(row, list) and len(row) == 3 and all(type(v) is int for v in row)):
            return None
        start, end, done = row
        if start != position or end <= start or not 0 <= done <= end - start:
            return None
        segments.append(Segment(start, end, done))
        position = end
    return segments if position == file_size else None


class SegmentProgress:
    """The ranges of one partial file and their progress, saved to its sidecar now and then.

    Thread-safe: each range's download thread reports its bytes with :meth:`advance`."""

    def __init__(self, stamp_path: Path, stamp: dict[str, int], segments: list[Segment]) -> None:
        self.segments = segments
        self._path = stamp_path
        self._stamp = stamp
        self._lock = threading.Lock()
        self._saved_at = time.monotonic()

    def advance(self, index: int, n: int) -> None:
        with self._lock:
            self.segments[index].done += n
            if time.monotonic() - self._saved_at >= SAVE_SECONDS:
                self._save()

    def save(self) -> None:
        with self._lock:
            self._save()

    def _save(self) -> None:
        rows = [[s.start, s.end, s.done] for s in self.segments]
        write_stamp(self._path, {**self._stamp, "segments": rows})
        self._saved_at = time.monotonic()


def write_stamp(path: Path, stamp: dict[str, Any]) -> None:
    """Replace the sidecar in one step, so a kill leaves the old one or the new one."""
    tmp = stamp_tmp(path)
    tmp.write_text(json.dumps(stamp))
    os.replace(tmp, path)


def stamp_tmp(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp")


class ConnectionSlots:
    """The connections a batch of downloads may have open at once: an item's own connection
    waits for a slot (:meth:`hold`); the extra ranges of a big item take what is free then."""

    def __init__(self, total: int) -> None:
        self._free = total
        self._changed = threading.Condition()

    def hold(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._free > 0)
            self._free -= 1

    def take(self, wanted: int) -> int:
        """Up to ``wanted`` slots without waiting; how many were taken."""
        with self._changed:
            taken = max(0, min(wanted, self._free))
            self._free -= taken
            return taken

    def give(self, n: int) -> None:
        with self._changed:
            self._free += n
            self._changed.notify_all()


class AnySlots(ConnectionSlots):
    """No batch to share with: every range gets its connection."""

    def __init__(self) -> None:
        super().__init__(0)

    def take(self, wanted: int) -> int:
        return wanted

    def give(self, n: int) -> None:
        return None
