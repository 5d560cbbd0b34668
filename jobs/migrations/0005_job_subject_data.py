"""Existing jobs of overlays keep pointing at their overlay, now as their subject."""

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
        ("jobs", "0004_job_subject"),
    ]

    operations = [migrations.RunPython(overlay_to_subject, subject_to_overlay)]
