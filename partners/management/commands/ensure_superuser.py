"""`manage.py ensure_superuser`: first-run login for `make run`; does nothing once one exists."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

DEFAULT_URL = "http://127.0.0.1:8000/admin/"


class Command(BaseCommand):
    help = "Create a superuser 'admin' with a random password (printed once) if none exists."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        # `make run` passes the address it serves on (HOST, PORT), so the login link is right.
        parser.add_argument(
            "--url",
            default=DEFAULT_URL,
            help=f"the admin's address to show (default {DEFAULT_URL})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["url"]
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write(
                f"Log in at {url} with your superuser "
                "(forgotten the password? manage.py changepassword NAME)."
            )
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", "", password)
        self.stdout.write(
            "Created superuser 'admin' with password "
            f"{password}\nLog in at {url} (this password is shown once)."
        )
