"""The Storage page: what the cache holds, what collection would free and when, Collect now."""

from __future__ import annotations

import io
import os
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from fleet.refresh import items_refresh_all
from fleet.storage import When, storage_report
from jobs.models import Job
from overlays.build import overlay_build
from overlays.items import item_pin, item_remove, items_add
from overlays.services import overlay_create
from tests.support.helpers import FakeContext, item_from_steam, put_in_cache
from workshop.cache import partial_path, version_path
from workshop.models import WorkshopItem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]

OLD, NEW = 1_700_000_000, 1_700_000_900


def _build(overlay) -> None:
    overlay_build(overlay=overlay, ctx=FakeContext())


@pytest.fixture
def cache(overlay, owner, steam, settings):
    """601 updated once on Steam (1500 bytes now, the 1000-byte upload kept), 602 (3000 bytes)
    removed from the overlay, and a 123-byte partial download of 700."""
    steam.add_item("601", size=1000, time_updated=OLD)
    steam.add_item("602", size=3000, time_updated=OLD)
    items_add(overlay=overlay, text="601 602", user=owner)
    _build(overlay)
    steam.add_item("601", size=1500, time_updated=NEW)
    items_refresh_all(ctx=FakeContext())
    _build(overlay)
    item_remove(overlay=overlay, steam_id="602", user=owner)
    _build(overlay)
    partial_path(settings.WORKSHOP_CACHE_ROOT, "700").write_bytes(b"x" * 123)
    return overlay


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def test_the_figures_count_hard_links_once(cache):
    report = storage_report()

    assert report.total_bytes == 1500 + 1000 + 3000 + 123  # each upload once, and the partial
    assert report.items_with_files == 2
    assert report.uploads == 3
    assert (report.earlier_uploads, report.earlier_bytes) == (1, 1000)
    assert report.linked_bytes == 1500
    assert (report.partials, report.partial_bytes) == (1, 123)
    assert report.free_bytes > 0 and report.min_free_bytes == 0 and not report.low


def test_an_unlinked_item_is_collectable_after_its_grace_period(cache, settings):
    [row] = storage_report().collectable
    assert (row.steam_id, row.title, row.size, row.when) == ("602", "Item 602", 3000, When.GRACE)

    call_command("workshop_gc", stdout=io.StringIO())  # marks it: the grace period starts
    [row] = storage_report().collectable
    since = WorkshopItem.objects.get(steam_id="602").unlinked_since
    assert row.when == When.AFTER and row.due == since + timedelta(seconds=settings.WORKSHOP_CACHE_GRACE)

    WorkshopItem.objects.filter(steam_id="602").update(unlinked_since=timezone.now() - timedelta(days=8))
    report = storage_report()
    assert [(row.steam_id, row.size, row.when) for row in report.collectable] == [("602", 3000, When.NEXT)]
    assert report.collectable_bytes == report.collectable_next_bytes == 3000


def test_earlier_uploads_past_the_limit_are_collectable_unless_pinned(cache, owner, settings):
    settings.WORKSHOP_KEEP_VERSIONS = 0
    report = storage_report()
    extra = [row for row in report.collectable if row.steam_id == "601"]
    assert [(row.size, row.when) for row in extra] == [(1000, When.NEXT)]
    assert report.collectable_next_bytes == 1000

    assert version_path(settings.WORKSHOP_CACHE_ROOT, "601", OLD).exists()
    item_pin(overlay=cache, steam_id="601", user=owner)  # pins the upload it links: the new one
    assert [row.steam_id for row in storage_report().collectable] == ["601", "602"]
    cache.workshop_links.filter(item__steam_id="601").update(pinned_version=OLD)
    report = storage_report()
    assert [row.steam_id for row in report.collectable] == ["602"]
    assert report.linked_bytes == 1000  # the overlay links the pinned upload now


def test_files_the_database_does_not_know_are_counted_and_collectable(cache, settings):
    orphan = settings.WORKSHOP_CACHE_ROOT / "900.vpk"
    orphan.write_bytes(b"y" * 50)

    report = storage_report()

    [row] = [row for row in report.collectable if row.steam_id == "900"]
    assert (row.size, row.why, row.when) == (50, "not in the database", When.AFTER)
    assert report.items_with_files == 3 and report.total_bytes == 5623 + 50
    assert not report.largest[-1].known and report.largest[-1].steam_id == "900"


def test_operators_see_the_figures_and_the_largest_items(cache, operator_client, owner):
    other = overlay_create(owner=owner, name="versus")
    items_add(overlay=other, text="601", user=owner)

    response = operator_client.get("/storage/")

    body = response.content.decode()
    assert response.status_code == 200
    assert 'title="5623 bytes"' in body  # on disk
    assert 'title="1500 bytes"' in body  # linked
    assert "1 earlier upload kept for rollback" in body
    assert "7 days after the next collection, which starts its grace period" in body
    assert "Partial downloads</dt>\n    <dd>1 (" in body
    assert [item.steam_id for item in storage_report().largest] == ["602", "601"]
    assert "Item 602" in body and "Item 601" in body
    assert (
        f'<a href="/overlays/{cache.pk}/">campaigns</a>, <a href="/overlays/{other.pk}/">versus</a>' in body
    )
    assert 'href="/storage/"' in body  # the navigation


def test_low_free_space_is_said(cache, operator_client, settings):
    settings.WORKSHOP_MIN_FREE_BYTES = 2**62
    body = operator_client.get("/storage/").content.decode()
    assert '<span class="badge low">low</span>' in body


def test_only_operators_may_see_it_or_collect(owner_client, client, staff):
    for user in (None, staff):  # a plain user, then staff without the permission
        if user is not None:
            owner_client.force_login(user)
        assert owner_client.get("/storage/").status_code == 403
        assert owner_client.post("/storage/collect/").status_code == 403
        assert 'href="/storage/"' not in owner_client.get("/overlays/").content.decode()
    assert Job.objects.count() == 0
    client.logout()
    response = client.get("/storage/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_collect_now_queues_one_job_and_shows_it(operator_client, operator):
    first = operator_client.post("/storage/collect/")
    second = operator_client.post("/storage/collect/")

    job = Job.objects.get()
    assert (job.operation, job.user) == ("collect_workshop_cache", operator)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/jobs/{job.pk}/"
    assert operator_client.get(first["Location"]).status_code == 200
    assert operator_client.get("/storage/collect/").status_code == 405


def test_the_page_makes_few_queries_however_many_items(
    operator_client, owner, steam, django_assert_max_num_queries
):
    overlays = [overlay_create(owner=owner, name=f"o{n}") for n in range(3)]
    for n in range(40):
        steam.add_item(str(1000 + n), size=10 + n)
        item = item_from_steam(steam, str(1000 + n), overlay=overlays[n % 3])
        put_in_cache(item, b"z" * (10 + n))
        os.makedirs(version_path(item.cache_path.parent, item.steam_id, item.time_updated).parent)
        os.link(item.cache_path, version_path(item.cache_path.parent, item.steam_id, item.time_updated))

    with django_assert_max_num_queries(8):  # 2 of them the user's permissions, 1 the hosts
        response = operator_client.get("/storage/")

    assert response.status_code == 200
    report = storage_report()
    assert report.items_with_files == 40 and report.uploads == 40
    assert report.total_bytes == sum(10 + n for n in range(40))
    assert len(report.largest) == 20 and report.largest[0].steam_id == "1039"


def test_the_page_speaks_in_words_with_one_collect_button_per_host(cache, operator_client, settings):
    settings.LEFT4ME_HOST_DOWN_AFTER_SECONDS = 180
    body = operator_client.get("/storage/").content.decode()

    for name in ("LEFT4ME_HOST_DOWN_AFTER_SECONDS", "WORKSHOP_KEEP_VERSIONS", "WORKSHOP_MIN_FREE_BYTES"):
        assert name not in body
    assert "has not reported for 3 minutes is down" in body
    assert "each item keeps 1 earlier upload besides its newest" in body
    assert "files no overlay has used for 7 days go" in body
    buttons = re.findall(r"<button[^>]*>(Collect[^<]*)</button>", body)
    assert buttons == [f"Collect unused files on {settings.LEFT4ME_DEFAULT_HOST}"]


def test_collect_says_which_host_it_cleans(operator_client, settings):
    response = operator_client.post("/storage/collect/", follow=True)
    assert f"Collection of unused workshop files on {settings.LEFT4ME_DEFAULT_HOST} queued." in (
        response.content.decode()
    )
