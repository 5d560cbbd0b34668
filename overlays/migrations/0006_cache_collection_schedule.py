from django.conf import settings
from django.db import migrations

COLLECT_NAME = "left4me: collect workshop cache"
COLLECT_TASK = "overlays.enqueue_cache_collection"


def create_collect_schedule(apps, schema_editor):
    """Schedule the collection once a day; by name, so an operator's later edits stay."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=COLLECT_NAME).exists():
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30",
        hour="5",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.create(
        name=COLLECT_NAME,
        task=COLLECT_TASK,
        crontab=crontab,
        description="Removes workshop cache files no overlay has linked to for WORKSHOP_CACHE_GRACE, "
        "earlier uploads past WORKSHOP_KEEP_VERSIONS, abandoned partial downloads and stale locks.",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("overlays", "0005_pinned_version"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_collect_schedule, migrations.RunPython.noop)]
