"""A job points at what it works on through a generic subject (content type + id) instead of a
foreign key to overlays, and records the subject's owner (who may see it) and the queue its
messages go to. 0005 fills them for existing jobs; 0006 drops the foreign key. Three migrations,
so that on PostgreSQL no table is altered with deferred foreign-key checks pending."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("jobs", "0003_reaper_schedule"),
        ("overlays", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="owned_jobs",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="queue",
            field=models.CharField(
                blank=True, help_text="the Celery queue its messages go to", max_length=100
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="subject_id",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="job",
            name="subject_type",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                to="contenttypes.contenttype",
            ),
        ),
    ]
