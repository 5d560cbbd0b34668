"""Each host's cache collection: the daily one runs on every host, and a host collects by what
its own overlays link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fleet.gc import cache_collect
from fleet.services import cache_collect_enqueue_all
from left4me.models import Host
from overlays.build import cache_file, overlay_build
from overlays.items import items_add
from overlays.models import Overlay
from overlays.services import overlay_create
from tests.support.helpers import FakeContext

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


@pytest.fixture
def gs1() -> Host:
    return Host.objects.create(name="gs1", root="/srv/gs1/left4me", last_seen_at=timezone.now())


def test_the_daily_collection_runs_on_every_host(
    gs1: Host, sent: Any, django_capture_on_commit_callbacks: Any
) -> None:
    Host.objects.create(name="idle")  # never seen, no overlays: nothing to collect there
    with django_capture_on_commit_callbacks(execute=True):
        jobs = cache_collect_enqueue_all(user=None)
    assert [(job.subject_name, job.queue) for job in jobs] == [("local", "celery"), ("gs1", "host-gs1")]


def test_a_host_collects_what_only_other_hosts_use_after_the_grace(
    owner: Any, overlay: Overlay, gs1: Host, steam: Any, sent: Any
) -> None:
    steam.add_item("801", size=1000)
    steam.add_item("802", size=2000)
    items_add(overlay=overlay, text="801 802", user=owner)
    overlay_build(overlay=overlay, ctx=FakeContext())
    # 802 moves on: only an overlay on gs1 uses it now; this host still has its file.
    elsewhere = overlay_create(owner=owner, name="far", host=gs1)
    items_add(overlay=elsewhere, text="802", user=owner)
    overlay.workshop_links.filter(item__steam_id="802").delete()
    here = Host.objects.get(name="local")

    first = cache_collect(host=here, log=lambda line: None)
    assert cache_file("802").exists() and first.waiting == 1  # its grace starts now, on this host only
    marks = Host.objects.get(pk=here.pk).cache_unlinked
    assert set(marks) == {"802"} and Host.objects.get(pk=gs1.pk).cache_unlinked == {}

    Host.objects.filter(pk=here.pk).update(
        cache_unlinked={"802": (timezone.now() - timedelta(days=8)).isoformat()}
    )
    lines: list[str] = []
    cache_collect(host=Host.objects.get(pk=here.pk), log=lines.append)

    assert not cache_file("802").exists() and cache_file("801").exists()
    assert any("no overlay on host local links it since" in line for line in lines)
