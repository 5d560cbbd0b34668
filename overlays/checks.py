"""System checks of the overlays' settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error


def _device(path: Path) -> int:
    """The file system of `path`, or of its nearest folder that exists (made on first use)."""
    for folder in (path, *path.parents):
        if folder.exists():
            return os.stat(folder).st_dev
    return -1


def check_hardlink_one_filesystem(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """WORKSHOP_LINK_MODE=hardlink links overlays' files to the cache's: a hard link cannot
    cross file systems."""
    if settings.WORKSHOP_LINK_MODE != "hardlink":
        return []
    cache, overlays = Path(settings.WORKSHOP_CACHE_ROOT), Path(settings.OVERLAYS_ROOT)
    if _device(cache) == _device(overlays):
        return []
    return [
        Error(
            f"WORKSHOP_LINK_MODE=hardlink needs the workshop cache ({cache}) and the overlays "
            f"({overlays}) on one file system",
            hint="put both under one LEFT4ME_ROOT on one file system, or use WORKSHOP_LINK_MODE=symlink",
            id="overlays.E001",
        )
    ]
