"""Versions an owner can hold and roll back: every upload kept, pins, rollback, unpin."""

from __future__ import annotations

import hashlib

import pytest

from fleet.refresh import items_refresh_all
from overlays.build import overlay_build
from overlays.items import item_pin, item_rollback, item_unpin, items_add
from overlays.services import OverlayError, overlay_create
from tests.support.helpers import FakeContext, link_target
from workshop.cache import kept_versions, version_path

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]

OLD, NEW = 1_700_000_000, 1_700_000_900


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _build(overlay) -> FakeContext:
    ctx = FakeContext()
    overlay_build(overlay=overlay, ctx=ctx)
    return ctx


def _update_on_steam(steam, steam_id: str = "501"):
    return steam.add_item(steam_id, size=2000, time_updated=NEW)


@pytest.fixture
def two_overlays(owner, steam, settings):
    steam.add_item("501", size=1000, time_updated=OLD)
    first = overlay_create(owner=owner, name="first")
    second = overlay_create(owner=owner, name="second")
    for overlay in (first, second):
        items_add(overlay=overlay, text="501", user=owner)
        _build(overlay)
    return first, second


def test_an_update_keeps_the_old_version_and_both_overlays_switch(two_overlays, steam, settings):
    first, second = two_overlays
    new = _update_on_steam(steam)

    items_refresh_all(ctx=FakeContext())
    _build(first), _build(second)

    root = settings.WORKSHOP_CACHE_ROOT
    assert kept_versions(root, "501") == [NEW, OLD]
    for overlay in (first, second):
        assert (overlay.addons_path / "501.vpk").read_bytes() == new.content()


def test_a_pin_survives_a_refresh_with_a_newer_version(two_overlays, steam, owner, owner_client):
    first, second = two_overlays
    old_bytes = (first.addons_path / "501.vpk").read_bytes()
    item_pin(overlay=first, steam_id="501", user=owner)
    _update_on_steam(steam)

    items_refresh_all(ctx=FakeContext())
    _build(first), _build(second)

    assert (first.addons_path / "501.vpk").read_bytes() == old_bytes
    assert (second.addons_path / "501.vpk").read_bytes() != old_bytes
    page = owner_client.get(f"/overlays/{first.pk}/").content.decode()
    assert "pinned" in page and "update available" in page


def test_rollback_goes_to_the_previous_bytes_and_pins_them(two_overlays, steam, owner, settings):
    first, _second = two_overlays
    old_sha = _sha(first.addons_path / "501.vpk")
    _update_on_steam(steam)
    items_refresh_all(ctx=FakeContext())
    _build(first)
    assert _sha(first.addons_path / "501.vpk") != old_sha

    item_rollback(overlay=first, steam_id="501", user=owner)
    _build(first)

    assert _sha(first.addons_path / "501.vpk") == old_sha
    assert link_target(first.addons_path / "501.vpk") == str(
        version_path(settings.WORKSHOP_CACHE_ROOT, "501", OLD)
    )
    assert first.workshop_links.get().pinned_version == OLD
    with pytest.raises(OverlayError, match="no earlier upload of workshop item 501 is kept"):
        item_rollback(overlay=first, steam_id="501", user=owner)

    item_unpin(overlay=first, steam_id="501", user=owner)
    _build(first)
    assert _sha(first.addons_path / "501.vpk") != old_sha  # follows Steam again


def test_pinned_versions_are_kept_past_the_keep_setting(two_overlays, steam, owner, settings):
    first, second = two_overlays
    settings.WORKSHOP_KEEP_VERSIONS = 0
    item_pin(overlay=first, steam_id="501", user=owner)
    _update_on_steam(steam)
    items_refresh_all(ctx=FakeContext())
    _build(second)
    steam.add_item("501", size=3000, time_updated=NEW + 100)
    items_refresh_all(ctx=FakeContext())
    _build(second)

    assert kept_versions(settings.WORKSHOP_CACHE_ROOT, "501") == [NEW + 100, OLD]  # NEW pruned, OLD pinned


def test_the_version_routes_answer_for_owners_only(two_overlays, owner_client, stranger):
    from django.test import Client

    first, _second = two_overlays
    response = owner_client.post(f"/overlays/{first.pk}/items/pin/", {"steam_id": "501"})
    assert response.status_code == 302
    assert first.workshop_links.get().pinned_version == OLD
    assert owner_client.post(f"/overlays/{first.pk}/items/unpin/", {"steam_id": "501"}).status_code == 302
    assert owner_client.post(f"/overlays/{first.pk}/items/unpin/", {"steam_id": "501"}).status_code == 400
    assert owner_client.post(f"/overlays/{first.pk}/items/rollback/", {"steam_id": "501"}).status_code == 400
    other = Client()
    other.force_login(stranger)
    assert other.post(f"/overlays/{first.pk}/items/pin/", {"steam_id": "501"}).status_code == 403
