"""Free space on the file system holding a folder (sizes as people read them: left4me.units)."""

from __future__ import annotations

import os
from pathlib import Path


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
