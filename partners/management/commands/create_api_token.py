"""`manage.py create_api_token USERNAME`: a new API token, printed once."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Create a bearer token for the HTTP API that acts with USERNAME's permissions. "
        "The token is printed once; only its hash is stored. Revoke it in the admin."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")

    def handle(self, *args: Any, **options: Any) -> None:
        from partners.tokens import create_token

        model = get_user_model()
        try:
            user = model.objects.get(**{model.USERNAME_FIELD: options["username"]})
        except model.DoesNotExist:
            raise CommandError(f"No user {options['username']!r}", returncode=2) from None
        _, token = create_token(user, options["name"])
        self.stdout.write(token)
        self.stderr.write("Keep this token now: it is not stored and will not be shown again.")
