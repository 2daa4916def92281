"""`manage.py ensure_superuser`: first-run login for `make run`; does nothing once one exists."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a superuser 'admin' with a random password (printed once) if none exists."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            self.stdout.write(
                "Log in at http://127.0.0.1:8000/admin/ with your superuser "
                "(forgotten the password? manage.py changepassword NAME)."
            )
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", "", password)
        self.stdout.write(
            "Created superuser 'admin' with password "
            f"{password}\nLog in at http://127.0.0.1:8000/admin/ (this password is shown once)."
        )
