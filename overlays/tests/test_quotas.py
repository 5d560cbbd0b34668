"""Quotas: how many overlays a user holds, and how many bytes of workshop items in all of them."""

from __future__ import annotations

import pytest
from django.test import Client

from fleet.refresh import items_refresh_all
from jobs.models import Job
from overlays.items import items_add
from overlays.models import Overlay, OverlayWorkshopCollection, OverlayWorkshopItem, UserQuota
from overlays.quotas import quota_of
from overlays.services import OverlayError, overlay_create
from tests.support.helpers import FakeContext
from workshop.models import WorkshopItem
from workshop.parsing import WorkshopInputError

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]

MiB = 2**20
GiB = 2**30


def _linked(overlay) -> set[str]:
    return set(overlay.workshop_links.values_list("item__steam_id", flat=True))


def _folders(settings) -> list[str]:
    return sorted(path.name for path in settings.OVERLAYS_ROOT.iterdir())


# --- overlays -----------------------------------------------------------------------------


def test_a_create_at_the_overlay_limit_is_refused_with_400_and_creates_nothing(
    owner_client, owner, overlay, settings
):
    settings.LEFT4ME_QUOTA_OVERLAYS = 1

    response = owner_client.post("/overlays/", {"name": "maps"})

    assert response.status_code == 400
    body = response.content.decode()
    assert "quota reached: at most 1 overlay, you have 1" in body
    assert 'value="maps"' in body
    assert list(Overlay.objects.values_list("name", flat=True)) == ["campaigns"]
    assert _folders(settings) == [str(overlay.pk)]


def test_overlays_of_other_users_do_not_count(owner, stranger, settings):
    settings.LEFT4ME_QUOTA_OVERLAYS = 1
    overlay_create(owner=stranger, name="theirs")
    assert overlay_create(owner=owner, name="mine").owner == owner


# --- bytes on add -------------------------------------------------------------------------


def test_an_add_past_the_byte_limit_is_refused_with_400_and_writes_nothing(
    owner_client, owner, overlay, steam, settings
):
    settings.LEFT4ME_QUOTA_BYTES = 2 * GiB
    steam.add_item("101", size=1536 * MiB)
    steam.add_item("102", size=GiB)
    items_add(overlay=overlay, text="101", user=owner)
    Job.objects.update(state=Job.State.SUCCEEDED)  # built: the page offers the add form again
    jobs = Job.objects.count()

    response = owner_client.post(f"/overlays/{overlay.pk}/items/", {"input": "102"})

    assert response.status_code == 400
    body = response.content.decode()
    assert "quota reached: at most 2.0 GiB of workshop items, you use 1.5 GiB, this add needs 1.0 GiB" in body
    assert ">102</textarea>" in body
    assert not WorkshopItem.objects.filter(steam_id="102").exists()
    assert _linked(overlay) == {"101"}
    assert Job.objects.count() == jobs


def test_a_collection_that_does_not_fit_is_refused_whole(overlay, owner, steam, settings):
    settings.LEFT4ME_QUOTA_BYTES = GiB
    steam.add_item("201", size=600 * MiB)
    steam.add_item("202", size=600 * MiB)
    steam.add_collection("900", ["201", "202"])

    with pytest.raises(WorkshopInputError, match=r"you use 0 bytes, this add needs 1\.2 GiB$"):
        items_add(overlay=overlay, text="900", user=owner)

    assert not OverlayWorkshopCollection.objects.exists()
    assert not OverlayWorkshopItem.objects.exists()
    assert not WorkshopItem.objects.exists()


def test_an_item_counts_once_however_many_of_the_users_overlays_hold_it(overlay, owner, steam, settings):
    settings.LEFT4ME_QUOTA_BYTES = 2 * GiB
    steam.add_item("101", size=1536 * MiB)
    steam.add_item("102", size=GiB)
    items_add(overlay=overlay, text="101", user=owner)
    maps = overlay_create(owner=owner, name="maps")

    items_add(overlay=maps, text="101", user=owner)  # costs nothing: its file is the same

    assert quota_of(owner).used_bytes == 1536 * MiB
    with pytest.raises(WorkshopInputError, match=r"this add needs 1\.0 GiB"):
        items_add(overlay=maps, text="101 102", user=owner)
    assert _linked(maps) == {"101"}


def test_the_items_of_other_users_do_not_count(overlay, owner, stranger, steam, settings):
    settings.LEFT4ME_QUOTA_BYTES = GiB
    steam.add_item("101", size=GiB)
    theirs = overlay_create(owner=stranger, name="theirs")
    items_add(overlay=theirs, text="101", user=stranger)

    items_add(overlay=overlay, text="101", user=owner)

    assert quota_of(owner).used_bytes == quota_of(stranger).used_bytes == GiB


# --- bytes on refresh ---------------------------------------------------------------------


def test_a_refresh_links_what_fits_in_collection_order_and_reports_the_rest(owner, overlay, steam, settings):
    settings.LEFT4ME_QUOTA_BYTES = 1536 * MiB
    for sid, size in (("201", 400), ("202", 400), ("203", 400), ("204", 100), ("205", 400), ("206", 400)):
        steam.add_item(sid, size=size * MiB)
    steam.add_collection("900", ["201", "202"])
    items_add(overlay=overlay, text="900", user=owner)
    items_add(overlay=overlay_create(owner=owner, name="maps"), text="206", user=owner)  # 1200 MiB in use
    steam.add_collection("900", ["201", "202", "203", "204", "206", "205"])
    ctx = FakeContext()

    items_refresh_all(ctx=ctx)

    # 203 and 205 would pass 1.5 GiB; 204 is small enough; 206 is the owner's already.
    assert _linked(overlay) == {"201", "202", "204", "206"}
    assert quota_of(owner).used_bytes == 1300 * MiB
    assert OverlayWorkshopCollection.objects.get(overlay=overlay).left_out == 2
    assert (
        "overlay 'campaigns': 2 items of collection 900 left out: the owner's quota of 1.5 GiB is reached"
        in ctx.stderr
    )


def test_a_refresh_reports_both_the_overlay_limit_and_the_quota(owner, overlay, steam, settings):
    settings.WORKSHOP_MAX_ITEMS_PER_OVERLAY = 3
    settings.LEFT4ME_QUOTA_BYTES = 250
    for n in range(301, 306):
        steam.add_item(str(n), size=100)
    steam.add_collection("901", ["301"])
    items_add(overlay=overlay, text="901", user=owner)
    steam.add_collection("901", [str(n) for n in range(301, 306)])
    ctx = FakeContext()

    items_refresh_all(ctx=ctx)

    assert _linked(overlay) == {"301", "302"}
    assert ctx.stderr == [
        "overlay 'campaigns': 2 items of collection 901 left out: an overlay holds at most 3 workshop items",
        "overlay 'campaigns': 1 item of collection 901 left out: the owner's quota of 250 bytes is reached",
    ]
    assert OverlayWorkshopCollection.objects.get().left_out == 3


def test_including_an_excluded_item_again_past_the_limit_is_refused_with_400(
    owner_client, owner, overlay, steam, settings
):
    settings.LEFT4ME_QUOTA_BYTES = 1536 * MiB
    for sid in ("201", "202", "203"):
        steam.add_item(sid, size=600 * MiB)
    steam.add_collection("900", ["201", "202"])
    items_add(overlay=overlay, text="900", user=owner)
    owner_client.post(f"/overlays/{overlay.pk}/items/202/delete/")
    items_add(overlay=overlay, text="203", user=owner)

    response = owner_client.post(f"/overlays/{overlay.pk}/items/202/include/")

    assert response.status_code == 400
    assert "you use 1.2 GiB, this add needs 600.0 MiB" in response.content.decode()
    assert _linked(overlay) == {"201", "203"}
    assert overlay.workshop_exclusions.filter(item__steam_id="202").exists()


# --- per user -----------------------------------------------------------------------------


def test_a_users_own_limits_may_be_higher_or_lower_than_the_defaults(owner, stranger, steam, settings):
    settings.LEFT4ME_QUOTA_OVERLAYS = 1
    settings.LEFT4ME_QUOTA_BYTES = GiB
    steam.add_item("101", size=GiB)
    UserQuota.objects.create(user=owner, max_overlays=3, max_bytes=100 * MiB)

    for name in ("a", "b", "c"):
        overlay_create(owner=owner, name=name)
    with pytest.raises(OverlayError, match=r"^quota reached: at most 3 overlays, you have 3$"):
        overlay_create(owner=owner, name="d")
    with pytest.raises(WorkshopInputError, match=r"at most 100\.0 MiB of workshop items"):
        items_add(overlay=Overlay.objects.get(name="a"), text="101", user=owner)

    theirs = overlay_create(owner=stranger, name="theirs")  # the defaults
    items_add(overlay=theirs, text="101", user=stranger)
    with pytest.raises(OverlayError, match="at most 1 overlay, you have 1"):
        overlay_create(owner=stranger, name="more")


def test_an_empty_field_of_a_users_quota_means_the_default(owner, settings):
    settings.LEFT4ME_QUOTA_OVERLAYS = 7
    settings.LEFT4ME_QUOTA_BYTES = 123
    UserQuota.objects.create(user=owner, max_bytes=5)
    quota = quota_of(owner)
    assert (quota.max_overlays, quota.max_bytes) == (7, 5)


def test_staff_are_exempt_from_the_defaults_unless_their_quota_sets_a_limit(staff, steam, settings):
    settings.LEFT4ME_QUOTA_OVERLAYS = 0
    settings.LEFT4ME_QUOTA_BYTES = 0
    steam.add_item("101", size=GiB)

    first = overlay_create(owner=staff, name="first")
    items_add(overlay=first, text="101", user=staff)

    UserQuota.objects.create(user=staff, max_overlays=1)
    with pytest.raises(OverlayError, match="at most 1 overlay, you have 1"):
        overlay_create(owner=staff, name="second")
    assert quota_of(staff).max_bytes is None  # still no byte limit


# --- pages --------------------------------------------------------------------------------


def test_the_list_shows_the_owners_use_against_their_limits(owner_client, owner, overlay):
    item = WorkshopItem.objects.create(steam_id="101", file_size=3 * GiB + 400 * MiB)
    OverlayWorkshopItem.objects.create(overlay=overlay, item=item)
    OverlayWorkshopItem.objects.create(overlay=overlay_create(owner=owner, name="maps"), item=item)

    body = owner_client.get("/overlays/").content.decode()

    assert "You use 2 of 50 overlays · 3.4 GiB of 200.0 GiB" in body


def test_the_list_tells_staff_without_limits_so(client, staff):
    client.force_login(staff)
    assert (
        "You use 0 overlays · 0 bytes of workshop items: no limits"
        in client.get("/overlays/").content.decode()
    )
    UserQuota.objects.create(user=staff, max_bytes=GiB)
    assert "You use 0 overlays (no limit) · 0 bytes of 1.0 GiB" in client.get("/overlays/").content.decode()


def test_the_admin_sets_a_users_quota(superuser, owner):
    client = Client()
    client.force_login(superuser)

    page = client.get(f"/admin/auth/user/{owner.pk}/change/").content.decode()
    assert 'name="quota-0-max_overlays"' in page

    response = client.post(
        "/admin/overlays/userquota/add/", {"user": owner.pk, "max_overlays": "3", "max_bytes": ""}
    )
    assert response.status_code == 302
    quota = UserQuota.objects.get(user=owner)
    assert (quota.max_overlays, quota.max_bytes) == (3, None)
    listing = client.get("/admin/overlays/userquota/").content.decode()
    assert "0 of 3 overlays · 0 bytes of 200.0 GiB" in listing


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [("10 GiB", 10 * GiB, "10 GiB"), ("10 GB", 10**10, "10 GB"), ("500 MiB", 500 * 2**20, "500 MiB"),
     ("1073741824", GiB, "1 GiB")],
)  # fmt: skip
def test_the_admin_takes_a_size_with_its_unit_and_shows_it_so(superuser, owner, typed, stored, shown):
    client = Client()
    client.force_login(superuser)
    response = client.post(
        "/admin/overlays/userquota/add/", {"user": owner.pk, "max_overlays": "", "max_bytes": typed}
    )
    assert response.status_code == 302
    quota = UserQuota.objects.get(user=owner)
    assert quota.max_bytes == stored
    page = client.get(f"/admin/overlays/userquota/{quota.pk}/change/").content.decode()
    assert f'name="max_bytes" value="{shown}"' in page


def test_a_size_the_admin_cannot_read_is_refused_and_changes_nothing(superuser, owner):
    client = Client()
    client.force_login(superuser)
    quota = UserQuota.objects.create(user=owner, max_bytes=GiB)
    response = client.post(
        f"/admin/overlays/userquota/{quota.pk}/change/",
        {"user": owner.pk, "max_overlays": "", "max_bytes": "ten gigs"},
    )
    assert response.status_code == 200
    assert (
        "&#x27;ten gigs&#x27; is not a size: write a number and a unit, as in 500 MiB"
        in response.content.decode()
    )
    quota.refresh_from_db()
    assert quota.max_bytes == GiB
    listing = client.get("/admin/overlays/userquota/").content.decode()
    assert '<td class="field-max_size">1.0 GiB</td>' in listing
