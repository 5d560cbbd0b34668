from __future__ import annotations

import os
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "migrate (with its checks), then collectstatic, in one start of Django: what install.sh "
        "and make run do before the services start. The database is created with umask 0027 (it "
        "holds password hashes and sessions); the static files keep the caller's umask."
    )
    requires_system_checks: list[str] = []  # migrate runs them, the database's included

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        old = os.umask(0o027)
        try:
            call_command(
                "migrate", interactive=False, skip_checks=False, verbosity=verbosity, stdout=self.stdout
            )
        finally:
            os.umask(old)
        call_command("collectstatic", interactive=False, verbosity=0, stdout=self.stdout)
