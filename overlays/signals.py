"""What overlays tell the apps above them (which overlays never imports)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by a build whose addons/ changed: overlay=, build= (the job's id), items= (how many
# items' files changed). The servers app applies the new files to the overlay's servers.
addons_changed = Signal()
