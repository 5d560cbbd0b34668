"""WORKSHOP_LINK_MODE=hardlink: addons/ holds hard links to the cache files, so the folder alone
(a bind mount, a read-only Docker volume, a copy) resolves every item."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from overlays.build import MANIFEST, cache_file, overlay_build, overlay_remove_folder
from overlays.checks import check_hardlink_one_filesystem
from overlays.models import OverlayWorkshopItem
from overlays.pages import use_with_server
from tests.support.helpers import FakeContext, item_from_steam

pytestmark = pytest.mark.django_db

ITEMS = {"3001": 70_000, "3002": 20_000, "3003": 5_000}
served: dict[str, bytes] = {}


@pytest.fixture
def hardlink(settings):
    settings.WORKSHOP_LINK_MODE = "hardlink"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build_all(overlay, steam) -> str:
    for steam_id, size in ITEMS.items():
        served[steam_id] = steam.add_item(steam_id, size=size).content()
        item_from_steam(steam, steam_id, overlay=overlay)
    ctx = FakeContext()
    overlay_build(overlay=overlay, ctx=ctx)
    return ctx.stdout[-1]


def test_a_copy_of_addons_alone_holds_every_item(hardlink, overlay, steam, tmp_path):
    assert "created=3" in _build_all(overlay, steam)
    copy = tmp_path / "server" / "addons"
    copy.parent.mkdir()
    # `cp -a` keeps links as links (a symlink's copy would point nowhere): what a bind mount or a
    # read-only volume of addons/ shows a server that has no cache path inside.
    subprocess.run(["cp", "-a", str(overlay.addons_path), str(copy)], check=True)
    for steam_id in ITEMS:
        vpk = copy / f"{steam_id}.vpk"
        assert not vpk.is_symlink()
        assert _sha256(vpk) == hashlib.sha256(served[steam_id]).hexdigest()
        assert os.path.samefile(overlay.addons_path / f"{steam_id}.vpk", cache_file(steam_id))
    assert (overlay.addons_path / MANIFEST).read_text().split() == [f"{sid}.vpk" for sid in ITEMS]


def test_the_same_copy_of_symlinks_resolves_nothing(overlay, steam, tmp_path):
    _build_all(overlay, steam)
    copy = tmp_path / "server" / "addons"
    copy.parent.mkdir()
    subprocess.run(["cp", "-a", str(overlay.addons_path), str(copy)], check=True)
    assert not any((copy / f"{steam_id}.vpk").exists() for steam_id in ITEMS)


def test_a_second_build_changes_nothing_and_a_new_upload_is_linked_again(hardlink, overlay, steam):
    _build_all(overlay, steam)
    ctx = FakeContext()
    overlay_build(overlay=overlay, ctx=ctx)
    assert ctx.stdout[-1].endswith("created=0 removed=0 unchanged=3 conflicts=0")
    old = cache_file("3003")
    fresh = old.with_name("fresh")
    fresh.write_bytes(b"stale upload")
    os.replace(fresh, old)  # another inode in the cache (the build downloads the item anew too)
    ctx = FakeContext()
    overlay_build(overlay=overlay, ctx=ctx)
    assert "created=1 removed=0 unchanged=2" in ctx.stdout[-1]
    assert os.path.samefile(overlay.addons_path / "3003.vpk", cache_file("3003"))
    assert (overlay.addons_path / "3003.vpk").read_bytes() == served["3003"]


def test_removed_items_go_and_the_operators_own_files_stay(hardlink, overlay, steam):
    _build_all(overlay, steam)
    (overlay.addons_path / "mine.vpk").write_bytes(b"operator")
    OverlayWorkshopItem.objects.filter(item__steam_id="3001").delete()
    ctx = FakeContext()
    overlay_build(overlay=overlay, ctx=ctx)
    assert "removed=1" in ctx.stdout[-1]
    assert sorted(p.name for p in overlay.addons_path.iterdir()) == [
        MANIFEST,
        "3002.vpk",
        "3003.vpk",
        "mine.vpk",
    ]
    assert cache_file("3001").exists()
    assert overlay_remove_folder(overlay=overlay) == [overlay.addons_path / "mine.vpk"]


def test_switching_modes_relinks_every_item(overlay, steam, settings):
    _build_all(overlay, steam)
    settings.WORKSHOP_LINK_MODE = "hardlink"
    ctx = FakeContext()
    overlay_build(overlay=overlay, ctx=ctx)
    assert "created=3" in ctx.stdout[-1]
    assert not any(p.is_symlink() for p in overlay.addons_path.iterdir())
    settings.WORKSHOP_LINK_MODE = "symlink"
    ctx = FakeContext()
    overlay_build(overlay=overlay, ctx=ctx)
    assert "created=3" in ctx.stdout[-1]
    assert sorted(p.name for p in overlay.addons_path.iterdir() if p.is_symlink()) == [
        f"{s}.vpk" for s in ITEMS
    ]
    assert not (overlay.addons_path / MANIFEST).exists()


def test_the_check_refuses_hardlink_across_file_systems(hardlink, settings, monkeypatch):
    assert check_hardlink_one_filesystem() == []
    devices = {str(settings.WORKSHOP_CACHE_ROOT): 1, str(settings.OVERLAYS_ROOT): 2}
    monkeypatch.setattr("overlays.checks._device", lambda path: devices[str(path)])
    [error] = check_hardlink_one_filesystem()
    assert error.id == "overlays.E001" and "on one file system" in error.msg
    settings.WORKSHOP_LINK_MODE = "symlink"
    assert check_hardlink_one_filesystem() == []


def test_the_panel_shows_the_one_line_mount(hardlink, overlay):
    [mount] = use_with_server(overlay)
    assert mount.command == f"docker run … -v {overlay.addons_path}:/server/left4dead2/addons:ro …"
    assert shutil.which("cp")
