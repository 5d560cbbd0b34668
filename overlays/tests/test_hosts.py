"""Overlays placed on hosts: where they are made, where their jobs go, what staff may move (each
host's cache collection: fleet/tests/test_hosts.py; the fleet itself: tests/test_hosts.py)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.models import Job
from left4me.hosts import folder_bytes, host_register
from left4me.models import Host
from overlays.models import Overlay
from overlays.services import (
    OverlayError,
    build_enqueue,
    old_folder_clear_enqueue,
    overlay_create,
    overlay_move_enqueue,
    overlay_move_finish,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


@pytest.fixture
def gs1() -> Host:
    return Host.objects.create(name="gs1", root="/srv/gs1/left4me", last_seen_at=timezone.now())


def test_a_new_overlay_goes_to_the_default_host_and_its_folder_is_made_here(owner: Any) -> None:
    overlay = overlay_create(owner=owner, name="alone")
    assert overlay.host.name == "local" and overlay.host.job_queue == "celery"
    assert overlay.addons_path.is_dir()
    assert not Job.objects.exists()


def test_an_overlay_on_another_host_is_made_there_by_a_build_on_its_queue(
    owner: Any, gs1: Host, sent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        overlay = overlay_create(owner=owner, name="far", host=gs1)

    assert not overlay.path.exists()  # not this machine's folder to make
    [job] = Job.objects.all()
    assert (job.operation, job.queue, job.reason) == ("build_overlay", "host-gs1", "created")
    assert [call["queue"] for call in sent.calls] == ["host-gs1"]
    assert overlay.host_path == f"/srv/gs1/left4me/overlays/{overlay.pk}"


def test_the_queue_a_worker_registered_wins(owner: Any, gs1: Host, sent: Any) -> None:
    Host.objects.filter(pk=gs1.pk).update(queue="storage-1")
    overlay = overlay_create(owner=owner, name="far", host=Host.objects.get(pk=gs1.pk))
    assert Job.objects.get(subject_id=overlay.pk).queue == "storage-1"


def test_a_closed_host_takes_only_its_users_and_operators(
    owner: Any, stranger: Any, operator: Any, gs1: Host, sent: Any
) -> None:
    gs1.open_to_all = False
    gs1.save()
    gs1.users.add(owner)

    assert overlay_create(owner=owner, name="mine", host=gs1).host == gs1
    assert overlay_create(owner=operator, name="ops", host=gs1).host == gs1
    with pytest.raises(OverlayError, match="may not place overlays on host 'gs1'"):
        overlay_create(owner=stranger, name="theirs", host=gs1)
    assert not Overlay.objects.filter(owner=stranger).exists()


def test_the_list_offers_the_hosts_and_creates_on_the_one_picked(
    owner_client: Any, owner: Any, gs1: Host, sent: Any
) -> None:
    page = owner_client.get("/overlays/").content.decode()
    assert '<select name="host">' in page and '<option value="gs1">' in page

    response = owner_client.post("/overlays/", {"name": "far", "host": "gs1"})
    assert response.status_code == 302
    assert Overlay.objects.get(name="far").host == gs1
    assert owner_client.post("/overlays/", {"name": "near", "host": "local"}).status_code == 302
    assert Overlay.objects.get(name="near").host.name == "local"  # the default, made on first use

    refused = owner_client.post("/overlays/", {"name": "nowhere", "host": "gs9"})
    assert refused.status_code == 400 and "there is no host &#x27;gs9&#x27;" in refused.content.decode()
    assert not Overlay.objects.filter(name="nowhere").exists()


def test_a_default_host_closed_to_the_user_is_not_offered(owner_client: Any, gs1: Host) -> None:
    Host.objects.create(name="local", open_to_all=False)
    Host.objects.create(name="gs2")
    page = owner_client.get("/overlays/").content.decode()
    assert '<option value="local"' not in page and '<option value="gs1" selected>' in page

    refused = owner_client.post("/overlays/", {"name": "here", "host": "local"})
    assert refused.status_code == 400
    assert "you may not place overlays on host &#x27;local&#x27;" in refused.content.decode()
    assert not Overlay.objects.filter(name="here").exists()
    Host.objects.filter(name="gs2").delete()  # one host left to this user: no choice, it is used
    assert '<select name="host">' not in owner_client.get("/overlays/").content.decode()
    assert owner_client.post("/overlays/", {"name": "there"}).status_code == 302
    assert Overlay.objects.get(name="there").host == gs1


def test_a_host_that_has_not_reported_shows_no_folder_of_this_machine(
    owner_client: Any, owner: Any, sent: Any
) -> None:
    overlay = overlay_create(owner=owner, name="far", host=Host.objects.create(name="gs2"))
    page = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert f"&lt;data folder of the host, not reported yet&gt;/overlays/{overlay.pk}/left4dead2" in page


def test_one_host_shows_no_choice(owner_client: Any) -> None:
    assert '<select name="host">' not in owner_client.get("/overlays/").content.decode()


def test_the_overlay_page_names_its_host_and_says_when_it_is_down(
    owner_client: Any, owner: Any, gs1: Host, sent: Any, settings: Any
) -> None:
    overlay = overlay_create(owner=owner, name="far", host=gs1)
    page = owner_client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert "gs1" in page and "host down" not in page
    assert f"/srv/gs1/left4me/overlays/{overlay.pk}/left4dead2" in page

    Host.objects.filter(pk=gs1.pk).update(last_seen_at=timezone.now() - timedelta(minutes=10))
    settings.LEFT4ME_HOST_DOWN_AFTER_SECONDS = 60
    assert "host down: its jobs wait" in owner_client.get(f"/overlays/{overlay.pk}/").content.decode()


def test_only_operators_move_an_overlay_and_the_move_runs_on_the_new_host(
    client: Any, owner: Any, operator: Any, overlay: Overlay, gs1: Host, sent: Any
) -> None:
    client.force_login(owner)
    assert "Move to another host" not in client.get(f"/overlays/{overlay.pk}/").content.decode()
    assert client.post(f"/overlays/{overlay.pk}/move/", {"host": "gs1"}).status_code == 403

    client.force_login(operator)
    assert "Move to another host" in client.get(f"/overlays/{overlay.pk}/").content.decode()
    response = client.post(f"/overlays/{overlay.pk}/move/", {"host": "gs1"})

    job = Job.objects.get(operation="move_overlay")
    assert response.status_code == 302 and job.queue == "host-gs1"
    overlay.refresh_from_db()
    assert (overlay.host.name, overlay.moving_to) == ("local", gs1)
    with pytest.raises(OverlayError, match="already"):
        overlay_move_enqueue(overlay=overlay, host=Host.objects.get(name="local"), user=operator)


def test_a_build_queued_before_the_move_finished_goes_with_the_overlay(
    owner: Any, operator: Any, overlay: Overlay, gs1: Host, sent: Any
) -> None:
    overlay_move_enqueue(overlay=overlay, host=gs1, user=operator)
    early = build_enqueue(overlay=overlay, user=owner, reason="added 1 item")  # while it moves
    assert early.queue == "celery"

    old, new = overlay_move_finish(overlay=overlay)

    early.refresh_from_db()
    again = Job.objects.get(operation="build_overlay", state=Job.State.QUEUED)
    assert (old.name, new.name, early.state) == ("local", "gs1", Job.State.CANCELLED)
    assert (again.queue, again.reason, again.user) == ("host-gs1", "added 1 item", owner)
    texts = list(early.lines.values_list("text", flat=True))
    assert f"the overlay moved to host gs1: job {again.pk} runs this there" in texts
    assert build_enqueue(overlay=overlay, user=None, reason="later").queue == "host-gs1"


def test_the_old_folder_is_cleared_on_the_host_the_overlay_left(
    overlay: Overlay, gs1: Host, sent: Any
) -> None:
    local = overlay.host
    Overlay.objects.filter(pk=overlay.pk).update(host=gs1)
    job = old_folder_clear_enqueue(overlay=Overlay.objects.get(pk=overlay.pk), host=local)
    assert (job.operation, job.queue, job.reason) == ("clear_overlay_folder", "celery", "moved from local")


def test_a_move_or_collection_on_an_unknown_host_says_so_and_changes_nothing(
    client: Any, operator: Any, overlay: Overlay, sent: Any
) -> None:
    client.force_login(operator)
    response = client.post(f"/overlays/{overlay.pk}/move/", {"host": "gs9"})
    assert response.status_code == 400 and "there is no host &#x27;gs9&#x27;" in response.content.decode()
    response = client.post(f"/overlays/{overlay.pk}/move/", {"host": ""})
    assert (
        response.status_code == 400 and "Choose a host to move the overlay to." in response.content.decode()
    )
    response = client.post("/storage/collect/", {"host": "gs9"})
    assert response.status_code == 400 and "there is no host &#x27;gs9&#x27;" in response.content.decode()
    overlay.refresh_from_db()
    assert (overlay.host.name, overlay.moving_to, Job.objects.count()) == ("local", None, 0)


def test_a_worker_registers_its_host_and_reports_on_it(settings: Any, tmp_path: Any) -> None:
    settings.LEFT4ME_HOST, settings.LEFT4ME_WORKER_QUEUE = "gs2", "host-gs2"
    settings.LEFT4ME_ROOT = tmp_path
    settings.WORKSHOP_CACHE_ROOT.mkdir(parents=True)
    (settings.WORKSHOP_CACHE_ROOT / "1.vpk").write_bytes(b"x" * 1234)
    os.link(settings.WORKSHOP_CACHE_ROOT / "1.vpk", settings.WORKSHOP_CACHE_ROOT / "copy")

    host = host_register()

    host.refresh_from_db()
    assert (host.name, host.queue, host.root) == ("gs2", "host-gs2", str(tmp_path))
    assert host.cache_bytes == 1234 == folder_bytes(settings.WORKSHOP_CACHE_ROOT)  # hard links once
    assert host.free_bytes and host.total_bytes and host.health == "ok" and not host.is_down
