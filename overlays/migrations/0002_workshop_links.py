"""The overlay-item and overlay-collection links, moved from the workshop app with their rows
(workshop 0003 renamed the tables; here they enter this app's state)."""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ("overlayworkshopitem", "overlayworkshopcollection")


def move_content_types(apps, schema_editor):
    """Keep the content types (and the permissions granted on them) under the new app label."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label="overlays", model=model).exists():
            ContentType.objects.filter(app_label="workshop", model=model).update(app_label="overlays")


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label="workshop", model=model).exists():
            ContentType.objects.filter(app_label="overlays", model=model).update(app_label="workshop")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("overlays", "0001_initial"),
        ("workshop", "0003_move_overlay_links"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OverlayWorkshopItem",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("added_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "item",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="overlay_links",
                                to="workshop.workshopitem",
                            ),
                        ),
                        (
                            "overlay",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="workshop_links",
                                to="overlays.overlay",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["added_at", "id"],
                        "constraints": [
                            models.UniqueConstraint(fields=("overlay", "item"), name="overlay_item_unique")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="OverlayWorkshopCollection",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("steam_id", models.CharField(max_length=20)),
                        ("added_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "overlay",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="workshop_collections",
                                to="overlays.overlay",
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["added_at", "id"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("overlay", "steam_id"), name="overlay_collection_unique"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, restore_content_types),
    ]
