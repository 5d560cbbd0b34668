"""What jobs tell the apps above them (which jobs never imports)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once a job's run has ended, after the commit: job_id=, state= (succeeded, failed or
# cancelled). Notices tell owners of failed builds from it.
job_ended = Signal()
