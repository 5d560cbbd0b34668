from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.services import contents_reindex_enqueue
from workshop.cache import is_workshop_id
from workshop.contents import item_contents_of_cache
from workshop.models import WorkshopItem, WorkshopItemContents


class Command(BaseCommand):
    help = "Print what a cached workshop item's VPK holds, or (--reindex) read every cached upload again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("steam_id", nargs="?", help="the workshop item's id")
        parser.add_argument("--paths", action="store_true", help="list every file path too")
        parser.add_argument(
            "--reindex", action="store_true", help="enqueue a job reading every cached upload again"
        )

    def handle(self, *args: Any, steam_id: str | None = None, **options: Any) -> None:
        if options["reindex"]:
            job, created = contents_reindex_enqueue()
            self.stdout.write(f"{'enqueued' if created else 'already queued:'} {job.operation} job {job.pk}")
            return
        if not steam_id or not is_workshop_id(steam_id):
            raise CommandError("give a workshop item id (digits), or --reindex")
        item = WorkshopItem.objects.filter(steam_id=steam_id).first()
        if item is None:
            raise CommandError(f"no workshop item {steam_id} is known")
        row = item_contents_of_cache(item=item) or item.contents.first()
        if row is None:
            raise CommandError(f"workshop item {steam_id} has no file in the cache")
        self._print(item, row, paths=options["paths"])

    def _print(self, item: WorkshopItem, row: WorkshopItemContents, *, paths: bool) -> None:
        out = self.stdout.write
        out(f"workshop {item.steam_id} {item.title} (upload {row.version})".rstrip())
        if not row.readable:
            out(f"  {row.problem}")
            return
        out(f"  addon: {row.title or '-'} version {row.addon_version or '-'} by {row.author or '-'}")
        out(f"  is: {', '.join(row.kinds) or 'nothing declared'}")
        out(f"  files: {row.file_count}; vscripts: {'yes' if row.has_vscripts else 'no'}")
        if row.problem:
            out(f"  problem: {row.problem}")
        for campaign in row.campaigns:
            out(
                f"  campaign {campaign['name'] or campaign['file']}"
                + (f": {campaign['problem']}" if campaign["problem"] else "")
            )
            for mode, maps in campaign["modes"].items():
                out(f"    {mode}: {' '.join(maps)}")
        for path in row.path_list if paths else []:
            out(f"  {path}")
