"""What overlays tell the apps above them (which overlays never imports)."""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

# Sent by a build whose addons/ changed: overlay=, build= (the job's id), items= (how many
# items' files changed). The servers app applies the new files to the overlay's servers.
addons_changed = Signal()

# Columns the apps above add to the query that loads an overlay for its pages (name -> an
# expression), so what they show costs no query of its own when there is nothing to show: the
# servers app adds `server_count`, and the overlay page lists servers only when it is not 0.
overlay_page_annotations: dict[str, Any] = {}
