from django.conf import settings
from django.db import migrations

REAPER_NAME = "left4me: reap stale jobs"
REAPER_TASK = "jobs.reap_stale_jobs"


def create_reaper_schedule(apps, schema_editor):
    """Schedule the reaper once; get_or_create by name so an operator's later edits stay."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=REAPER_NAME).exists():
        return
    every = settings.JOB_REAPER_INTERVAL_SECONDS
    interval = IntervalSchedule.objects.filter(every=every, period="seconds").first()
    interval = interval or IntervalSchedule.objects.create(every=every, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=REAPER_NAME,
        defaults={
            "task": REAPER_TASK,
            "interval": interval,
            "description": "Settles jobs whose worker died.",
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_job_dispatched_at"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_reaper_schedule, migrations.RunPython.noop)]
