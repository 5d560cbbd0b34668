"""`manage.py workshop_inspect --reindex`: every cached upload read again, as a job with progress."""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command

from fleet.tasks import reindex_workshop_contents
from jobs.models import Job
from tests.support.helpers import T0, item_from_steam, put_in_cache
from tests.support.vpkfiles import addoninfo, vpk_bytes
from workshop.cache import keep_version
from workshop.models import WorkshopItemContents

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_roots")]


def test_reindex_reads_every_cached_version_again_as_a_job(steam, tmp_path, settings):
    steam.add_item("6001", size=16, time_updated=T0 + 9)
    steam.add_item("6002", size=16)
    first, second = item_from_steam(steam, "6001"), item_from_steam(steam, "6002")
    (tmp_path / "old").mkdir()
    put_in_cache(first, vpk_bytes(tmp_path / "old", {"addoninfo.txt": addoninfo("Old")}), mtime=T0)
    keep_version(settings.WORKSHOP_CACHE_ROOT, "6001", first.cache_path)
    first.cache_path.unlink()  # the kept upload is a hard link: a new file, not new bytes in it
    put_in_cache(first, vpk_bytes(tmp_path, {"addoninfo.txt": addoninfo("New")}), mtime=T0 + 9)
    keep_version(settings.WORKSHOP_CACHE_ROOT, "6001", first.cache_path)
    put_in_cache(second, b"not a vpk at all", mtime=T0)
    WorkshopItemContents.objects.create(item=first, version=T0, title="stale row from an older reader")
    out = io.StringIO()

    call_command("workshop_inspect", "--reindex", stdout=out)
    job = Job.objects.get(operation="reindex_workshop_contents")
    assert out.getvalue() == f"enqueued reindex_workshop_contents job {job.pk}\n"
    reindex_workshop_contents.run(job.pk)

    job.refresh_from_db()
    assert job.state == "succeeded"
    assert (job.items_done, job.items_total) == (3, 3)
    rows = {(r.item.steam_id, r.version): r for r in WorkshopItemContents.objects.select_related("item")}
    assert sorted(rows) == [("6001", T0), ("6001", T0 + 9), ("6002", T0)]
    assert rows["6001", T0].title == "Old" and rows["6001", T0 + 9].title == "New"
    assert not rows["6002", T0].readable and rows["6002", T0].problem.startswith("not a valid VPK: bad magic")
    lines = list(job.lines.values_list("text", flat=True))
    assert f"workshop 6002 upload {T0}: not a valid VPK: bad magic 6e6f7420" in lines
    assert "workshop contents reindexed: 3 upload(s) read, 0 overlay(s) updated" in lines
    assert os.path.exists(first.cache_path)
