from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from overlays.build import cache_file, overlay_reconcile_links
from overlays.models import Overlay
from overlays.services import OverlayError, overlay_create, overlay_delete
from tests.support.helpers import link_target

pytestmark = pytest.mark.django_db


def test_create_makes_the_addons_folder(owner):
    overlay = overlay_create(owner=owner, name="  maps  ")
    assert overlay.name == "maps"
    assert overlay.addons_path.is_dir()
    assert overlay.addons_path == overlay.path / "left4dead2" / "addons"


@pytest.mark.parametrize("name", ["", "   "])
def test_create_refuses_an_empty_name(owner, name):
    with pytest.raises(OverlayError, match="name is required"):
        overlay_create(owner=owner, name=name)
    assert not Overlay.objects.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x" * 101, "name is too long: 101 characters (at most 100)"),
        ("nul\x00byte", "name must not contain control or format characters"),
        ("new\nline", "name must not contain control or format characters"),
        ("\u202egnp.exe", "name must not contain control or format characters"),
    ],
)
def test_create_refuses_names_the_database_cannot_keep_or_a_page_cannot_show(owner, name, message):
    with pytest.raises(OverlayError, match=re.escape(message)):
        overlay_create(owner=owner, name=name)
    assert not Overlay.objects.exists()


def test_create_keeps_unicode_names(owner):
    assert overlay_create(owner=owner, name="Kampagnen für Ärzte 🧟").name == "Kampagnen für Ärzte 🧟"


def test_create_refuses_a_duplicate_name_of_the_same_owner(owner, stranger, overlay):
    with pytest.raises(OverlayError, match="already have an overlay named 'campaigns'"):
        overlay_create(owner=owner, name="campaigns")
    assert overlay_create(owner=stranger, name="campaigns").owner == stranger


def test_delete_removes_row_and_folder_but_not_cache_files(owner, overlay):
    other = overlay_create(owner=owner, name="other")
    for target in (overlay, other):
        target.addons_path.mkdir(parents=True, exist_ok=True)
    cached = _cache("1", b"vpk")
    overlay_reconcile_links(overlay=overlay, steam_ids=["1"])
    overlay_reconcile_links(overlay=other, steam_ids=["1"])
    path = overlay.path

    overlay_delete(overlay=overlay)

    assert not path.exists()
    assert not Overlay.objects.filter(name="campaigns").exists()
    assert cached.read_bytes() == b"vpk"
    assert (other.addons_path / "1.vpk").resolve() == cached.resolve()


# --- reconcile ---------------------------------------------------------------------------


def _cache(steam_id: str, data: bytes = b"x") -> Path:
    path = cache_file(steam_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _links(overlay: Overlay) -> dict[str, str]:
    return {p.name: link_target(p) for p in overlay.addons_path.iterdir() if p.is_symlink()}


def test_reconcile_creates_missing_links(overlay):
    _cache("1"), _cache("2")
    result = overlay_reconcile_links(overlay=overlay, steam_ids=["1", "2"])
    assert (result.created, result.removed, result.unchanged) == (2, 0, 0)
    assert _links(overlay) == {"1.vpk": str(cache_file("1")), "2.vpk": str(cache_file("2"))}


def test_reconcile_leaves_correct_links_alone(overlay):
    _cache("1")
    overlay_reconcile_links(overlay=overlay, steam_ids=["1"])
    before = os.lstat(overlay.addons_path / "1.vpk")
    result = overlay_reconcile_links(overlay=overlay, steam_ids=["1"])
    assert (result.created, result.removed, result.unchanged) == (0, 0, 1)
    after = os.lstat(overlay.addons_path / "1.vpk")
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_reconcile_removes_links_into_the_cache_whose_item_left(overlay):
    _cache("1"), _cache("2")
    overlay_reconcile_links(overlay=overlay, steam_ids=["1", "2"])
    result = overlay_reconcile_links(overlay=overlay, steam_ids=["2"])
    assert (result.created, result.removed, result.unchanged) == (0, 1, 1)
    assert _links(overlay) == {"2.vpk": str(cache_file("2"))}
    assert cache_file("1").exists()


def test_reconcile_retargets_its_own_wrong_links_and_reports_an_operators_link(overlay, tmp_path):
    _cache("1"), _cache("2")
    overlay.addons_path.mkdir(parents=True, exist_ok=True)
    os.symlink(cache_file("2"), overlay.addons_path / "1.vpk")
    os.symlink(tmp_path / "elsewhere.vpk", overlay.addons_path / "2.vpk")
    result = overlay_reconcile_links(overlay=overlay, steam_ids=["1", "2"])
    assert (result.created, result.removed, result.unchanged) == (1, 0, 0)
    assert result.conflicts == {
        "2": f"addons/2.vpk is a link to {tmp_path / 'elsewhere.vpk'}, not into the cache"
    }
    assert _links(overlay) == {"1.vpk": str(cache_file("1")), "2.vpk": str(tmp_path / "elsewhere.vpk")}


def test_links_are_relative_and_survive_moving_the_data_folder(overlay, settings, tmp_path):
    _cache("1")
    overlay_reconcile_links(overlay=overlay, steam_ids=["1"])
    assert os.readlink(overlay.addons_path / "1.vpk") == "../../../../workshop_cache/1.vpk"

    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    tmp_path.rename(moved)
    try:
        link = moved / "overlays" / str(overlay.pk) / "left4dead2" / "addons" / "1.vpk"
        assert link.read_bytes() == b"x"  # the link resolves in the new place
    finally:
        moved.rename(tmp_path)


def test_absolute_links_of_the_old_layout_are_rewritten_even_after_a_move(overlay, tmp_path):
    _cache("1"), _cache("2")
    addons = overlay.addons_path
    addons.mkdir(parents=True, exist_ok=True)
    os.symlink(cache_file("1"), addons / "1.vpk")  # what earlier versions made
    os.symlink("/old/data/workshop_cache/2.vpk", addons / "2.vpk")  # made before the folder moved

    result = overlay_reconcile_links(overlay=overlay, steam_ids=["1", "2"])

    assert (result.created, result.unchanged, result.conflicts) == (2, 0, {})
    assert {p.name: os.readlink(p) for p in addons.iterdir()} == {
        "1.vpk": "../../../../workshop_cache/1.vpk",
        "2.vpk": "../../../../workshop_cache/2.vpk",
    }
    assert overlay_reconcile_links(overlay=overlay, steam_ids=["1", "2"]).unchanged == 2


def test_reconcile_never_touches_foreign_files_or_links(overlay, tmp_path):
    _cache("1")
    addons = overlay.addons_path
    (addons / "mymod.vpk").write_bytes(b"operator's own")
    (addons / "3.vpk").write_bytes(b"a real file under an item's name")
    os.symlink(tmp_path / "custom.vpk", addons / "custom.vpk")
    os.symlink(tmp_path / "4.vpk", addons / "4.vpk")

    overlay_reconcile_links(overlay=overlay, steam_ids=["1", "3"])
    overlay_reconcile_links(overlay=overlay, steam_ids=[])

    assert (addons / "mymod.vpk").read_bytes() == b"operator's own"
    assert (addons / "3.vpk").read_bytes() == b"a real file under an item's name"
    assert _links(overlay) == {"custom.vpk": str(tmp_path / "custom.vpk"), "4.vpk": str(tmp_path / "4.vpk")}


def test_reconcile_leaves_no_temporary_links(overlay):
    _cache("1")
    overlay_reconcile_links(overlay=overlay, steam_ids=["1"])
    assert sorted(p.name for p in overlay.addons_path.iterdir()) == ["1.vpk"]
