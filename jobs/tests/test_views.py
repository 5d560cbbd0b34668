from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, JobItem, JobLogLine
from jobs.services import job_log
from jobs.views import STATUS_MAX_ITEMS
from tests.support.helpers import make_job, make_overlay

pytestmark = pytest.mark.django_db


def _job_with_lines(user: User, n: int, **fields: object) -> Job:
    job = make_job(user=user, **fields)
    for i in range(1, n + 1):
        job_log(job_id=job.pk, text=f"line {i}", stream="stderr" if i % 2 == 0 else "stdout")
    return job


# --- list --------------------------------------------------------------------------------


def test_list_shows_own_jobs_newest_first_paginated(
    owner_client: Client, owner: User, stranger: User
) -> None:
    mine = [make_job("refresh_workshop_items", user=owner) for _ in range(30)]
    theirs = make_job(user=stranger)

    first = owner_client.get(reverse("jobs:list"))
    second = owner_client.get(reverse("jobs:list"), {"page": 2})

    assert first.status_code == 200
    assert [j.pk for j in first.context["page"].object_list] == [j.pk for j in reversed(mine)][:25]
    assert [j.pk for j in second.context["page"].object_list] == [j.pk for j in reversed(mine)][25:]
    assert theirs.pk not in [j.pk for j in first.context["page"].paginator.object_list]
    assert b"Page 1 of 2" in first.content
    assert b"Owner" not in first.content


def test_operators_see_every_job_with_its_owner_staff_only_their_own(
    client: Client, operator: User, staff: User, owner: User, stranger: User
) -> None:
    make_job(user=owner)
    make_job(user=stranger)
    client.force_login(staff)
    response = client.get(reverse("jobs:list"))
    assert response.context["page"].paginator.count == 0
    assert b"<th>Owner</th>" not in response.content
    client.force_login(operator)
    response = client.get(reverse("jobs:list"))
    assert response.context["page"].paginator.count == 2
    assert b"<th>Owner</th>" in response.content
    assert stranger.username.encode() in response.content and owner.username.encode() in response.content


def test_pages_need_a_login(client: Client, owner: User) -> None:
    job = make_job(user=owner)
    for url in [
        reverse("jobs:list"),
        reverse("jobs:detail", args=[job.pk]),
        reverse("jobs:status", args=[job.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


# --- detail ------------------------------------------------------------------------------


def test_job_page_renders_for_its_owner(owner_client: Client, owner: User, overlay: Any) -> None:
    job = _job_with_lines(
        owner, 2, operation="build_overlay", subject=overlay, state=Job.State.RUNNING,
        items_done=1, items_total=4, bytes_done=768 * 1024, bytes_total=3 * 1024 * 1024,
    )  # fmt: skip

    response = owner_client.get(reverse("jobs:detail", args=[job.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Build overlay" in html
    assert f'href="/overlays/{overlay.pk}/"' in html
    assert 'class="badge running"' in html
    assert 'style="width: 25%"' in html  # by bytes: 768 KB of 3 MB
    assert "1 of 4 items done" in html and "768.0 KiB of 3.0 MiB" in html
    clock = timezone.localtime(job.lines.get(seq=1).created_at).strftime("%H:%M:%S")
    assert re.search(
        r'<span class="stdout" data-seq="1"><time datetime="[^"]+">\d\d:\d\d:\d\d</time> line 1', html
    )
    assert f">{clock}</time> line 1" in html
    assert re.search(r'<span class="stderr" data-seq="2"><time [^>]+>[\d:]{8}</time> line 2', html)
    assert reverse("jobs:cancel", args=[job.pk]) in html
    assert "jobs/job.js" in html
    assert 'data-last-seq="2"' in html


@pytest.mark.parametrize(
    ("progress", "width"),
    [
        ({"items_done": 0, "items_total": 2, "bytes_done": 25, "bytes_total": 60}, 41),
        ({"items_done": 3, "items_total": 4}, 75),
        ({}, 0),
    ],
)
def test_progress_bar_follows_bytes_then_items(
    owner_client: Client, owner: User, progress: dict, width: int
) -> None:
    job = make_job(user=owner, state=Job.State.RUNNING, **progress)
    assert (
        f'style="width: {width}%"' in owner_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    )


def test_a_finished_job_page_has_no_cancel_and_no_polling(owner_client: Client, owner: User) -> None:
    job = make_job(user=owner, state=Job.State.FAILED, error="ValueError: nope")
    html = owner_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "ValueError: nope" in html
    assert reverse("jobs:cancel", args=[job.pk]) not in html
    assert "jobs/job.js" not in html


def test_job_page_renders_for_operators_and_is_403_for_another_user_even_staff(
    client: Client, operator: User, staff: User, owner: User, stranger: User
) -> None:
    job = make_job(user=owner)
    for other in (stranger, staff):
        client.force_login(other)
        assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 403
    client.force_login(operator)
    assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 200
    assert client.get(reverse("jobs:detail", args=[job.pk + 999])).status_code == 404


def test_overlay_owner_sees_the_scheduled_jobs_of_their_overlay(
    owner_client: Client, owner: User, stranger: User, overlay: Any
) -> None:
    scheduled = make_job(user=None, subject=overlay)
    foreign = make_job(user=None, subject=make_overlay(stranger, "theirs"))
    assert owner_client.get(reverse("jobs:detail", args=[scheduled.pk])).status_code == 200
    assert owner_client.get(reverse("jobs:status", args=[scheduled.pk])).status_code == 200
    assert owner_client.get(reverse("jobs:detail", args=[foreign.pk])).status_code == 403
    listed = owner_client.get(reverse("jobs:list")).content.decode()
    assert reverse("jobs:detail", args=[scheduled.pk]) in listed
    assert reverse("jobs:detail", args=[foreign.pk]) not in listed


def test_the_job_script_is_served(client: Client) -> None:
    response = client.get("/static/jobs/job.js")
    assert response.status_code == 200
    assert b"?after=" in b"".join(response.streaming_content)


# --- status ------------------------------------------------------------------------------


def test_status_returns_only_lines_after_the_given_seq(owner_client: Client, owner: User) -> None:
    job = _job_with_lines(owner, 5, state=Job.State.RUNNING, items_done=2, items_total=5, bytes_total=100)

    data = owner_client.get(reverse("jobs:status", args=[job.pk]), {"after": 3}).json()

    clock = {line.seq: timezone.localtime(line.created_at).strftime("%H:%M:%S") for line in job.lines.all()}
    assert {key: data[key] for key in ("id", "operation", "state", "progress", "error", "lines")} == {
        "id": job.pk,
        "operation": "test_sleep",
        "state": "running",
        "progress": {"items_done": 2, "items_total": 5, "bytes_done": 0, "bytes_total": 100},
        "error": "",
        "lines": [
            {"seq": 4, "stream": "stderr", "text": "line 4", "time": clock[4]},
            {"seq": 5, "stream": "stdout", "text": "line 5", "time": clock[5]},
        ],
    }
    assert len(owner_client.get(reverse("jobs:status", args=[job.pk])).json()["lines"]) == 5
    assert owner_client.get(reverse("jobs:status", args=[job.pk]), {"after": 5}).json()["lines"] == []


@pytest.mark.parametrize("after", ["x", "-1", "1.5", ""])
def test_status_rejects_a_bad_after(owner_client: Client, owner: User, after: str) -> None:
    job = make_job(user=owner)
    assert owner_client.get(reverse("jobs:status", args=[job.pk]), {"after": after}).status_code == 400


def test_status_of_another_users_job_is_403(client: Client, owner: User, stranger: User) -> None:
    job = _job_with_lines(owner, 1)
    client.force_login(stranger)
    response = client.get(reverse("jobs:status", args=[job.pk]))
    assert response.status_code == 403
    assert b"line 1" not in response.content


# --- cancel ------------------------------------------------------------------------------


def test_cancel_a_queued_job(
    owner_client: Client, owner: User, revoked: list[str], django_capture_on_commit_callbacks
) -> None:
    job = make_job(user=owner, celery_task_id="t-9")

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("jobs:cancel", args=[job.pk]), follow=True)

    job.refresh_from_db()
    assert response.redirect_chain == [(reverse("jobs:detail", args=[job.pk]), 302)]
    assert job.state == Job.State.CANCELLED
    assert revoked == ["t-9"]
    assert b"Job cancelled: " in response.content


def test_cancel_a_running_job_asks_it_to_stop(owner_client: Client, owner: User) -> None:
    job = make_job(user=owner, state=Job.State.RUNNING)
    response = owner_client.post(reverse("jobs:cancel", args=[job.pk]), follow=True)
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLING
    assert b"Cancel requested" in response.content


def test_cancel_a_finished_job_says_it_already_ended(owner_client: Client, owner: User) -> None:
    job = make_job(user=owner, state=Job.State.SUCCEEDED)
    response = owner_client.post(reverse("jobs:cancel", args=[job.pk]), follow=True)
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert b"already ended" in response.content
    assert not JobLogLine.objects.filter(job=job).exists()


def test_cancel_is_post_only_and_403_for_another_user(client: Client, owner: User, stranger: User) -> None:
    job = make_job(user=owner)
    client.force_login(owner)
    assert client.get(reverse("jobs:cancel", args=[job.pk])).status_code == 405
    client.force_login(stranger)
    assert client.post(reverse("jobs:cancel", args=[job.pk])).status_code == 403
    job.refresh_from_db()
    assert job.state == Job.State.QUEUED


# --- title, counts, items, times ---------------------------------------------------------


def _build_job(owner: User, overlay: Any, **fields: Any) -> Job:
    return make_job("build_overlay", user=owner, subject=overlay, reason="added 3 items", **fields)


def test_job_page_is_titled_and_counts_items_apart(owner_client: Client, owner: User, overlay: Any) -> None:
    job = _build_job(
        owner, overlay, state=Job.State.RUNNING, started_at=timezone.now() - timedelta(seconds=4),
        items_total=3, items_done=3, items_failed=1, items_cached=5, bytes_done=4 * 2**20, bytes_total=8 * 2**20,
    )  # fmt: skip
    JobItem.objects.create(
        job=job, key="101", title="Helms Deep", state="downloading", bytes_done=5, bytes_total=10
    )
    JobItem.objects.create(job=job, key="102", title="Dead Air", state="failed", error="HTTP 404")

    html = owner_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()

    assert '<h1 id="job-title">Build &#x27;campaigns&#x27; · added 3 items</h1>' in html
    assert '<span id="job-items">2 of 3 items done · 1 failed · 5 already cached</span>' in html
    assert re.search(r'<span id="job-speed"> · [\d.]+ (KiB|MiB)/s</span>', html)
    assert re.search(r'<span id="job-eta"> · about \d s left</span>', html)
    assert re.search(r'id="job-item-101".*?Helms Deep.*?badge downloading.*?style="width: 50%"', html, re.S)
    assert re.search(r'id="job-item-102".*?Dead Air.*?badge failed.*?HTTP 404', html, re.S)
    assert 'id="job-started">' + timezone.localtime(job.started_at).strftime("%Y-%m-%d %H:%M:%S") in html


def test_a_build_with_nothing_to_download_says_so(owner_client: Client, owner: User, overlay: Any) -> None:
    job = _build_job(owner, overlay, state=Job.State.SUCCEEDED, items_cached=20)
    html = owner_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "Nothing to download: all 20 items already cached" in html
    assert "0 of 0" not in html
    assert re.search(
        r'<div class="progress" role="progressbar"[^>]* hidden>\s*<div id="job-progress-bar"', html
    )


def test_status_tells_title_times_counts_items_speed_and_time_left(
    owner_client: Client, owner: User, overlay: Any, django_assert_max_num_queries: Any
) -> None:
    started = timezone.now() - timedelta(seconds=10)
    job = _build_job(
        owner, overlay, state=Job.State.RUNNING, started_at=started,
        items_total=3, items_done=1, items_failed=1, items_cached=2, bytes_done=1000, bytes_total=3000,
    )  # fmt: skip
    for n in range(STATUS_MAX_ITEMS + 5):
        JobItem.objects.create(
            job=job, key=str(n), title=f"Item {n}", state="done", bytes_total=10, bytes_done=10
        )
    JobItem.objects.create(
        job=job, key="busy", title="Busy", state="downloading", bytes_done=30, bytes_total=40
    )
    JobItem.objects.filter(key="3").update(updated_at=timezone.now() + timedelta(seconds=5))
    job_log(job_id=job.pk, text="workshop 1 downloading: One (1.0 KiB)")

    with django_assert_max_num_queries(5):  # the session, the user, the job, its lines, its items
        data = owner_client.get(reverse("jobs:status", args=[job.pk])).json()

    assert data["title"] == "Build 'campaigns' · added 3 items"
    assert data["started_at"] == timezone.localtime(started).isoformat(timespec="seconds")
    assert data["finished_at"] is None
    assert data["counts"] == {"done": 0, "failed": 1, "cached": 2, "total": 3}
    assert data["items_text"] == "0 of 3 items done · 1 failed · 2 already cached"
    assert data["speed"] == pytest.approx(100, rel=0.1)
    assert data["eta"] == pytest.approx(20, abs=2)
    assert data["eta_text"].startswith("about ") and data["speed_text"].endswith("bytes/s")
    assert len(data["items"]) == STATUS_MAX_ITEMS
    assert data["items"][0] == {
        "key": "busy", "title": "Busy", "state": "downloading", "state_label": "Downloading",
        "bytes_done": 30, "bytes_total": 40, "percent": 75, "error": "",
    }  # fmt: skip
    assert data["items"][1]["key"] == "3"  # then the one that changed last
    assert data["lines"][0]["time"] == timezone.localtime(job.lines.get().created_at).strftime("%H:%M:%S")


def test_status_of_an_ended_job_has_its_finish_and_no_time_left(owner_client: Client, owner: User) -> None:
    started = timezone.now() - timedelta(minutes=1)
    job = make_job(
        user=owner, state=Job.State.SUCCEEDED, started_at=started, finished_at=started + timedelta(seconds=30)
    )
    data = owner_client.get(reverse("jobs:status", args=[job.pk])).json()
    assert data["finished_at"] == timezone.localtime(job.finished_at).isoformat(timespec="seconds")
    assert (data["eta"], data["speed"], data["items"]) == (None, None, [])


def test_the_job_script_fills_the_live_parts(client: Client) -> None:
    script = b"".join(client.get("/static/jobs/job.js").streaming_content).decode()
    for part in [
        "job-started",
        "job-finished",
        "job-items",
        "job-speed",
        "job-eta",
        '"job-item-"',
        "line.time",
    ]:
        assert part in script


# --- list filters and duration -----------------------------------------------------------


def test_list_filters_by_subject_state_and_operation(owner_client: Client, owner: User, overlay: Any) -> None:
    other = make_overlay(owner, "other")
    build = _build_job(owner, overlay, state=Job.State.FAILED)
    make_job("build_overlay", user=owner, subject=other)
    refresh = make_job("refresh_overlay", user=owner, subject=overlay)
    url = reverse("jobs:list")

    def listed(**params: str) -> list[int]:
        return [job.pk for job in owner_client.get(url, params).context["page"].object_list]

    assert len(listed()) == 3
    assert listed(subject=str(overlay.pk)) == [refresh.pk, build.pk]
    assert listed(subject=str(overlay.pk), state="failed") == [build.pk]
    assert listed(operation="refresh_overlay") == [refresh.pk]
    assert len(listed(state="bogus", operation="bogus", subject="x")) == 3  # unknown values: ignored
    html = owner_client.get(url, {"subject": str(overlay.pk)}).content.decode()
    assert f'<option value="{overlay.pk}" selected>campaigns</option>' in html
    assert f'<option value="{other.pk}">other</option>' in html
    assert "Build &#x27;campaigns&#x27; · added 3 items" in html


def test_list_filters_keep_the_visibility_rules(
    client: Client, owner: User, stranger: User, overlay: Any
) -> None:
    _build_job(owner, overlay)
    client.force_login(stranger)
    response = client.get(reverse("jobs:list"), {"subject": str(overlay.pk)})
    assert response.context["page"].paginator.count == 0
    assert "campaigns" not in response.content.decode()


def test_list_pages_keep_the_filters(owner_client: Client, owner: User) -> None:
    for _ in range(30):
        make_job(user=owner, state=Job.State.FAILED)
    html = owner_client.get(reverse("jobs:list"), {"state": "failed"}).content.decode()
    assert 'href="?state=failed&amp;page=2"' in html


def test_list_shows_how_long_jobs_took(owner_client: Client, owner: User) -> None:
    now = timezone.now()
    make_job(
        user=owner,
        state=Job.State.SUCCEEDED,
        started_at=now - timedelta(seconds=70),
        finished_at=now - timedelta(seconds=5),
    )
    make_job(user=owner, state=Job.State.RUNNING, started_at=now - timedelta(seconds=3))
    html = owner_client.get(reverse("jobs:list")).content.decode()
    assert "<th>Duration</th>" in html
    assert '<td class="duration">1 min 5 s</td>' in html
    assert re.search(r'<td class="duration">running for \d s</td>', html)
