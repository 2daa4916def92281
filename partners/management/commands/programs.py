"""`manage.py programs load|export|import FILE`: the catalog of programs and tier ladders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "load: the shipped catalog (data/programs.yaml) into the database, never over a "
        "program a person changed; export: the catalog as YAML on stdout; import FILE: create "
        "or replace programs by OEM + program, all or nothing. Exit codes: 0 success, 2 a bad "
        "file."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("load", help="load the shipped catalog")
        sub.add_parser("export", help="print the catalog as YAML")
        importing = sub.add_parser("import", help="create or replace programs from FILE")
        importing.add_argument("file")

    def handle(self, *args: Any, **options: Any) -> None:
        from partners import programs

        if options["action"] == "export":
            entries, oem_aliases = programs.read_entries()
            self.stdout.write(programs.dump_catalog(entries, oem_aliases), ending="")
            return
        if options["action"] == "load":
            try:
                loaded = programs.load_shipped()
            except (programs.CatalogError, OSError) as exc:
                raise CommandError(str(exc), returncode=2) from None
            kept = f"; kept {len(loaded.kept)} a person changed" if loaded.kept else ""
            self.stdout.write(
                f"Programs: created {len(loaded.created)}, refreshed {len(loaded.refreshed)}{kept}."
            )
            return
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise CommandError(f"Failed to read {path}: {reason}", returncode=2) from None
        try:
            entries, oem_aliases = programs.parse_catalog(text, str(path))
        except programs.CatalogError as exc:
            raise CommandError(f"{exc}; nothing was imported", returncode=2) from None
        count = programs.import_catalog(entries, oem_aliases)
        self.stdout.write(f"Imported {count} program{'s' if count != 1 else ''} from {path}.")
