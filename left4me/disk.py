"""Free space on the file system holding a folder, and sizes as people read them."""

from __future__ import annotations

import os
from pathlib import Path

UNITS = ("bytes", "KiB", "MiB", "GiB", "TiB")


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged process may still write where `folder` is (or would be made)."""
    return disk_space(folder)[0]


def disk_space(folder: Path) -> tuple[int, int]:
    """(free to an unprivileged process, total) bytes of the file system holding `folder`, or
    the one it would be made on."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize


def human_bytes(count: int) -> str:
    """1536 -> "1.5 KiB"; whole bytes below 1 KiB."""
    size = float(count)
    for unit in UNITS:
        if abs(size) < 1024 or unit == UNITS[-1]:
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
