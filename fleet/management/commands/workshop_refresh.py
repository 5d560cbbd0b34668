from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.services import global_refresh_enqueue
from jobs.models import Job, JobLogLine
from overlays.models import Overlay
from overlays.services import OverlayError, overlay_refresh_enqueue

POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = "Enqueue a refresh from Steam of every workshop item in use (or of one overlay's items)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--overlay", type=int, metavar="ID", help="refresh this overlay only, then build it"
        )
        parser.add_argument("--wait", action="store_true", help="print the job's log until it ends")

    def handle(self, *args: Any, overlay: int | None = None, wait: bool = False, **options: Any) -> None:
        job, created = self._enqueue(overlay)
        if created:
            self.stdout.write(f"enqueued {job.operation} job {job.pk}")
        else:
            self.stdout.write(f"{job.operation} job {job.pk} already {job.state}")
        if wait:
            self._follow(job)

    def _enqueue(self, overlay_id: int | None) -> tuple[Job, bool]:
        if overlay_id is None:
            return global_refresh_enqueue()
        overlay = Overlay.objects.filter(pk=overlay_id).first()
        if overlay is None:
            raise CommandError(f"no overlay with id {overlay_id}")
        try:
            return overlay_refresh_enqueue(overlay=overlay, user=None)
        except OverlayError as exc:
            raise CommandError(str(exc)) from exc

    def _follow(self, job: Job) -> None:
        seq = -1
        while True:
            job.refresh_from_db()
            seq = self._print_lines(job, after=seq)
            if job.state in Job.FINAL_STATES:
                break
            time.sleep(POLL_SECONDS)
        seq = self._print_lines(job, after=seq)
        if job.state != Job.State.SUCCEEDED:
            raise CommandError(f"{job.operation} job {job.pk} {job.state}: {job.error}".rstrip(": "))
        self.stdout.write(f"{job.operation} job {job.pk} succeeded")

    def _print_lines(self, job: Job, *, after: int) -> int:
        for line in JobLogLine.objects.filter(job=job, seq__gt=after).order_by("seq"):
            out = self.stderr if line.stream == JobLogLine.Stream.STDERR else self.stdout
            out.write(line.text)
            after = line.seq
        return after
