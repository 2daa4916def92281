"""`manage.py export_obsidian`: a thin door onto the Obsidian exporter."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError


class Command(BaseCommand):
    help = (
        "Write one note per OEM (and an index note) into <vault>/30 Hubs/OEMs/, changing only "
        "the exporter's block and properties, and only when they differ. Exit codes: 0 every "
        "note written or unchanged, 1 some notes skipped as conflicts (the rest written), "
        "2 no usable vault, 3 the export could not finish."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--vault", help="the vault folder (default: VAULT_ROOT)")
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be written; write nothing"
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="move notes of OEMs without records to the vault's .trash/ when nothing "
            "a person wrote is in them",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        from partners.locking import SyncBusy
        from partners.obsidian import VaultError, export_obsidian

        try:
            result = export_obsidian(
                options["vault"], dry_run=options["dry_run"], prune=options["prune"]
            )
        except VaultError as exc:
            raise CommandError(str(exc), returncode=2) from None
        except (SyncBusy, OSError) as exc:
            raise CommandError(f"Export failed: {exc}", returncode=3) from None
        except DatabaseError as exc:
            raise CommandError(f"Database error: {exc}", returncode=3) from None

        if options["format"] == "json":
            self.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        else:
            verb = "Would write" if result.dry_run else "Wrote"
            self.stdout.write(f"{verb} {len(result.files_written)} notes")
            for path in result.files_written:
                self.stdout.write(f"  {path}")
            self.stdout.write(f"Unchanged: {len(result.files_unchanged)} notes")
            for path in result.inactive:
                self.stdout.write(f"Inactive (no partner tiers left): {path}")
            for path in result.trashed:
                self.stdout.write(f"Moved to the trash: {path}")
            for conflict in result.conflicts:
                self.stderr.write(
                    self.style.WARNING(f"Skipped {conflict['path']}: {conflict['reason']}")
                )
        if result.conflicts:
            raise CommandError(
                f"{len(result.conflicts)} notes skipped as conflicts; the rest were exported",
                returncode=1,
            )
