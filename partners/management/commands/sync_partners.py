"""`manage.py sync_partners`: a thin door onto the sync engine."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from partners.management.failure import (
    SYNC_FAILURES,
    JsonFormatCommand,
    error_entry,
    fail,
    sync_failure,
    write_json,
)

SHOWN_PER_CATEGORY = 50
LARGE_INPUT_BYTES = 1_000_000
ARROWS = {"up": "↑", "down": "↓", "changed": ""}


def plural(count: int, word: str = "record") -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def describe(value: Any) -> str:
    return "(empty)" if value is None else str(value)


class Command(JsonFormatCommand):
    help = (
        "Compare partner tier files with the database; with --apply, write the changes and "
        "the store. Exit codes: 0 success, 1 validation failed (nothing written), 2 unusable "
        "input or arguments, 3 the sync could not finish (busy, store or database error)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths",
            nargs="*",
            metavar="PATH",
            help="input files or folders (default: PARTNERS_INPUT_DIR/partners_*)",
        )
        parser.add_argument("--apply", action="store_true", help="write the changes")
        parser.add_argument(
            "--source",
            metavar="NAME",
            help="the source name of the files (default: each file's name), e.g. for monthly "
            "exports of one portal under different names",
        )
        parser.add_argument(
            "--profile",
            metavar="NAME",
            help="read the files with this import profile (manage.py profiles); default: the "
            "profile whose file-name pattern matches each file, if any",
        )
        parser.add_argument(
            "--sheet",
            metavar="NAME|N",
            help="the XLSX sheet to read, by name or 1-based number (default: the profile's, "
            "else the first)",
        )
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="two-way: every field the files state wins, over edits and other sources",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="remove the records these sources stated before and no longer state",
        )
        parser.add_argument(
            "--prune-all",
            action="store_true",
            help="remove every record missing from the input (a full data-folder sync)",
        )
        parser.add_argument(
            "--max-remove",
            type=int,
            metavar="N",
            help="allow removing up to N records (default: PARTNERS_MAX_REMOVE, else the "
            "larger of a quarter of the records and 10)",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        from partners.profiles import parse_sheet
        from partners.sync import run_sync

        fmt = options["format"]
        try:
            progress = self._progress(options["paths"], options["apply"])
            with progress as on_stage:
                result = run_sync(
                    options["paths"],
                    apply=options["apply"],
                    prune=options["prune"],
                    prune_all=options["prune_all"],
                    overwrite=options["overwrite"],
                    max_remove=options["max_remove"],
                    source_name=options["source"],
                    profile=options["profile"],
                    sheet=parse_sheet(options["sheet"]),
                    source="cli",
                    on_stage=on_stage,
                )
        except SYNC_FAILURES as exc:
            fail(self, fmt, *sync_failure(exc))

        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"Warning: {warning}"))
        if result.ok:
            if fmt == "json":
                write_json(self, result)
            else:
                self._write_text(result)
            return
        if fmt == "text":
            for error in result.errors:
                self.stderr.write(self.style.ERROR(str(error)))
        if result.refusal and not result.errors:
            if fmt == "text":
                self._write_text(result)
            errors = [error_entry(result.refusal)]
            fail(self, fmt, result.refusal, errors, 1, result)
        errors = [error.to_dict() for error in result.errors]
        fail(self, fmt, f"{result.error_message}; nothing was written", errors, 1, result)

    def _progress(self, paths: list[str], apply: bool):
        """A progress bar over the engine's stages on stderr, for large inputs on a terminal."""
        if not self.stderr.isatty():
            return nullcontext(None)
        from partners.sync import InputError, resolve_inputs

        try:
            size = sum(p.stat().st_size for p in resolve_inputs(paths) if p.is_file())
        except (InputError, OSError):
            return nullcontext(None)
        if size < LARGE_INPUT_BYTES:
            return nullcontext(None)
        return _StageBar(self.stderr, STAGES if apply else STAGES[:2])

    def _write_text(self, result) -> None:
        out = self.stdout.write
        applied = result.applied
        if not applied:
            out("Dry run: nothing was written (use --apply to write).")
        out("Read " + ", ".join(_read(s) for s in result.sources))
        plan = result.plan
        self._section("Added" if applied else "Would add", plan.added, self._added_line)
        self._section("Updated" if applied else "Would update", plan.updated, self._updated_line)
        out(f"Unchanged: {plural(len(plan.unchanged))}")
        self._section(
            "Kept (changed here since the file's source last said otherwise)",
            plan.kept,
            self._kept_line,
            always=False,
        )
        self._section(
            "Conflicts (kept as they are; --overwrite lets the files win)",
            plan.conflicts,
            self._conflict_line,
            always=False,
        )
        if result.prune:
            self._section("Removed" if applied else "Would remove", plan.missing, self._key_line)
            self._section(
                "Missing from the input, not stated by these sources (kept; --prune-all removes)",
                plan.left,
                self._key_line,
                always=False,
            )
        else:
            self._section(
                "Missing from the input (kept; --prune removes)",
                plan.missing,
                self._key_line,
                always=False,
            )
        if applied:
            store = _store_display()
            out(f"Wrote {store}" if result.store_written else f"{store} already up to date")

    def _section(self, title: str, items: list, line, always: bool = True) -> None:
        if not items and not always:
            return
        self.stdout.write(f"{title} {plural(len(items))}" + (":" if items else ""))
        for item in items[:SHOWN_PER_CATEGORY]:
            self.stdout.write(f"  {line(item)}")
        if len(items) > SHOWN_PER_CATEGORY:
            more = len(items) - SHOWN_PER_CATEGORY
            self.stdout.write(f"  … and {more:,} more (--format json lists them all)")

    @staticmethod
    def _added_line(record) -> str:
        return f"+ {record.oem} / {record.name}: {record.tier} ({record.program})"

    @staticmethod
    def _kept_line(kept) -> str:
        row = kept.row
        if kept.deleted:
            return f"= {row.oem} / {row.name}: removed since; stays removed"
        return f"= {row.oem} / {row.name}: {', '.join(kept.fields)}"

    @staticmethod
    def _conflict_line(c) -> str:
        field = c["field"] or "record"
        return (
            f"! {c['oem']} / {c['name']}: {field} was {describe(c['base'])}, is "
            f"{describe(c['database'])} here, the file says {describe(c['file'])}"
        )

    @staticmethod
    def _key_line(row) -> str:
        return f"- {row.oem} / {row.name}: {row.tier} ({row.program})"

    @staticmethod
    def _updated_line(update) -> str:
        parts = []
        for name, change in update.changes.items():
            arrow = ARROWS.get(change.get("direction", "changed"), "")
            text = f"{name} {describe(change['old'])} → {describe(change['new'])}"
            parts.append(f"{text} {arrow}".rstrip())
        return f"~ {update.record.oem} / {update.record.name}: {'; '.join(parts)}"


def _read(source: dict[str, str]) -> str:
    name = source.get("source", "")
    return (
        source["path"]
        if name == source["path"].rsplit("/", 1)[-1]
        else (f"{source['path']} (source {name})")
    )


def _store_display() -> str:
    from django.conf import settings

    from partners.sync import display_path

    return display_path(Path(settings.PARTNERS_STORE_PATH))


STAGES = ("Loading", "Comparing", "Writing", "Writing store")


class _StageBar:
    """rich's progress bar, advanced as the engine reports each stage."""

    def __init__(self, stream, stages: tuple[str, ...]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.stages = stages
        self.progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=Console(file=stream._out, stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task("Starting", total=len(stages))

    def __enter__(self):
        self.progress.__enter__()
        return self.stage

    def stage(self, name: str) -> None:
        if name in self.stages:
            self.progress.update(self.task, description=name, completed=self.stages.index(name))
        else:
            self.progress.update(self.task, description=name)

    def __exit__(self, *exc: Any) -> None:
        self.progress.update(self.task, completed=len(self.stages))
        self.progress.__exit__(*exc)
