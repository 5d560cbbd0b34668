from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from jobs.models import Job
from jobs.services import job_log
from tests.support.helpers import SentMessages, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client: Client, superuser: User) -> Client:
    client.force_login(superuser)
    return client


def _action(client: Client, action: str, jobs: list[Job]) -> object:
    data = {"action": action, "_selected_action": [job.pk for job in jobs]}
    return client.post(reverse("admin:jobs_job_changelist"), data, follow=True)


def test_changelist_filters_and_search(admin_client_: Client, owner: User) -> None:
    make_job(user=owner, state=Job.State.FAILED, error="disk full")
    make_job(user=owner)
    url = reverse("admin:jobs_job_changelist")
    assert admin_client_.get(url, {"state__exact": "failed"}).context["cl"].result_count == 1
    assert admin_client_.get(url, {"q": "disk"}).context["cl"].result_count == 1
    assert admin_client_.get(url, {"operation__exact": "test_sleep"}).context["cl"].result_count == 2


def test_change_page_shows_the_log(admin_client_: Client) -> None:
    job = make_job()
    job_log(job_id=job.pk, text="hello from the log")
    response = admin_client_.get(reverse("admin:jobs_job_change", args=[job.pk]))
    assert response.status_code == 200
    assert b"hello from the log" in response.content


def test_cancel_action(admin_client_: Client, revoked: list[str], django_capture_on_commit_callbacks) -> None:
    queued = make_job(celery_task_id="q1")
    running = make_job(state=Job.State.RUNNING)
    done = make_job(state=Job.State.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=True):
        response = _action(admin_client_, "cancel_jobs", [queued, running, done])

    states = dict(Job.objects.values_list("pk", "state"))
    assert states == {queued.pk: "cancelled", running.pk: "cancelling", done.pk: "succeeded"}
    assert revoked == ["q1"]
    assert b"Cancel sent to 2 job(s)." in response.content


def test_rerun_action_enqueues_the_same_work(
    admin_client_: Client,
    owner: User,
    overlay: Any,
    sent: SentMessages,
    django_capture_on_commit_callbacks,
) -> None:
    failed = make_job("build_overlay", user=owner, subject=overlay, state=Job.State.FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        response = _action(admin_client_, "rerun_jobs", [failed])
        _action(admin_client_, "rerun_jobs", [failed])  # joins the queued one

    new = Job.objects.exclude(pk=failed.pk).get()
    assert (new.operation, new.user, new.subject, new.state) == ("build_overlay", owner, overlay, "queued")
    assert sent.job_ids == [new.pk]
    assert b"Queued 1 new job(s)" in response.content
