"""The overlay page's campaigns panel, the map list download, addon kinds, conflicts and families."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from overlays.build import overlay_build
from overlays.contents import campaigns_panel, find_conflicts, overlay_conflicts_compute
from overlays.models import OverlayWorkshopItem
from tests.support.helpers import T0, item_from_steam
from tests.support.vpkfiles import addoninfo, mission, vpk_bytes
from workshop.contents import item_contents_store
from workshop.models import WorkshopItem

pytestmark = pytest.mark.django_db

HELMS = {
    "addoninfo.txt": addoninfo("Helms Deep", flags=("campaign", "map")),
    "addonimage.jpg": "jpg",
    "missions/helms.txt": mission(
        "helms", {"coop": ["hd_1", "hd_2", "hd_3"], "versus": ["hd_1v"]}, title="Helms Deep"
    ),
    "maps/hd_1.bsp": "bsp",
    "models/survivors/survivor_gambler.mdl": "nick from helms",
    "scripts/vscripts/mapspawn_addon.nut": "hook",
}
DARK = {
    "addoninfo.txt": addoninfo("Dark Carnival Remix", flags=("campaign",)),
    "missions/dark.txt": mission("dark", {"coop": ["dc_1", "dc_2"], "survival": ["dc_s"]}),
    "sound/sound.cache": "cache",
}
NICK = {
    "addoninfo.txt": addoninfo("Nick as Bill", flags=("survivor",)),
    "addonimage.jpg": "jpg",
    "models/survivors/survivor_gambler.mdl": "nick model",
    "materials/models/survivors/gambler.vmt": "vmt",
    "scripts/vscripts/mapspawn_addon.nut": "hook",
    "sound/sound.cache": "cache",
}


@pytest.fixture
def built(overlay, steam, ctx, tmp_path):
    for steam_id, files in (("5001", HELMS), ("5002", DARK), ("5003", NICK)):
        (tmp_path / steam_id).mkdir()
        steam.add_item(steam_id, data=vpk_bytes(tmp_path / steam_id, files))
        item_from_steam(steam, steam_id, overlay=overlay)
    overlay_build(overlay=overlay, ctx=ctx)
    overlay.refresh_from_db()
    return overlay


def test_the_panel_lists_each_campaign_with_its_maps_per_mode_and_its_item(built, owner_client):
    body = owner_client.get(f"/overlays/{built.pk}/").content.decode()

    assert "Campaigns and maps" in body
    assert ("<strong>Helms Deep</strong>" in body and "from Item 5001 (5001)" in body) or "(5001)" in body
    assert "<dd>hd_1, hd_2, hd_3</dd>" in body and "<dd>dc_s</dd>" in body
    assert (
        ">hd_1\nhd_2\nhd_3\ndc_1\ndc_2</textarea>" in body
        or "dc_1\ndc_2\nhd_1\nhd_2\nhd_3</textarea>" in body
    )
    assert f'href="/overlays/{built.pk}/maps.txt?mode=coop"' in body


def test_each_row_says_what_the_addon_is(built, owner_client):
    body = owner_client.get(f"/overlays/{built.pk}/").content.decode()

    assert '<span class="badge kind">survivor model</span>' in body
    assert body.count('<span class="badge kind">campaign</span>') == 2


def test_maps_txt_gives_one_map_a_line_for_the_owner(built, owner_client):
    panel = campaigns_panel(built)
    response = owner_client.get(f"/overlays/{built.pk}/maps.txt?mode=coop")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "".join(f"{m}\n" for m in panel.maps("coop"))
    assert set(response.content.decode().split()) == {"hd_1", "hd_2", "hd_3", "dc_1", "dc_2"}
    assert owner_client.get(f"/overlays/{built.pk}/maps.txt?mode=versus").content == b"hd_1v\n"
    assert owner_client.get(f"/overlays/{built.pk}/maps.txt?mode=scavenge").content == b""


def test_maps_txt_is_403_for_others_and_400_for_an_unknown_mode(built, owner_client, stranger):
    bad = owner_client.get(f"/overlays/{built.pk}/maps.txt?mode=deathmatch")
    assert bad.status_code == 400
    assert bad.content.decode().startswith("unknown mode 'deathmatch': use one of coop, versus")
    other = Client()
    other.force_login(stranger)
    assert other.get(f"/overlays/{built.pk}/maps.txt?mode=coop").status_code == 403


def test_a_malformed_missions_file_shows_the_campaign_as_unreadable(
    overlay, steam, ctx, tmp_path, owner_client
):
    steam.add_item("5010", data=vpk_bytes(tmp_path, {"missions/bad.txt": '"mission"\n{\n"modes"\n{\n'}))
    item_from_steam(steam, "5010", overlay=overlay)
    overlay_build(overlay=overlay, ctx=ctx)

    response = owner_client.get(f"/overlays/{overlay.pk}/")

    assert response.status_code == 200
    assert "unreadable: missions/bad.txt unreadable:" in response.content.decode()
    assert (overlay.addons_path / "5010.vpk").is_symlink()


def test_the_build_finds_shared_files_ignoring_convention_files(built, ctx):
    (conflict,) = built.file_conflicts.all()

    assert conflict.steam_ids == ["5001", "5003"]
    # addoninfo.txt, addonimage.jpg, sound/sound.cache and mapspawn_addon.nut are shared too: ignored
    assert conflict.path_list == ["models/survivors/survivor_gambler.mdl"]
    assert built.file_conflict_count == 1
    assert "created=3 removed=0 unchanged=0 conflicts=1 (" in ctx.stdout[-1]


def test_the_page_shows_the_conflict(built, owner_client):
    body = owner_client.get(f"/overlays/{built.pk}/").content.decode()

    # named by the items' titles, their ids beside them
    assert '<strong>Item 5001 + Item 5003</strong> <span class="muted">(5001, 5003)</span>: 1 file' in body
    assert "<code>models/survivors/survivor_gambler.mdl</code>" in body


def test_same_family_is_not_reported_and_can_be_undone(built, owner_client, stranger):
    url = f"/overlays/{built.pk}/families/"
    other = Client()
    other.force_login(stranger)
    assert other.post(url, {"steam_id": ["5001", "5003"]}).status_code == 403
    assert built.file_conflicts.count() == 1

    response = owner_client.post(url, {"steam_id": ["5001", "5003"]})

    assert response.status_code == 302
    assert not built.file_conflicts.exists()
    assert set(
        OverlayWorkshopItem.objects.filter(overlay=built)
        .exclude(family="")
        .values_list("item__steam_id", flat=True)
    ) == {"5001", "5003"}
    owner_client.post(url, {"steam_id": ["5003"], "action": "split"})
    assert built.file_conflicts.count() == 1


def test_a_family_of_one_or_of_unknown_items_is_refused(built, owner_client):
    url = f"/overlays/{built.pk}/families/"

    one = owner_client.post(url, {"steam_id": ["5001"]})
    unknown = owner_client.post(url, {"steam_id": ["5001", "999"]})

    assert one.status_code == 400 and "Select at least two items of one family." in one.content.decode()
    assert unknown.status_code == 400 and "not in this overlay: 999" in unknown.content.decode()
    assert not OverlayWorkshopItem.objects.exclude(family="").exists()


def test_a_noop_build_keeps_the_stored_conflicts_and_says_their_number(built, ctx):
    overlay_build(overlay=built, ctx=ctx)

    assert ctx.stdout[-1].endswith("unchanged=3 conflicts=1")


def test_contents_follow_the_version_each_overlay_links(overlay, owner, tmp_path):
    """A pinned overlay sees its pinned upload's contents, not the newest one's."""
    from overlays.services import overlay_create

    other = overlay_create(owner=owner, name="pinned one")
    item = WorkshopItem.objects.create(
        steam_id="5020", file_url="u", time_updated=T0 + 5, cached_version=T0 + 5
    )
    OverlayWorkshopItem.objects.create(overlay=overlay, item=item)
    OverlayWorkshopItem.objects.create(overlay=other, item=item, pinned_version=T0)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = tmp_path / "a" / "old.vpk"
    old.write_bytes(vpk_bytes(tmp_path / "a", {"missions/m.txt": mission("old", {"coop": ["old_1"]})}))
    new = tmp_path / "b" / "new.vpk"
    new.write_bytes(vpk_bytes(tmp_path / "b", {"missions/m.txt": mission("new", {"coop": ["new_1"]})}))
    item_contents_store(item=item, version=T0, path=old)
    item_contents_store(item=item, version=T0 + 5, path=new)

    assert campaigns_panel(overlay).maps("coop") == ["new_1"]
    assert campaigns_panel(other).maps("coop") == ["old_1"]
    assert overlay_conflicts_compute(overlay=overlay) == 0


def test_find_conflicts_groups_paths_by_the_items_sharing_them():
    provided = [
        ("1", ["a", "b", "c", "addoninfo.txt"]),
        ("2", ["a", "b", "addoninfo.txt"]),
        ("3", ["a", "d"]),
    ]

    assert find_conflicts(provided, {}) == {("1", "2", "3"): ["a"], ("1", "2"): ["b"]}
    assert find_conflicts(provided, {"1": "f", "2": "f"}) == {("1", "2", "3"): ["a"]}


def test_the_page_with_campaigns_and_conflicts_stays_within_11_queries(
    built, owner_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(11):  # the conflicts' item titles are one of them
        body = owner_client.get(f"/overlays/{built.pk}/?q=Item").content.decode()
    assert "Item 5001 + Item 5003" in body and "<dd>hd_1, hd_2, hd_3</dd>" in body


# --- every map an addon ships; map names that are map names ----------------------------------------

SURVIVAL = {  # maps only, no missions file: survival and scavenge maps, single maps
    "addoninfo.txt": addoninfo("Survival Pack", flags=("map",)),
    "maps/sv_lighthouse_x.bsp": "bsp",
    "maps/sv_Docks-2.bsp": "bsp",
    "maps/graphs/sv_lighthouse_x.ain": "ain",
}
CHEATS = {
    "addoninfo.txt": addoninfo("Sneaky"),
    "missions/sneaky.txt": '"mission" { "Name" "sneaky" "modes" { "coop" { '
    '"1" { "Map" "sn_1" } "2" { "Map" "sn_2\nsv_cheats 1" } "3" { "Map" "sn 3" } } } }',
    "maps/sn_1.bsp": "bsp",
    "maps/bad;name.bsp": "bsp",
}


@pytest.fixture
def with_maps(built, steam, ctx, tmp_path):
    for steam_id, files in (("5004", SURVIVAL), ("5005", CHEATS)):
        (tmp_path / steam_id).mkdir()
        steam.add_item(steam_id, data=vpk_bytes(tmp_path / steam_id, files))
        item_from_steam(steam, steam_id, overlay=built)
    overlay_build(overlay=built, ctx=ctx)
    built.refresh_from_db()
    return built


def test_maps_without_a_campaign_are_listed_beside_the_campaigns(with_maps, owner_client):
    body = owner_client.get(f"/overlays/{with_maps.pk}/").content.decode()

    assert "Maps without a campaign" in body
    assert '<strong>Item 5004</strong> <span class="muted">(5004)</span>: sv_docks-2, sv_lighthouse_x' in body
    assert "hd_1" not in body.split("Maps without a campaign")[1].split("</ul>")[0]  # a campaign's map
    assert f'href="/overlays/{with_maps.pk}/maps.txt?mode=all"' in body


def test_maps_txt_all_gives_every_map_the_overlay_provides(with_maps, owner_client):
    everything = owner_client.get(f"/overlays/{with_maps.pk}/maps.txt?mode=all").content.decode().split("\n")
    coop = owner_client.get(f"/overlays/{with_maps.pk}/maps.txt?mode=coop").content.decode()

    assert set(everything) == {
        *("hd_1", "hd_2", "hd_3", "hd_1v", "dc_1", "dc_2", "dc_s", "sn_1"),
        *("sv_lighthouse_x", "sv_docks-2", ""),
    }
    assert len(everything) == len(set(everything))
    assert set(coop.split()) == {"hd_1", "hd_2", "hd_3", "dc_1", "dc_2", "sn_1"}


def test_names_that_are_not_map_names_are_left_out_and_named_on_the_item(with_maps, owner_client, ctx):
    texts = [owner_client.get(f"/overlays/{with_maps.pk}/maps.txt?mode={m}").content for m in ("coop", "all")]
    body = owner_client.get(f"/overlays/{with_maps.pk}/").content.decode()

    assert all(b"sv_cheats" not in text and b"sn 3" not in text for text in texts)
    assert all(line == line.strip() and line for text in texts for line in text.decode().splitlines())
    lists = re.findall(r'id="maps-(\w+)">(.*?)</textarea>', body, re.DOTALL)
    assert {mode for mode, _text in lists} == {"coop", "versus", "survival", "all"}
    assert all("sv_cheats" not in text for _mode, text in lists)
    assert (
        "left out, not map names: <code>bad;name</code>, <code>sn_2\\x0asv_cheats 1</code>, <code>sn 3</code>"
    ) in body
    assert "workshop 5005: left out, not map names: bad;name, sn_2\\x0asv_cheats 1, sn 3" in ctx.stderr
