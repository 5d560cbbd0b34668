"""Destinations, the trust boundary, and delivery through apprise to a local receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from jobs.models import Job
from jobs.signals import job_ended
from notices.events import Event
from notices.models import Destination, Notice
from notices.operations import DELIVER_NOTICES
from notices.services import notice_announce
from notices.tasks import deliver_notices
from tests.support.helpers import make_job

pytestmark = pytest.mark.django_db


def _deliver(destination: Destination) -> Job:
    """Run the destination's delivery job as a worker would, due or not."""
    job = Job.objects.of(destination).filter(operation=DELIVER_NOTICES.name).latest("id")
    Job.objects.filter(pk=job.pk).update(retry_at=None)
    deliver_notices.run(job.pk)
    return Job.objects.get(pk=job.pk)


def test_an_event_reaches_the_receiver_through_apprise_s_json_webhook(hook, operator, receiver):
    notice_announce(
        user=operator, event=Event.ITEMS_UPDATED, title="Versus: items updated", body="updated: A"
    )
    job = _deliver(hook)
    assert job.state == "succeeded" and job.queue == "housekeeping"
    assert [(m["title"], m["message"]) for m in receiver.received] == [
        ("Versus: items updated", "updated: A")
    ]
    assert Notice.objects.get().sent_at is not None


def test_a_burst_within_the_digest_goes_out_as_one_message(hook, operator, receiver, settings):
    settings.LEFT4ME_NOTIFY_DIGEST_SECONDS = 60
    for name in ("first", "second", "third"):
        notice_announce(user=operator, event=Event.ITEMS_UPDATED, title=f"{name}: updated", body=name)
    assert Job.objects.of(hook).count() == 1  # the notices joined one queued delivery

    job = _deliver(hook)
    assert job.state == "queued" and job.retry_at is not None  # waits for the digest
    assert receiver.received == []
    Notice.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    assert _deliver(hook).state == "succeeded"
    (message,) = receiver.received
    assert message["title"] == "left4me: 3 notices"
    assert "first: updated" in message["message"] and "third: updated" in message["message"]


def test_a_failing_destination_is_retried_then_disabled_and_shown_so(
    hook, operator, receiver, settings, client
):
    settings.JOB_RETRIES = 1
    receiver.status = 500
    notice_announce(user=operator, event=Event.BUILD_FAILED, title="Build failed", body="disk")

    assert _deliver(hook).state == "queued"  # waits to retry
    hook.refresh_from_db()
    assert (hook.failures, hook.disabled) == (1, False)
    job = _deliver(hook)
    assert job.state == "failed" and "destination disabled" in job.error
    hook.refresh_from_db()
    assert hook.disabled and hook.failures == 2 and hook.url not in hook.last_error
    assert "error=500" in hook.last_error

    assert notice_announce(user=operator, event=Event.BUILD_FAILED, title="again", body="") == 0
    client.force_login(operator)
    page = client.get("/account/notifications/").content.decode()
    assert "disabled" in page and "after 2 failed deliveries" in page

    receiver.status = 200  # the test button enables it again and sends at once
    settings.LEFT4ME_NOTIFY_DIGEST_SECONDS = 60
    assert client.post(f"/account/notifications/{hook.pk}/test/").status_code == 302
    assert _deliver(hook).state == "succeeded"
    # the notice that failed goes along with the test
    assert receiver.received[-1]["title"] == "left4me: 2 notices"
    assert "left4me: test notice" in receiver.received[-1]["message"]
    hook.refresh_from_db()
    assert not hook.disabled and hook.failures == 0


def test_a_destination_is_added_shown_masked_tested_and_removed(operator, receiver, client):
    client.force_login(operator)
    answer = client.post(
        "/account/notifications/",
        {"name": "ops", "url": receiver.url, "events": ["build_failed", "disk_low"]},
    )
    assert answer.status_code == 302
    destination = Destination.objects.get()
    assert destination.events == ["build_failed", "disk_low"]
    page = client.get("/account/notifications/").content.decode()
    assert "json://12….1/…" in page and receiver.url not in page and "/hook" not in page

    assert client.post(f"/account/notifications/{destination.pk}/test/").status_code == 302
    assert _deliver(destination).state == "succeeded"
    assert len(receiver.received) == 1
    assert notice_announce(user=operator, event=Event.ITEMS_UPDATED, title="x", body="") == 0  # not taken

    assert client.post(f"/account/notifications/{destination.pk}/delete/").status_code == 302
    assert not Destination.objects.exists()


def test_a_private_address_is_refused_unless_the_setting_names_it(operator, client, settings):
    settings.LEFT4ME_NOTIFY_PRIVATE_HOSTS = []
    client.force_login(operator)
    for url in (
        "json://127.0.0.1:9/hook",
        "ntfy://10.1.2.3/topic",
        "mailto://u:p@example.com?smtp=192.168.1.5",
    ):
        answer = client.post("/account/notifications/", {"name": "lan", "url": url})
        assert answer.status_code == 400
        assert "resolves to a private address" in answer.content.decode()
    settings.LEFT4ME_NOTIFY_PRIVATE_HOSTS = ["10.1.2.3"]
    assert (
        client.post("/account/notifications/", {"name": "lan", "url": "ntfy://10.1.2.3/topic"}).status_code
        == 302
    )


def test_only_operators_add_arbitrary_webhooks_and_operator_events(owner, owner_client, settings):
    settings.LEFT4ME_NOTIFY_PRIVATE_HOSTS = ["127.0.0.1"]
    for url in ("json://127.0.0.1:9/", "form://127.0.0.1:9/", "xml://127.0.0.1:9/"):
        answer = owner_client.post("/account/notifications/", {"name": "hook", "url": url})
        assert answer.status_code == 400 and "only operators may add" in answer.content.decode()
    discord = "discord://123456789012345678/webhook-token"
    answer = owner_client.post("/account/notifications/", {"name": "d", "url": discord, "events": "disk_low"})
    assert answer.status_code == 400 and "not an event you may take: disk_low" in answer.content.decode()
    assert owner_client.post("/account/notifications/", {"name": "d", "url": "nope"}).status_code == 400
    assert owner_client.post("/account/notifications/", {"name": "d", "url": discord}).status_code == 302
    assert "webhook-token" not in owner_client.get("/account/notifications/").content.decode()


def test_another_user_s_destination_is_refused(hook, owner_client):
    assert owner_client.post(f"/account/notifications/{hook.pk}/test/").status_code == 403
    assert owner_client.post(f"/account/notifications/{hook.pk}/delete/").status_code == 403
    assert Destination.objects.filter(pk=hook.pk).exists()


def test_a_failed_build_tells_its_owner(hook, operator, overlay):
    job = make_job(
        "build_overlay", subject=overlay, owner=operator, state="failed", error="disk full", retries=3
    )
    job_ended.send(sender=Job, job_id=job.pk, state="failed")
    notice = Notice.objects.get()
    assert notice.event == "build_failed" and notice.body == "disk full" and "after 3 retries" in notice.title


def test_every_logged_in_page_links_the_notifications(owner_client):
    assert 'href="/account/notifications/"' in owner_client.get("/overlays/").content.decode()


def test_the_page_needs_a_login():
    assert Client().get("/account/notifications/").status_code == 302


def test_operators_hear_once_of_a_host_gone_silent(hook, owner, settings):
    from jobs.tasks import reap_stale_jobs
    from left4me.models import Host

    Destination.objects.create(user=owner, name="mine", url=hook.url)  # not an operator: not told
    silent = timezone.now() - timedelta(seconds=settings.LEFT4ME_HOST_DOWN_AFTER_SECONDS + 5)
    Host.objects.create(name="far", last_seen_at=silent)
    reap_stale_jobs()
    reap_stale_jobs()
    (notice,) = Notice.objects.all()
    assert (notice.destination, notice.event, notice.title) == (hook, "host_down", "host far is down")


def test_operators_hear_of_a_user_near_their_quota(hook, owner, steam, settings):
    from overlays.items import items_add
    from overlays.models import UserQuota
    from overlays.services import overlay_create

    UserQuota.objects.create(user=owner, max_bytes=1000)
    steam.add_item("601", size=500)
    steam.add_item("602", size=450)
    overlay = overlay_create(owner=owner, name="full")
    items_add(overlay=overlay, text="601", user=owner)
    assert not Notice.objects.exists()  # half of the quota
    items_add(overlay=overlay, text="602", user=owner)
    (notice,) = Notice.objects.all()
    assert notice.event == "quota_near" and notice.title == "alice is near their quota"


def test_operators_hear_of_a_build_refused_for_want_of_disk(hook, settings, tmp_path):
    from jobs.runner import JobFailed
    from overlays.build import _check_disk
    from workshop.models import WorkshopItem

    settings.WORKSHOP_CACHE_ROOT = tmp_path
    settings.WORKSHOP_MIN_FREE_BYTES = 2**60
    with pytest.raises(JobFailed, match="not enough disk space"):
        _check_disk([WorkshopItem(steam_id="1", file_size=10)])
    (notice,) = Notice.objects.all()
    assert (notice.event, notice.title) == ("disk_low", f"host {settings.LEFT4ME_HOST}: disk low")


def test_a_refused_url_s_secret_reaches_no_log(owner_client, caplog):
    secret = "discord://1234567/s3cret-token-part"
    with caplog.at_level("DEBUG"):
        answer = owner_client.post(
            "/account/notifications/", {"name": "d", "url": secret.rsplit("/", 1)[0] + "/"}
        )
        owner_client.post("/account/notifications/", {"name": "e", "url": "nonsense://s3cret@x"})
    assert answer.status_code == 400
    assert "s3cret" not in caplog.text and "1234567" not in caplog.text
