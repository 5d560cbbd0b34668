from django.conf import settings
from django.db import migrations

REFRESH_NAME = "left4me: daily workshop refresh"
REFRESH_TASK = "workshop.enqueue_global_refresh"


def create_refresh_schedule(apps, schema_editor):
    """Schedule the daily refresh once; get_or_create by name so an operator's later edits stay."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=REFRESH_NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(settings.WORKSHOP_REFRESH_MINUTE),
        hour=str(settings.WORKSHOP_REFRESH_HOUR),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.get_or_create(
        name=REFRESH_NAME,
        defaults={
            "task": REFRESH_TASK,
            "crontab": crontab,
            "description": "Fetches fresh Steam metadata for every workshop item in use and "
            "rebuilds the overlays whose items changed.",
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("workshop", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_refresh_schedule, migrations.RunPython.noop)]
