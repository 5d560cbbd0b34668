"""The overlay-item and overlay-collection links move to the overlays app (workshop is a library
that never hears of overlays). Their tables are renamed here and the models are created in the
state of overlays by overlays 0002: every row stays where it is."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("workshop", "0002_daily_refresh_schedule"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable("OverlayWorkshopItem", "overlays_overlayworkshopitem"),
                migrations.AlterModelTable("OverlayWorkshopCollection", "overlays_overlayworkshopcollection"),
            ],
            state_operations=[
                migrations.DeleteModel("OverlayWorkshopItem"),
                migrations.DeleteModel("OverlayWorkshopCollection"),
            ],
        ),
    ]
