from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
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


def test_rerun_refuses_the_removal_of_an_old_folder_whose_host_it_cannot_know(
    admin_client_: Client, overlay: Any, sent: SentMessages
) -> None:
    """Only the move knew the host the overlay left: run anywhere else, it would remove the
    overlay's live folder."""
    cleared = make_job("clear_overlay_folder", subject=overlay, state=Job.State.FAILED)

    response = _action(admin_client_, "rerun_jobs", [cleared])

    assert list(Job.objects.values_list("pk", flat=True)) == [cleared.pk]
    assert f"Job {cleared.pk} not re-run: removing an old folder needs the host".encode() in response.content
    assert b"Queued 0 new job(s); 0 joined" in response.content


# --- read-only, and the actions for those who may view ------------------------------------


def _staff_with(django_user_model: Any, *codenames: str) -> User:
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-123", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames)
    )
    return user


def test_jobs_cannot_be_added_changed_or_deleted_in_the_admin(admin_client_: Client) -> None:
    job = make_job(state=Job.State.RUNNING, items_done=1, error="")
    job_log(job_id=job.pk, text="a line")
    change_url = reverse("admin:jobs_job_change", args=[job.pk])

    assert admin_client_.get(reverse("admin:jobs_job_add")).status_code == 403
    page = admin_client_.get(change_url)
    admin_client_.post(change_url, {"state": "succeeded", "items_done": 9, "error": "edited"})
    admin_client_.post(reverse("admin:jobs_job_delete", args=[job.pk]), {"post": "yes"})

    job.refresh_from_db()
    assert page.status_code == 200
    assert b'name="state"' not in page.content and b'name="_save"' not in page.content
    assert (job.state, job.items_done, job.error) == ("running", 1, "")
    assert job.lines.count() == 1
    changelist = admin_client_.get(reverse("admin:jobs_job_changelist"))
    actions = [value for value, _label in changelist.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions


def test_log_lines_are_read_only_in_the_admin(admin_client_: Client) -> None:
    job = make_job()
    job_log(job_id=job.pk, text="kept as it is")
    line = job.lines.get()
    url = reverse("admin:jobs_joblogline_change", args=[line.pk])

    assert admin_client_.get(url).status_code == 200
    admin_client_.post(url, {"text": "rewritten", "seq": 1, "stream": "stdout", "job": job.pk})
    assert admin_client_.get(reverse("admin:jobs_joblogline_add")).status_code == 403
    line.refresh_from_db()
    assert line.text == "kept as it is"


def test_staff_who_may_view_jobs_can_cancel_and_rerun_them(
    client: Client,
    django_user_model: Any,
    revoked: list[str],
    sent: SentMessages,
    django_capture_on_commit_callbacks,
) -> None:
    client.force_login(_staff_with(django_user_model, "view_job"))
    queued = make_job(celery_task_id="q1")
    failed = make_job(state=Job.State.FAILED)

    changelist = client.get(reverse("admin:jobs_job_changelist"))
    with django_capture_on_commit_callbacks(execute=True):
        _action(client, "cancel_jobs", [queued])
        _action(client, "rerun_jobs", [failed])

    queued.refresh_from_db()
    assert changelist.status_code == 200
    choices = [value for value, _label in changelist.context["action_form"].fields["action"].choices]
    assert {"cancel_jobs", "rerun_jobs"} <= set(choices)
    assert queued.state == Job.State.CANCELLED
    rerun = Job.objects.exclude(pk__in=[queued.pk, failed.pk]).get()
    assert (rerun.operation, rerun.state, rerun.reason) == (
        failed.operation,
        "queued",
        f"re-run of job {failed.pk}",
    )


def test_staff_who_may_not_view_jobs_can_neither_see_nor_cancel_them(
    client: Client, django_user_model: Any, revoked: list[str]
) -> None:
    client.force_login(_staff_with(django_user_model))
    queued = make_job(celery_task_id="q1")
    assert client.get(reverse("admin:jobs_job_changelist")).status_code == 403
    response = client.post(
        reverse("admin:jobs_job_changelist"), {"action": "cancel_jobs", "_selected_action": [queued.pk]}
    )
    queued.refresh_from_db()
    assert response.status_code == 403
    assert queued.state == Job.State.QUEUED and revoked == []


def test_changelist_shows_titles(admin_client_: Client, overlay: Any) -> None:
    make_job("build_overlay", subject=overlay, reason="added 3 items")
    response = admin_client_.get(reverse("admin:jobs_job_changelist"))
    assert "Build &#x27;campaigns&#x27; · added 3 items" in response.content.decode()


def test_the_admin_site_names_itself(admin_client_: Client) -> None:
    html = admin_client_.get(reverse("admin:index")).content.decode()
    assert "left4me administration" in html
    assert "<title>Overlays, workshop items and jobs | left4me admin</title>" in html
