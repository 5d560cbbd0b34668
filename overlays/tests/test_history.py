"""An item's version history: what each upload changed, the build's summary line, rolling back
to a chosen upload, and skipping one until Steam has a newer one."""

from __future__ import annotations

import pytest
from django.test import Client

from fleet.refresh import items_refresh_all
from overlays.build import overlay_build
from overlays.items import item_skip_upload, items_add
from overlays.services import OverlayError, overlay_create
from overlays.signals import items_gone_upstream, items_updated, skip_ended
from tests.support.helpers import FakeContext, link_target
from tests.support.vpkfiles import addoninfo, mission, vpk_bytes
from workshop.cache import version_path

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]

OLD, NEW, NEWER = 1_700_000_000, 1_700_000_900, 1_700_001_800
CAMPAIGN = {
    "addoninfo.txt": addoninfo("Dark Carnival Remix"),
    "missions/carnival.txt": mission("carnival", {"coop": ["c2m1_highway"]}),
    "maps/c2m1_highway.bsp": b"\x01" * 3000,
    "materials/sign.vmt": "old",
}
UPDATED = {
    **CAMPAIGN,
    "missions/carnival.txt": mission("carnival", {"coop": ["c2m1_highway", "c2m6_encore"]}),
    "maps/c2m6_encore.bsp": b"\x02" * 3000,
}


@pytest.fixture
def heard():
    """What overlays announced (the notices app listens the same way)."""
    said: list[tuple[str, dict]] = []

    def listen(name):
        def receiver(sender, **kwargs):
            said.append((name, kwargs))

        return receiver

    receivers = {
        signal: listen(name)
        for signal, name in ((items_updated, "updated"), (skip_ended, "skip"), (items_gone_upstream, "gone"))
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    yield said
    for signal, receiver in receivers.items():
        signal.disconnect(receiver)


def _build(overlay) -> FakeContext:
    ctx = FakeContext()
    overlay_build(overlay=overlay, ctx=ctx)
    return ctx


@pytest.fixture
def updated(owner, steam, tmp_path):
    """An overlay whose campaign Steam updated once (both uploads downloaded and kept)."""
    steam.add_item("501", data=vpk_bytes(tmp_path, CAMPAIGN), time_updated=OLD, title="Dark Carnival Remix")
    overlay = overlay_create(owner=owner, name="carnival")
    items_add(overlay=overlay, text="501", user=owner)
    assert _build(overlay).summary == ""  # a first download changes nothing that was there
    steam.add_item("501", data=vpk_bytes(tmp_path, UPDATED), time_updated=NEW, title="Dark Carnival Remix")
    items_refresh_all(ctx=FakeContext())
    return overlay


def test_a_build_that_downloads_an_update_says_what_changed_once(updated, heard):
    ctx = _build(updated)
    summary = "updated: Dark Carnival Remix (1 file changed, 1 file added, 1 map added: c2m6_encore)"
    assert ctx.summary == summary
    assert summary in ctx.stdout
    assert [(name, kw["summary"]) for name, kw in heard] == [("updated", summary)]


def test_the_history_lists_both_uploads_and_rolls_back_to_the_chosen_one(updated, owner_client, settings):
    _build(updated)
    url = f"/overlays/{updated.pk}/items/501/history/"
    page = owner_client.get(url).content.decode()
    assert page.count('id="upload-') == 2
    assert "1 map added: c2m6_encore" in page and "the first upload read" in page
    assert 'aria-label="Roll back to upload 1700000000"' in page

    assert owner_client.post(url, {"version": "123"}).status_code == 400  # not a kept upload
    assert owner_client.post(url, {"version": str(OLD)}).status_code == 302
    assert updated.workshop_links.get().pinned_version == OLD
    _build(updated)
    assert link_target(updated.addons_path / "501.vpk") == str(
        version_path(settings.WORKSHOP_CACHE_ROOT, "501", OLD)
    )


def test_the_overlay_page_s_roll_back_opens_the_history(updated, owner_client):
    _build(updated)
    page = owner_client.get(f"/overlays/{updated.pk}/").content.decode()
    assert f'href="/overlays/{updated.pk}/items/501/history/" aria-label="Roll back' in page


def test_only_the_owner_sees_the_history(updated, stranger):
    other = Client()
    other.force_login(stranger)
    assert other.get(f"/overlays/{updated.pk}/items/501/history/").status_code == 403
    assert other.post(f"/overlays/{updated.pk}/items/501/skip/").status_code == 403


def test_a_skipped_upload_holds_until_steam_has_a_newer_one_then_the_owner_is_told(
    updated, owner, steam, tmp_path, heard
):
    _build(updated)
    item_skip_upload(overlay=updated, steam_id="501", user=owner)
    link = updated.workshop_links.get()
    assert (link.pinned_version, link.skipped_version) == (OLD, NEW)
    items_refresh_all(ctx=FakeContext())  # nothing newer yet: the pin holds
    assert updated.workshop_links.get().pinned_version == OLD

    steam.add_item("501", data=vpk_bytes(tmp_path, CAMPAIGN), time_updated=NEWER, title="Dark Carnival Remix")
    items_refresh_all(ctx=FakeContext())
    link = updated.workshop_links.get()
    assert (link.pinned_version, link.skipped_version) == (None, None)
    assert [(kw["skipped"], kw["item"].steam_id) for name, kw in heard if name == "skip"] == [(NEW, "501")]


def test_skipping_needs_an_earlier_upload(owner, steam, tmp_path):
    steam.add_item("502", data=vpk_bytes(tmp_path, CAMPAIGN), time_updated=OLD)
    overlay = overlay_create(owner=owner, name="one")
    items_add(overlay=overlay, text="502", user=owner)
    _build(overlay)
    with pytest.raises(OverlayError, match="no upload of workshop item 502 before its newest is kept"):
        item_skip_upload(overlay=overlay, steam_id="502", user=owner)


def test_an_item_gone_upstream_is_told_once_and_summed_up_by_each_build(updated, steam, heard):
    _build(updated)
    steam.details["501"] = {"publishedfileid": "501", "result": 9}
    items_refresh_all(ctx=FakeContext())
    items_refresh_all(ctx=FakeContext())
    assert [(name, kw["steam_ids"]) for name, kw in heard if name == "gone"] == [("gone", ["501"])]
    assert _build(updated).summary == "removed upstream: Dark Carnival Remix (kept, marked)"
