"""Operators may register game servers (servers.manage_servers), and the beat polls them.

As in overlays 0010, the permission is made here (post_migrate would come too late); running it
twice changes nothing; the schedule is made once by name, so an operator's later edits stay."""

from django.conf import settings
from django.db import migrations

OPERATORS = "Operators"
POLL_NAME = "left4me: poll game servers"
POLL_TASK = "servers.poll_servers"


def operators_manage_servers(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=OPERATORS)
    content_type, _ = ContentType.objects.get_or_create(app_label="servers", model="gameserver")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="manage_servers",
        defaults={"name": "register game servers and change every one"},
    )
    group.permissions.add(permission)


def create_poll_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=POLL_NAME).exists():
        return
    every = settings.LEFT4ME_SERVER_POLL_SECONDS
    interval = IntervalSchedule.objects.filter(every=every, period="seconds").first()
    interval = interval or IntervalSchedule.objects.create(every=every, period="seconds")
    PeriodicTask.objects.create(
        name=POLL_NAME,
        task=POLL_TASK,
        interval=interval,
        description="Asks every game server for A2S info, on its host's queue.",
    )


def remove_poll_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=POLL_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("servers", "0001_initial"),
        ("overlays", "0010_operators_group"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(operators_manage_servers, migrations.RunPython.noop),
        migrations.RunPython(create_poll_schedule, remove_poll_schedule),
    ]
