"""The admin site's own words (the apps register their models in their admin modules)."""

from __future__ import annotations

from django.contrib import admin

admin.site.site_header = "left4me administration"
admin.site.site_title = "left4me admin"
admin.site.index_title = "Overlays, workshop items and jobs"
