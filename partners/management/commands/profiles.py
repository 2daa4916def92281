"""`manage.py profiles export [NAME]` and `manage.py profiles import FILE`: import profiles as
YAML, so they can live in version control (the shape is in partners/profiles.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction


class Command(BaseCommand):
    help = (
        "Export import profiles as YAML (all, or the one named) or import them from a YAML "
        "file, creating or replacing each by name, all or nothing. Exit codes: 0 success, "
        "2 unusable input (nothing saved)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        export = actions.add_parser("export", help="print profiles as YAML")
        export.add_argument("name", nargs="?", metavar="NAME", help="only this profile")
        load = actions.add_parser("import", help="create or replace profiles from a YAML file")
        load.add_argument("file", metavar="FILE")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self._export(options["name"])
        else:
            self._import(Path(options["file"]))

    def _export(self, name: str | None) -> None:
        from partners.profiles import all_profiles, export_yaml

        found = [p for p in all_profiles() if name is None or p.name == name]
        if name is not None and not found:
            raise CommandError(f"No profile named {name!r}", returncode=2)
        self.stdout.write(export_yaml(found), ending="")

    def _import(self, path: Path) -> None:
        from partners.profiles import MAX_YAML_BYTES, ProfileError, import_yaml, save

        try:
            if path.stat().st_size > MAX_YAML_BYTES:
                raise CommandError(f"{path}: larger than {MAX_YAML_BYTES:,} bytes", returncode=2)
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise CommandError(f"Failed to read {path}: {reason}", returncode=2) from None
        try:
            profiles = import_yaml(text, str(path))
        except ProfileError as exc:
            for message in exc.messages:
                self.stderr.write(self.style.ERROR(message))
            count = len(exc.messages)
            raise CommandError(
                f"{path}: {count} problem{'s' if count != 1 else ''}; no profile was saved",
                returncode=2,
            ) from None
        with transaction.atomic():
            for profile in profiles:
                save(profile)
        names = ", ".join(p.name for p in profiles)
        self.stdout.write(
            f"Saved {len(profiles)} profile{'s' if len(profiles) != 1 else ''}: {names}"
        )
