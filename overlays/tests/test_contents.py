"""What the build reads from each downloaded VPK, and `manage.py workshop_inspect`."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from overlays.build import cache_file, overlay_build
from tests.support.helpers import T0, item_from_steam, put_in_cache
from tests.support.vpkfiles import addoninfo, mission, vpk_bytes
from workshop import contents as contents_module
from workshop.models import WorkshopItemContents

pytestmark = pytest.mark.django_db

HELMS = {
    "addoninfo.txt": addoninfo("Helms Deep", author="Tolkien", flags=("campaign", "map")),
    "missions/helms.txt": mission("helms", {"coop": ["hd_1", "hd_2", "hd_3"], "versus": ["hd_1v", "hd_3v"]}),
    "maps/hd_1.bsp": b"\x01" * 3000,
    "scripts/vscripts/hd.nut": "printl(1)",
}


@pytest.fixture
def reads(monkeypatch):
    """The paths every VPK read of the build opens."""
    opened = []
    real = contents_module.vpk_read

    def counting(path):
        opened.append(path)
        return real(path)

    monkeypatch.setattr(contents_module, "vpk_read", counting)
    return opened


@pytest.mark.parametrize("layout", ["single", "footer"])
def test_the_build_stores_what_each_downloaded_upload_holds(overlay, steam, ctx, tmp_path, reads, layout):
    steam.add_item("3001", data=vpk_bytes(tmp_path, HELMS, layout=layout))
    item = item_from_steam(steam, "3001", overlay=overlay)

    overlay_build(overlay=overlay, ctx=ctx)

    row = WorkshopItemContents.objects.get(item=item)
    assert (row.version, row.readable, row.title, row.author) == (T0, True, "Helms Deep", "Tolkien")
    assert row.flags == ["campaign", "map"] and row.kinds == ["campaign", "map"]
    assert row.campaigns == [
        {
            "file": "missions/helms.txt",
            "name": "helms",
            "modes": {"coop": ["hd_1", "hd_2", "hd_3"], "versus": ["hd_1v", "hd_3v"]},
            "problem": "",
        }
    ]
    assert row.file_count == 4 and row.has_vscripts
    assert row.path_list == [
        "addoninfo.txt",
        "maps/hd_1.bsp",
        "missions/helms.txt",
        "scripts/vscripts/hd.nut",
    ]
    assert reads == [cache_file("3001")]


def test_a_build_with_nothing_to_download_reads_no_vpk(overlay, steam, ctx, tmp_path, reads):
    steam.add_item("3002", data=vpk_bytes(tmp_path, HELMS))
    item = item_from_steam(steam, "3002", overlay=overlay)
    overlay_build(overlay=overlay, ctx=ctx)
    assert len(reads) == 1

    overlay_build(overlay=overlay, ctx=ctx)

    assert len(reads) == 1  # the second build read nothing again
    assert item.contents.count() == 1


def test_a_malformed_missions_file_links_the_item_and_marks_the_campaign(overlay, steam, ctx, tmp_path):
    files = {"addoninfo.txt": addoninfo("Broken"), "missions/broken.txt": '"mission"\n{\n"modes"\n{\n'}
    steam.add_item("3003", data=vpk_bytes(tmp_path, files))
    item = item_from_steam(steam, "3003", overlay=overlay)

    overlay_build(overlay=overlay, ctx=ctx)

    assert (overlay.addons_path / "3003.vpk").is_symlink()
    (campaign,) = item.contents.get().campaigns
    assert campaign["problem"].startswith("missions/broken.txt unreadable:")


def test_inspect_prints_a_cached_item_reading_the_file_when_no_row_exists(steam, tmp_path):
    steam.add_item("3004", data=b"")
    item = item_from_steam(steam, "3004")
    put_in_cache(item, vpk_bytes(tmp_path, HELMS))
    out = io.StringIO()

    call_command("workshop_inspect", "3004", "--paths", stdout=out)

    text = out.getvalue()
    assert f"workshop 3004 {item.title} (upload {T0})" in text
    assert "addon: Helms Deep version 1.0 by Tolkien" in text
    assert "is: campaign, map" in text
    assert "files: 4; vscripts: yes" in text
    assert "coop: hd_1 hd_2 hd_3" in text
    assert "  maps/hd_1.bsp" in text
    assert item.contents.count() == 1


def test_inspect_says_what_is_wrong_with_a_file_that_is_not_a_vpk(steam):
    steam.add_item("3005", data=b"")
    item = item_from_steam(steam, "3005")
    put_in_cache(item, b"<html>error</html>")
    out = io.StringIO()

    call_command("workshop_inspect", "3005", stdout=out)

    assert "not a valid VPK: bad magic" in out.getvalue()


def test_inspect_refuses_an_unknown_or_uncached_item(steam):
    with pytest.raises(CommandError, match="no workshop item 999 is known"):
        call_command("workshop_inspect", "999")
    steam.add_item("3006", size=16)
    item_from_steam(steam, "3006")
    with pytest.raises(CommandError, match="has no file in the cache"):
        call_command("workshop_inspect", "3006")
    with pytest.raises(CommandError, match="give a workshop item id"):
        call_command("workshop_inspect", "../etc")


def test_the_item_admin_shows_the_contents_read_only(client, superuser, overlay, steam, ctx, tmp_path):
    steam.add_item("3007", data=vpk_bytes(tmp_path, HELMS))
    item = item_from_steam(steam, "3007", overlay=overlay)
    overlay_build(overlay=overlay, ctx=ctx)
    client.force_login(superuser)

    page = client.get(f"/admin/workshop/workshopitem/{item.pk}/change/").content.decode()

    assert "Helms Deep" in page and "hd_1 hd_2 hd_3" in page
    assert 'name="contents-0-title"' not in page  # shown, not editable


def test_the_contents_and_conflicts_lists_open_in_the_admin(client, superuser, overlay, steam, ctx, tmp_path):
    steam.add_item("3008", data=vpk_bytes(tmp_path, HELMS))
    item_from_steam(steam, "3008", overlay=overlay)
    overlay_build(overlay=overlay, ctx=ctx)
    client.force_login(superuser)

    page = client.get("/admin/workshop/workshopitemcontents/")

    assert page.status_code == 200 and "Helms Deep" in page.content.decode()
    assert client.get("/admin/overlays/overlayfileconflict/").status_code == 200
    assert client.get("/admin/workshop/workshopitemcontents/add/").status_code == 403


def test_names_that_are_not_utf8_never_fail_a_build_nor_keep_another_item_out(
    overlay, steam, ctx, tmp_path, monkeypatch
):
    odd = {"addoninfo.txt": addoninfo("Odd \x00names"), "maps/m\udcfe\udcfd.bsp": "bsp"}  # bytes fe fd
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    steam.add_item("3010", data=vpk_bytes(tmp_path / "a", odd))
    steam.add_item("3011", data=vpk_bytes(tmp_path / "b", HELMS))
    odd_item = item_from_steam(steam, "3010", overlay=overlay)
    item_from_steam(steam, "3011", overlay=overlay)

    overlay_build(overlay=overlay, ctx=ctx)

    assert (overlay.addons_path / "3010.vpk").is_symlink() and (overlay.addons_path / "3011.vpk").is_symlink()
    row = odd_item.contents.get()
    assert row.title == "Odd names" and row.path_list == ["addoninfo.txt", "maps/m\\xfe\\xfd.bsp"]


def test_a_reader_failure_is_a_problem_on_its_item_and_the_others_are_linked(
    overlay, steam, ctx, tmp_path, monkeypatch
):
    real = contents_module.vpk_read

    def failing_for_one(path):
        if path.name == "3012.vpk":
            raise UnicodeEncodeError("utf-8", "\udcfe", 0, 1, "surrogates not allowed")
        return real(path)

    monkeypatch.setattr(contents_module, "vpk_read", failing_for_one)
    (tmp_path / "a").mkdir()
    steam.add_item("3012", data=vpk_bytes(tmp_path, HELMS))
    steam.add_item("3013", data=vpk_bytes(tmp_path / "a", HELMS))
    bad = item_from_steam(steam, "3012", overlay=overlay)
    item_from_steam(steam, "3013", overlay=overlay)

    overlay_build(overlay=overlay, ctx=ctx)

    assert (overlay.addons_path / "3012.vpk").is_symlink() and (overlay.addons_path / "3013.vpk").is_symlink()
    row = bad.contents.get()
    assert not row.readable and row.problem.startswith("cannot read the contents: UnicodeEncodeError")
    assert any(
        line.startswith("workshop 3012: cannot read the contents: UnicodeEncodeError") for line in ctx.stderr
    )
