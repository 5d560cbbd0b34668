"""Overlays are placed on hosts: every existing overlay goes to the default host (the one machine
of an install so far), whose queue stays LEFT4ME_WORKER_QUEUE (an empty Host.queue)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import left4me.models


def place_on_default_host(apps, schema_editor):
    Overlay = apps.get_model("overlays", "Overlay")
    Host = apps.get_model("left4me", "Host")
    if not Overlay.objects.exists():
        return
    host, _created = Host.objects.get_or_create(name=settings.LEFT4ME_DEFAULT_HOST)
    Overlay.objects.update(host=host)


class Migration(migrations.Migration):
    dependencies = [
        ("left4me", "0001_initial"),
        ("overlays", "0011_file_conflicts_campaigns_and_families"),
    ]

    operations = [
        migrations.AddField(
            model_name="overlay",
            name="host",
            field=models.ForeignKey(
                null=True,
                help_text="the machine holding its folder; its jobs run on that host's queue",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="overlays",
                to="left4me.host",
            ),
        ),
        migrations.RunPython(place_on_default_host, migrations.RunPython.noop),
        # The column's default is the model's (the default host, made on first use): the schema
        # change itself is made without it, so migrating an empty database makes no host.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterField(
                    model_name="overlay",
                    name="host",
                    field=models.ForeignKey(
                        help_text="the machine holding its folder; its jobs run on that host's queue",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="overlays",
                        to="left4me.host",
                    ),
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="overlay",
                    name="host",
                    field=models.ForeignKey(
                        default=left4me.models.host_default_pk,
                        help_text="the machine holding its folder; its jobs run on that host's queue",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="overlays",
                        to="left4me.host",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="overlay",
            name="moving_to",
            field=models.ForeignKey(
                blank=True,
                help_text="a move job is building it on this host; then its folder on the old host goes",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="arriving_overlays",
                to="left4me.host",
            ),
        ),
    ]
