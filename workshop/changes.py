"""What changed between two uploads of an item, from their VPK trees alone: files added,
removed and changed (by CRC32 and size; no file data is read), and maps and campaigns added or
removed. Worked out once, when an upload is read (workshop.contents), and stored on its row, so
pages, build logs and notices show it without touching a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Paths of each kind kept by name on the row (the counts are always whole).
NAMES_KEPT = 50


def upload_changes(
    *,
    against: int,
    old_files: Mapping[str, tuple[int, int] | None],
    new_files: Mapping[str, tuple[int, int] | None],
    old_maps: set[str],
    new_maps: set[str],
    old_campaigns: set[str],
    new_campaigns: set[str],
) -> dict[str, Any]:
    """The stored changes of an upload against the upload `against` before it. A file's sum is
    None when its row was read before sums were kept: such a file counts as changed only when
    its size is known to differ, never otherwise."""
    added = sorted(set(new_files) - set(old_files))
    removed = sorted(set(old_files) - set(new_files))
    changed = sorted(
        path
        for path, now in new_files.items()
        if path in old_files and now is not None and old_files[path] not in (None, now)
    )
    return {
        "against": against,
        "files_added": len(added),
        "files_removed": len(removed),
        "files_changed": len(changed),
        "added": added[:NAMES_KEPT],
        "removed": removed[:NAMES_KEPT],
        "changed": changed[:NAMES_KEPT],
        "maps_added": sorted(new_maps - old_maps),
        "maps_removed": sorted(old_maps - new_maps),
        "campaigns_added": sorted(new_campaigns - old_campaigns),
        "campaigns_removed": sorted(old_campaigns - new_campaigns),
    }


def changes_text(changes: Mapping[str, Any]) -> str:
    """ "3 files changed, 1 map added: c2m6_encore": the changes in one line; "" for the first
    upload read (nothing to compare with)."""
    if not changes:
        return ""
    if "files_added" not in changes:
        return "contents not comparable (an upload is not readable)"
    parts = [_count(changes[f"files_{kind}"], "file", kind) for kind in ("changed", "added", "removed")]
    for kind in ("added", "removed"):
        parts.append(_named(changes[f"maps_{kind}"], "map", kind))
        parts.append(_named(changes[f"campaigns_{kind}"], "campaign", kind))
    return ", ".join(part for part in parts if part) or "no file changed"


def _count(n: int, noun: str, verb: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'} {verb}" if n else ""


def _named(names: Sequence[str], noun: str, verb: str) -> str:
    return f"{_count(len(names), noun, verb)}: {', '.join(names)}" if names else ""


def not_comparable(against: int) -> dict[str, Any]:
    """The changes of an upload when it or the one before cannot be read."""
    return {"against": against}
