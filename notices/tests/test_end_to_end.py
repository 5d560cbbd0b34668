"""Done when: an item added, its upload changed on the stand-in Steam, a refresh: exactly one
notice at a local receiver naming the item and what changed; the history lists both uploads,
and rolling back from it relinks the older one. A real worker, the private Redis."""

from __future__ import annotations

import time

import pytest

from jobs.models import Job
from overlays.models import Overlay
from tests.support.fakesteam import FakeSteam
from tests.support.helpers import T0, link_target
from tests.support.receiver import NoticeReceiver
from tests.support.vpkfiles import addoninfo, mission, vpk_bytes
from tests.support.workers import running_worker, wait_for
from workshop.cache import version_path

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ITEM = "7780001"
BEFORE = {
    "addoninfo.txt": addoninfo("Dark Carnival Remix"),
    "missions/carnival.txt": mission("carnival", {"coop": ["c2m1_highway"]}),
    "maps/c2m1_highway.bsp": b"\x01" * 3000,
}
AFTER = {
    **BEFORE,
    "missions/carnival.txt": mission("carnival", {"coop": ["c2m1_highway", "c2m6_encore"]}),
    "maps/c2m6_encore.bsp": b"\x02" * 3000,
}


def _job_of(response) -> Job:
    assert response.status_code == 302, response.content.decode()[:500]
    pk = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    return wait_for(lambda: Job.objects.filter(pk=pk, state__in=Job.FINAL_STATES).first(), timeout=60)


def test_a_refresh_that_finds_an_update_tells_once_and_the_history_rolls_back(
    client, django_user_model, settings, tmp_path
):
    settings.LEFT4ME_NOTIFY_PRIVATE_HOSTS = ["127.0.0.1"]
    settings.LEFT4ME_NOTIFY_DIGEST_SECONDS = 0
    django_user_model.objects.create_superuser("op", password="correct horse battery")
    with FakeSteam() as steam, NoticeReceiver() as receiver:
        settings.STEAM_API_BASE_URL = steam.base_url  # before the worker starts: it takes it along
        steam.add_item(ITEM, data=vpk_bytes(tmp_path, BEFORE), time_updated=T0, title="Dark Carnival Remix")
        with running_worker(concurrency=2):
            client.post("/accounts/login/", {"username": "op", "password": "correct horse battery"})
            answer = client.post("/account/notifications/", {"name": "hook", "url": receiver.url})
            assert answer.status_code == 302
            assert client.post("/overlays/", {"name": "carnival"}).status_code == 302
            overlay = Overlay.objects.get(name="carnival")
            add = {"input": ITEM, "input_mode": "items"}
            added = _job_of(client.post(f"/overlays/{overlay.pk}/items/", add))
            assert added.state == "succeeded", added.error

            after = vpk_bytes(tmp_path, AFTER)
            steam.add_item(ITEM, data=after, time_updated=T0 + 3600, title="Dark Carnival Remix")
            refresh = _job_of(client.post(f"/overlays/{overlay.pk}/refresh/"))
            assert refresh.state == "succeeded", refresh.error
            changed = "1 file changed, 1 file added, 1 map added: c2m6_encore"
            assert refresh.summary == f"updated: Dark Carnival Remix ({changed})"

            wait_for(lambda: receiver.received, timeout=30)
            deliveries = Job.objects.filter(operation="deliver_notices")
            wait_for(lambda: not deliveries.filter(state__in=Job.ACTIVE_STATES).exists(), timeout=30)
            time.sleep(0.5)  # nothing more comes
            (message,) = receiver.received
            assert message["title"] == "carnival: items updated"
            assert message["message"] == refresh.summary

            history = f"/overlays/{overlay.pk}/items/{ITEM}/history/"
            page = client.get(history).content.decode()
            assert page.count('id="upload-') == 2 and changed in page
            rolled = _job_of(client.post(history, {"version": str(T0)}))
            assert rolled.state == "succeeded", rolled.error

    assert link_target(overlay.addons_path / f"{ITEM}.vpk") == str(
        version_path(settings.WORKSHOP_CACHE_ROOT, ITEM, T0)
    )
