"""Storing what each cached upload of an item holds (one WorkshopItemContents row per version)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from django.conf import settings

from workshop.cache import cache_path, id_of_file, kept_versions, version_path
from workshop.changes import not_comparable, upload_changes
from workshop.models import WorkshopItem, WorkshopItemContents
from workshop.vpk import NotAVpk, VpkContents, paths_pack, sums_pack, vpk_read

logger = logging.getLogger(__name__)


def contents_read(path: Path) -> tuple[VpkContents | None, str]:
    """(what the VPK at `path` holds, "") or (None, why it cannot be read). Whatever an upload
    holds, reading it never raises: its problem stays on its item, and a build goes on linking
    the others."""
    try:
        return vpk_read(path), ""
    except NotAVpk as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"cannot read the file: {exc.strerror or exc}"
    except Exception as exc:  # a case the reader does not know yet: noted, and logged for a fix
        logger.exception("reading %s failed", path)
        return None, f"cannot read the contents: {exc.__class__.__name__}: {str(exc)[:200]}"


def item_contents_store(*, item: WorkshopItem, version: int, path: Path) -> WorkshopItemContents:
    """Read the upload `version` of `item` at `path` and store (or replace) its row."""
    contents, problem = contents_read(path)
    values = _values(contents, problem)
    values["changes"] = _changes(item, version, values)
    values["file_size"] = _size(path)
    row, _created = WorkshopItemContents.objects.update_or_create(item=item, version=version, defaults=values)
    return row


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _changes(item: WorkshopItem, version: int, values: dict[str, object]) -> dict[str, object]:
    """What changed against the upload read before this one (the newest earlier row): read
    from the rows alone, the earlier file is not opened."""
    before = WorkshopItemContents.objects.filter(item=item, version__lt=version).order_by("-version").first()
    if before is None:
        return {}
    new = WorkshopItemContents(item=item, version=version, **values)
    if not (before.readable and new.readable):
        return not_comparable(before.version)
    return upload_changes(
        against=before.version,
        old_files=before.files,
        new_files=new.files,
        old_maps=before.all_maps,
        new_maps=new.all_maps,
        old_campaigns=before.campaign_names,
        new_campaigns=new.campaign_names,
    )


def item_contents_of_cache(*, item: WorkshopItem) -> WorkshopItemContents | None:
    """The stored row of the item's cached upload, read and stored now when missing; None when
    the cache holds no file of it."""
    path = item.cache_path
    try:
        version = int(os.stat(path).st_mtime)
    except FileNotFoundError:
        return None
    row = WorkshopItemContents.objects.filter(item=item, version=version).first()
    return row or item_contents_store(item=item, version=version, path=path)


def cached_versions() -> Iterator[tuple[str, int, Path]]:
    """(steam id, version, path) of every upload in the cache: the kept ones and each current file."""
    root = Path(settings.WORKSHOP_CACHE_ROOT)
    for name in sorted(os.listdir(root)) if root.is_dir() else []:
        steam_id = id_of_file(name)
        if not steam_id:
            continue
        versions = set(kept_versions(root, steam_id))
        current = int(os.stat(cache_path(root, steam_id)).st_mtime)
        for version in sorted(versions | {current}):
            path = (
                version_path(root, steam_id, version) if version in versions else cache_path(root, steam_id)
            )
            yield steam_id, version, path


def contents_reindex(*, progress: Callable[[int, int], None], log: Callable[[str], None]) -> int:
    """Read every cached upload of every known item again; returns how many were read."""
    uploads = list(cached_versions())
    items = WorkshopItem.objects.in_bulk({sid for sid, _v, _p in uploads}, field_name="steam_id")
    wanted = [(items[sid], version, path) for sid, version, path in uploads if sid in items]
    progress(0, len(wanted))
    for done, (item, version, path) in enumerate(wanted, 1):
        row = item_contents_store(item=item, version=version, path=path)
        if not row.readable:
            log(f"workshop {item.steam_id} upload {version}: {row.problem}")
        progress(done, len(wanted))
    return len(wanted)


def _values(contents: VpkContents | None, problem: str) -> dict[str, object]:
    if contents is None:
        return {
            "readable": False,
            "problem": problem,
            "flags": [],
            "campaigns": [],
            "maps": [],
            "maps_left_out": [],
            "paths": b"",
            "sums": b"",
            "file_count": 0,
        }
    return {
        "readable": True,
        "problem": contents.addoninfo_problem,
        "title": contents.title,
        "addon_version": contents.addon_version,
        "author": contents.author,
        "flags": contents.flags,
        "campaigns": [campaign.as_json() for campaign in contents.campaigns],
        "maps": contents.maps,
        "maps_left_out": contents.maps_left_out,
        "file_count": contents.file_count,
        "paths": paths_pack(contents.paths),
        "sums": sums_pack(contents.sums),
        "has_vscripts": contents.has_vscripts,
    }
