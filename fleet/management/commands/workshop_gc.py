from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fleet.gc import cache_collect


class Command(BaseCommand):
    help = (
        "Remove workshop cache files no overlay links to (after WORKSHOP_CACHE_GRACE), earlier "
        "uploads past WORKSHOP_KEEP_VERSIONS, abandoned partial downloads and stale locks."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="print what would go; remove nothing")
        parser.add_argument("--now", action="store_true", help="ignore the grace period")

    def handle(self, *args: Any, dry_run: bool = False, now: bool = False, **options: Any) -> None:
        cache_collect(now=now, dry_run=dry_run, log=self.stdout.write)
