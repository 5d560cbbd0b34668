"""What overlays tell the apps above them (which overlays never imports)."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

# Sent by a build whose addons/ changed: overlay=, build= (the job's id), items= (how many
# items' files changed). The servers app applies the new files to the overlay's servers.
addons_changed = Signal()

# Sent by a build that downloaded new uploads of items it had before: overlay=, build= (the
# job's id), summary= (its summary line: "updated: Title (3 files changed); ..."). Notices tell
# the owner, once per build.
items_updated = Signal()

# Sent by a refresh that found items Steam no longer serves (removed, hidden or banned):
# steam_ids= (the items), overlay_ids= (the overlays linking them).
items_gone_upstream = Signal()

# Sent when a skipped upload's pin ends because Steam has a newer one: overlay=, item= (the
# WorkshopItem), skipped= (the upload skipped).
skip_ended = Signal()

# Operator news: a build refused for want of disk space (host= the host's name, free=, need=
# bytes); an add that took a user past QUOTA_NEAR of their byte limit (user=, used=, limit=).
disk_low = Signal()
quota_near = Signal()

# Columns the apps above add to the query that loads an overlay for its pages (name -> an
# expression), so what they show costs no query of its own when there is nothing to show: the
# servers app adds `server_count`, and the overlay page lists servers only when it is not 0.
overlay_page_annotations: dict[str, Any] = {}
