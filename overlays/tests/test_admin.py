from __future__ import annotations

import pytest

from jobs.models import Job
from tests.support.helpers import item_from_steam

pytestmark = pytest.mark.django_db


def _action(client, url, action, pks):
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)


def test_overlay_actions_refresh_and_rebuild(client, superuser, overlay, steam):
    client.force_login(superuser)
    steam.add_item("101", size=1)
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
