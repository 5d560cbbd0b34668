from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.services import TokenError, token_create


class Command(BaseCommand):
    help = "Make an API token for USERNAME and print it (shown this once; only its hash is kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name", required=True, help="what the token is for, as the tokens page lists it"
        )
        parser.add_argument(
            "--expires-days", type=int, default=None, help="days it lasts (default: until revoked)"
        )

    def handle(self, *args: Any, username: str, name: str, expires_days: int | None, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        try:
            made = token_create(user=user, name=name, expires_days=expires_days)
        except TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(made.secret)
