from django.db import migrations, models
from django.db.models import F


def guess_cached_version(apps, schema_editor):
    """Items downloaded before the field existed: their last download was Steam's upload of then,
    the one the row still describes unless a refresh changed it since."""
    item = apps.get_model("workshop", "WorkshopItem")
    item.objects.filter(last_downloaded_at__isnull=False).update(cached_version=F("time_updated"))


class Migration(migrations.Migration):
    dependencies = [
        ("workshop", "0004_unlinked_since"),
    ]

    operations = [
        migrations.AddField(
            model_name="workshopitem",
            name="cached_version",
            field=models.BigIntegerField(
                default=0,
                help_text="the upload (Steam's time_updated) the last download put in the cache; 0: none",
            ),
        ),
        migrations.RunPython(guess_cached_version, migrations.RunPython.noop),
    ]
