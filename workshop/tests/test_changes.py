"""What changed between two uploads, read from real VPK files (srctools writes them)."""

from __future__ import annotations

import zlib

import pytest

from tests.support.vpkfiles import addoninfo, build_vpk, mission
from workshop.contents import item_contents_store
from workshop.models import WorkshopItem
from workshop.vpk import vpk_read

pytestmark = pytest.mark.django_db

BEFORE = {
    "addoninfo.txt": addoninfo("Dark Carnival Remix"),
    "missions/carnival.txt": mission("carnival", {"coop": ["c2m1_highway", "c2m2_fairgrounds"]}),
    "maps/c2m1_highway.bsp": b"\x01" * 4000,
    "maps/c2m2_fairgrounds.bsp": b"\x02" * 4000,
    "materials/sign.vmt": "old sign",
    "sound/old_horn.wav": b"\x03" * 100,
}
AFTER = {
    **{name: data for name, data in BEFORE.items() if name != "sound/old_horn.wav"},
    "missions/carnival.txt": mission(
        "carnival", {"coop": ["c2m1_highway", "c2m2_fairgrounds", "c2m6_encore"]}
    ),
    "maps/c2m6_encore.bsp": b"\x04" * 4000,
    "materials/sign.vmt": "new sign",  # same name, other bytes
}


def test_the_tree_gives_each_file_its_crc_and_size(tmp_path):
    contents = vpk_read(build_vpk(tmp_path / "a.vpk", {"x/a.txt": "hello"}, layout="footer"))
    sums = dict(zip(contents.paths, contents.sums, strict=True))
    assert sums["x/a.txt"] == (zlib.crc32(b"hello"), 5)


def test_a_second_upload_stores_what_changed_against_the_first(tmp_path):
    item = WorkshopItem.objects.create(steam_id="501", title="Dark Carnival Remix")
    first = item_contents_store(item=item, version=1000, path=build_vpk(tmp_path / "1.vpk", BEFORE))
    second = item_contents_store(item=item, version=2000, path=build_vpk(tmp_path / "2.vpk", AFTER))

    assert first.changes == {}
    changes = second.changes
    assert changes["against"] == 1000
    # the mission file and the sign changed (other bytes), the new map was added, the horn removed
    assert changes["changed"] == ["materials/sign.vmt", "missions/carnival.txt"]
    assert changes["added"] == ["maps/c2m6_encore.bsp"]
    assert changes["removed"] == ["sound/old_horn.wav"]
    assert changes["maps_added"] == ["c2m6_encore"] and changes["maps_removed"] == []
    assert second.changes_text == ("2 files changed, 1 file added, 1 file removed, 1 map added: c2m6_encore")


def test_reading_an_upload_again_gives_the_same_changes_without_opening_the_earlier_file(tmp_path):
    item = WorkshopItem.objects.create(steam_id="502")
    old = build_vpk(tmp_path / "1.vpk", BEFORE)
    item_contents_store(item=item, version=1000, path=old)
    old.unlink()  # the earlier upload's row is enough
    row = item_contents_store(item=item, version=2000, path=build_vpk(tmp_path / "2.vpk", AFTER))
    assert row.changes["files_changed"] == 2


def test_an_unreadable_upload_is_said_not_comparable(tmp_path):
    item = WorkshopItem.objects.create(steam_id="503")
    item_contents_store(item=item, version=1000, path=build_vpk(tmp_path / "1.vpk", BEFORE))
    broken = tmp_path / "2.vpk"
    broken.write_bytes(b"not a vpk at all")
    row = item_contents_store(item=item, version=2000, path=broken)
    assert row.changes == {"against": 1000}
    assert row.changes_text == "contents not comparable (an upload is not readable)"


def test_the_sums_of_a_vpk_without_files_pack_and_unpack():
    from workshop.vpk import sums_pack, sums_unpack

    assert sums_unpack(sums_pack([])) == [] and sums_unpack(b"") == []
    assert sums_unpack(sums_pack([(0xDEADBEEF, 7)])) == [(0xDEADBEEF, 7)]
