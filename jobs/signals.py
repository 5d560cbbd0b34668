"""What jobs tell the apps above them (which jobs never imports)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent once a job's run has ended, after the commit: job_id=, state= (succeeded, failed or
# cancelled). Notices tell owners of failed builds from it.
job_ended = Signal()

# Sent after each pass of the reaper (every JOB_REAPER_INTERVAL_SECONDS, on the housekeeping
# queue): what watches for a state that has no event of its own (a host gone silent) looks then.
reaper_ran = Signal()
