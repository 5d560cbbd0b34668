"""The maps each stored upload ships (maps/*.bsp), filled in from the stored paths."""

from __future__ import annotations

import re
import zlib
from typing import Any

from django.db import migrations, models

_MAP_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # as workshop.vpk.is_map_name, frozen here


def _fill_maps(apps: Any, schema_editor: Any) -> None:
    contents = apps.get_model("workshop", "WorkshopItemContents")
    rows = []
    for row in contents.objects.filter(readable=True).only("paths").iterator():
        text = zlib.decompress(bytes(row.paths)).decode() if row.paths else ""
        names = [p[5:-4] for p in text.split("\n") if p.startswith("maps/") and p.endswith(".bsp")]
        row.maps = [name for name in names if "/" not in name and _MAP_NAME.fullmatch(name)]
        rows.append(row)
    contents.objects.bulk_update(rows, ["maps"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("workshop", "0006_item_contents"),
    ]

    operations = [
        migrations.AddField(
            model_name="workshopitemcontents",
            name="maps",
            field=models.JSONField(
                blank=True, default=list, help_text="maps/*.bsp it ships, campaign maps or not"
            ),
        ),
        migrations.AddField(
            model_name="workshopitemcontents",
            name="maps_left_out",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="map names of its maps/ or missions that are not map names (escaped)",
            ),
        ),
        migrations.RunPython(_fill_maps, migrations.RunPython.noop),
    ]
