"""`manage.py revert_sync RUN_ID`: a thin door onto `partners.revert`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from partners.management.commands.sync_partners import SHOWN_PER_CATEGORY, describe, plural
from partners.management.failure import (
    SYNC_FAILURES,
    JsonFormatCommand,
    error_entry,
    fail,
    sync_failure,
    write_json,
)


class Command(JsonFormatCommand):
    help = (
        "Undo a sync run: records it added are removed, records it updated get their old values "
        "back, records it removed come back. A dry run unless --apply. Exit codes: 0 success, "
        "1 records changed since the run (conflicts; nothing written), 2 unknown run, a run "
        "that changed nothing, or bad arguments, 3 the revert could not finish."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id", type=int, metavar="RUN_ID", help="the sync run to undo")
        parser.add_argument("--apply", action="store_true", help="write the revert")
        parser.add_argument(
            "--skip-conflicts",
            action="store_true",
            help="revert the rest, leave records changed since the run as they are",
        )
        parser.add_argument(
            "--force", action="store_true", help="overwrite records changed since the run"
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        from partners.revert import RevertConflicts, RevertError, revert_run

        fmt = options["format"]
        if options["skip_conflicts"] and options["force"]:
            message = "--skip-conflicts and --force exclude each other"
            fail(self, fmt, message, [error_entry(message)], 2)
        try:
            result = revert_run(
                options["run_id"],
                apply=options["apply"],
                skip_conflicts=options["skip_conflicts"],
                force=options["force"],
            )
        except RevertError as exc:
            fail(self, fmt, str(exc), [error_entry(str(exc))], 2)
        except RevertConflicts as exc:
            if fmt == "text":
                self._write_conflicts(exc.result.conflicts)
            errors = [error_entry(str(exc))]
            fail(self, fmt, str(exc), errors, 1, result=exc.result)
        except SYNC_FAILURES as exc:
            fail(self, fmt, *sync_failure(exc))
        if fmt == "json":
            write_json(self, result)
        else:
            self._write_text(result)

    def _write_text(self, result: Any) -> None:
        out = self.stdout.write
        done = result.applied
        if not done:
            out("Dry run: nothing was written (use --apply to write).")
        out(f"Revert of sync run {result.reverts}" + (f" (run {result.run_id})" if done else ""))
        plan = result.plan
        self._section("Removed" if done else "Would remove", [_key(r) for r in plan.missing])
        self._section("Restored" if done else "Would restore", [_key(r) for r in plan.added])
        self._section(
            "Restored values of" if done else "Would restore values of",
            [f"{_key(u.record)}: {_changes(u.changes)}" for u in plan.updated],
        )
        if result.conflicts:
            self._write_conflicts(result.conflicts, kept=True)
        if not result.conflicts and not any((plan.added, plan.missing, plan.updated)):
            out("Nothing to revert: every record already is as it was before the run.")

    def _write_conflicts(self, conflicts: list[dict[str, Any]], kept: bool = False) -> None:
        title = "Changed since the run" + (
            " (left as they are unless --force)" if kept else " (conflicts)"
        )
        lines = [
            f"{c['oem']} / {c['name']}: {c['field'] or 'record'} is {describe(c['database'])}, "
            f"the revert would restore {describe(c['revert'])}"
            for c in conflicts
        ]
        self._section(title, lines, stream=self.stderr if not kept else self.stdout)

    def _section(self, title: str, lines: list[str], stream: Any = None) -> None:
        if not lines:
            return
        write = (stream or self.stdout).write
        write(f"{title}: {plural(len(lines))}")
        for line in lines[:SHOWN_PER_CATEGORY]:
            write(f"  {line}")
        if len(lines) > SHOWN_PER_CATEGORY:
            write(f"  … and {len(lines) - SHOWN_PER_CATEGORY:,} more (--format json lists them)")


def _key(record: Any) -> str:
    return f"{record.oem} / {record.name} ({record.tier})"


def _changes(changes: dict[str, Any]) -> str:
    return "; ".join(
        f"{name} {describe(c['old'])} → {describe(c['new'])}" for name, c in changes.items()
    )
