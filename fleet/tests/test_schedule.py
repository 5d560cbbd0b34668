from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django_celery_beat.models import PeriodicTask

from fleet.tasks import enqueue_global_refresh
from jobs.models import Job

pytestmark = pytest.mark.django_db
migration = importlib.import_module("workshop.migrations.0002_daily_refresh_schedule")


def test_migration_schedules_the_daily_refresh_at_four(settings):
    task = PeriodicTask.objects.get(name="left4me: daily workshop refresh")
    assert task.task == "workshop.enqueue_global_refresh"
    assert task.enabled
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("0", "4", "*")
    assert str(crontab.timezone) == settings.TIME_ZONE


def test_running_the_setup_again_keeps_an_operators_edits():
    task = PeriodicTask.objects.get(name=migration.REFRESH_NAME)
    task.enabled = False
    task.crontab.hour = "5"
    task.crontab.save()
    task.save()

    migration.create_refresh_schedule(django_apps, None)

    task = PeriodicTask.objects.get(name=migration.REFRESH_NAME)
    assert (task.enabled, task.crontab.hour) == (False, "5")
    assert PeriodicTask.objects.filter(name=migration.REFRESH_NAME).count() == 1


def test_the_beat_task_enqueues_one_global_refresh():
    first = enqueue_global_refresh()
    second = enqueue_global_refresh()
    job = Job.objects.get()
    assert first == second == job.pk
    assert job.operation == "refresh_workshop_items"
