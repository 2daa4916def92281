"""`manage.py export_obsidian`: a thin door onto the Obsidian exporter."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.management.base import CommandParser
from django.db import DatabaseError

from partners.management.failure import JsonFormatCommand, error_entry, fail, write_json

if TYPE_CHECKING:
    from partners.obsidian import ExportResult


class Command(JsonFormatCommand):
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

        fmt = options["format"]
        try:
            result = export_obsidian(
                options["vault"], dry_run=options["dry_run"], prune=options["prune"]
            )
        except VaultError as exc:
            fail(self, fmt, str(exc), [error_entry(str(exc))], 2)
        except (SyncBusy, OSError) as exc:
            detail = f"Export failed: {exc}"
            filename = getattr(exc, "filename", None)
            file = None if filename is None else str(filename)
            fail(self, fmt, detail, [error_entry(detail, file=file)], 3)
        except DatabaseError as exc:
            detail = f"Database error: {exc}"
            fail(self, fmt, detail, [error_entry(detail)], 3)

        if fmt == "text":
            self._write_text(result)
        if not result.conflicts:
            if fmt == "json":
                write_json(self, result.to_dict())
            return
        # Exit 1: the usual result, plus the `detail` and `errors` that every failed exit has.
        detail = f"{len(result.conflicts)} notes skipped as conflicts; the rest were exported"
        errors = [
            error_entry(f"Skipped {c['path']}: {c['reason']}", file=c["path"])
            for c in result.conflicts
        ]
        fail(self, fmt, detail, errors, 1, result.to_dict())

    def _write_text(self, result: ExportResult) -> None:
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
