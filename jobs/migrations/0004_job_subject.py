"""A job points at what it works on through a generic subject (content type + id) instead of a
foreign key to overlays, records the subject's owner (who may see it) and the queue its messages
go to. Existing jobs of overlays keep pointing at their overlay."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

OVERLAY_FILE_OPERATIONS = ("build_overlay", "refresh_overlay")


def overlay_to_subject(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    Overlay = apps.get_model("overlays", "Overlay")
    ContentType = apps.get_model("contenttypes", "ContentType")
    Job.objects.filter(operation__in=OVERLAY_FILE_OPERATIONS).update(queue=settings.LEFT4ME_WORKER_QUEUE)
    with_overlay = Job.objects.filter(overlay__isnull=False)
    if not with_overlay.exists():
        return
    overlay_type, _ = ContentType.objects.get_or_create(app_label="overlays", model="overlay")
    owner = Overlay.objects.filter(pk=OuterRef("overlay_id")).values("owner_id")[:1]
    with_overlay.update(
        subject_type=overlay_type, subject_id=models.F("overlay_id"), owner_id=Subquery(owner)
    )


def subject_to_overlay(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    Overlay = apps.get_model("overlays", "Overlay")
    overlays = Job.objects.filter(subject_type__app_label="overlays", subject_type__model="overlay")
    existing = Overlay.objects.filter(pk=OuterRef("subject_id")).values("pk")[:1]
    overlays.update(overlay_id=Subquery(existing))


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
        migrations.RunPython(overlay_to_subject, subject_to_overlay),
    ]
