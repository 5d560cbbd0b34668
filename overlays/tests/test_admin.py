from __future__ import annotations

import pytest

from jobs.models import Job
from tests.support.helpers import item_from_steam

pytestmark = pytest.mark.django_db


def _action(client, url, action, pks):
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)


def test_overlay_actions_refresh_and_rebuild(client, superuser, overlay, steam):
    client.force_login(superuser)
    steam.add_item("101", size=16)
    item = item_from_steam(steam, "101", overlay=overlay)

    _action(client, "/admin/overlays/overlay/", "refresh_from_steam", [overlay.pk])
    _action(client, "/admin/overlays/overlay/", "rebuild", [overlay.pk])
    assert sorted(Job.objects.values_list("operation", flat=True)) == ["build_overlay", "refresh_overlay"]

    Job.objects.all().delete()
    response = _action(client, "/admin/workshop/workshopitem/", "refresh", [item.pk])
    assert response.status_code == 200
    assert list(Job.objects.values_list("operation", "subject_id")) == [("refresh_overlay", overlay.pk)]


def test_the_admin_creates_and_deletes_overlays_the_way_the_pages_do(client, superuser, owner, private_roots):
    from overlays.models import Overlay

    client.force_login(superuser)
    response = client.post(
        "/admin/overlays/overlay/add/", {"owner": owner.pk, "name": "from the admin", "kind": "workshop"}
    )
    assert response.status_code == 302, response.content.decode()[:400]
    overlay = Overlay.objects.get(name="from the admin")
    assert overlay.addons_path.is_dir()

    client.post(f"/admin/overlays/overlay/{overlay.pk}/delete/", {"post": "yes"})

    overlay.refresh_from_db()
    assert overlay.deleting
    assert Job.objects.get(operation="delete_overlay").subject_id == overlay.pk


def test_the_admin_refuses_an_overlay_past_the_quota_or_with_a_taken_name(client, superuser, owner, overlay):
    from overlays.models import Overlay, UserQuota

    client.force_login(superuser)
    response = client.post("/admin/overlays/overlay/add/", {"owner": owner.pk, "name": "campaigns"})
    assert response.status_code == 200
    assert "you already have an overlay named &#x27;campaigns&#x27;" in response.content.decode()

    UserQuota.objects.create(user=owner, max_overlays=1)
    response = client.post("/admin/overlays/overlay/add/", {"owner": owner.pk, "name": "second"})
    assert "quota reached: at most 1 overlay, you have 1" in response.content.decode()
    response = client.post("/admin/overlays/overlay/add/", {"owner": owner.pk, "name": "bad\u202ename"})
    assert "control or format characters" in response.content.decode()
    assert list(Overlay.objects.values_list("name", flat=True)) == ["campaigns"]


def test_the_overlay_change_page_shows_items_folder_and_latest_build(
    client, superuser, overlay, steam, owner
):
    from overlays.services import build_enqueue

    client.force_login(superuser)
    steam.add_item("101", size=16)
    item_from_steam(steam, "101", overlay=overlay)
    job = build_enqueue(overlay=overlay, user=owner, reason="added 1 item")

    html = client.get(f"/admin/overlays/overlay/{overlay.pk}/change/").content.decode()

    assert str(overlay.path) in html
    assert f'<a href="/jobs/{job.pk}/">Build &#x27;campaigns&#x27; · added 1 item</a> (Queued, ' in html
    # A count and a link to the items (100 a page), not every item inline.
    assert "1 item · " in html
    assert f'href="/admin/overlays/overlayworkshopitem/?overlay__id__exact={overlay.pk}"' in html
    assert "workshop_links-0" not in html
    listing = client.get(f"/admin/overlays/overlayworkshopitem/?overlay__id__exact={overlay.pk}")
    assert listing.status_code == 200 and "Item 101" in listing.content.decode()


def test_the_bulk_delete_action_queues_delete_jobs_and_keeps_the_rows(client, superuser, owner, overlay):
    from overlays.models import Overlay
    from overlays.services import overlay_create

    other = overlay_create(owner=owner, name="other")
    client.force_login(superuser)

    _action(client, "/admin/overlays/overlay/", "delete_selected", [overlay.pk, other.pk])
    response = client.post(
        "/admin/overlays/overlay/",
        {"action": "delete_selected", "_selected_action": [overlay.pk, other.pk], "post": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert set(Overlay.objects.values_list("name", "deleting")) == {("campaigns", True), ("other", True)}
    jobs = Job.objects.filter(operation="delete_overlay")
    assert sorted(jobs.values_list("subject_id", flat=True)) == sorted([overlay.pk, other.pk])
    assert set(jobs.values_list("reason", flat=True)) == {"delete"}
    assert overlay.addons_path.is_dir()  # the job removes the folder, not the request
