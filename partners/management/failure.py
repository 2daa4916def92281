"""How a command ends when it fails: the message on stderr (CommandError) and, for
`--format json`, one JSON object on stdout, so a script reading stdout always gets JSON."""

from __future__ import annotations

import codecs
import json
import os
from typing import IO, Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from partners.result_json import result_json
from partners.sync import InputError, LoadError, StoreError, SyncBusy, SyncResult

# What `run_sync` raises when a sync cannot start or finish (validation errors are returned).
SYNC_FAILURES = (InputError, LoadError, SyncBusy, StoreError, DatabaseError)


def error_entry(
    message: str, *, file: str | None = None, line: int | None = None, field: str | None = None
) -> dict[str, Any]:
    """One error shaped like a validation error's (`Problem.to_dict`): nulls where not known."""
    return {"file": file, "line": line, "field": field, "message": message}


def write_json(
    command: BaseCommand, data: dict[str, Any] | SyncResult, extra: dict[str, Any] | None = None
) -> None:
    """`data` with `extra`'s keys; a sync result is written as it is encoded (see
    `partners.result_json`), so a 100,000-record result is never one string."""
    if isinstance(data, SyncResult):
        chunks = result_json(data, extra=extra)
        if binary := _utf8_bytes(command):
            for chunk in chunks:
                _write_all(binary, chunk)
            return
        for chunk in chunks:
            command.stdout.write(chunk.decode(), ending="")
        return
    command.stdout.write(json.dumps({**data, **(extra or {})}, ensure_ascii=False, indent=2))


def _utf8_bytes(command: BaseCommand) -> IO[bytes] | None:
    """The bytes beneath the command's stdout when what it writes there is UTF-8 as written
    (a real stdout or file; not a StringIO), its text so far flushed into them.

    Optimization: orjson's UTF-8 is written as it is, not decoded and encoded again (0.07 s
    of writing 100,000 records' JSON)."""
    stdout = command.stdout
    binary = getattr(stdout, "buffer", None)
    encoding = getattr(stdout, "encoding", None)
    if binary is None or not encoding or os.linesep != "\n":
        return None
    if codecs.lookup(encoding).name != "utf-8":
        return None
    stdout.flush()
    return binary


def _write_all(binary: IO[bytes], data: bytes) -> None:
    """A raw stdout (`python -u`, PYTHONUNBUFFERED) may take only part of a write."""
    view = memoryview(data)
    while view:
        view = view[binary.write(view) :]


def fail(
    command: BaseCommand,
    fmt: str,
    detail: str,
    errors: list[dict[str, Any]],
    returncode: int,
    result: dict[str, Any] | SyncResult | None = None,
) -> NoReturn:
    """Exit with `returncode`; for JSON, print `result` (if any) with `detail` and `errors`
    added. `detail` is also the text on stderr, so both say the same."""
    if fmt == "json":
        write_json(command, result or {}, {"detail": detail, "errors": errors})
    raise CommandError(detail, returncode=returncode)


def asks_for_json(args: list[str]) -> bool:
    return "--format=json" in args or any(
        arg == "--format" and args[i + 1 : i + 2] == ["json"] for i, arg in enumerate(args)
    )


class JsonFormatCommand(BaseCommand):
    """A command with `--format json`. On the real command line argparse reports a bad
    argument on stderr and exits 2 before `handle` runs; this says it as JSON on stdout too."""

    _argv: list[str] = []

    def run_from_argv(self, argv: list[str]) -> None:
        self._argv = argv[2:]
        super().run_from_argv(argv)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        report = parser.error

        def error(message: str) -> None:  # as CommandParser.error: exits or raises
            if asks_for_json(self._argv):
                write_json(self, {"detail": message, "errors": [error_entry(message)]})
            report(message)

        parser.error = error  # type: ignore[method-assign]
        return parser


def sync_failure(exc: Exception) -> tuple[str, list[dict[str, Any]], int]:
    """The message, error entries and exit code of one of SYNC_FAILURES: 2 unusable input,
    3 the sync could not finish."""
    if isinstance(exc, LoadError):
        return str(exc), [error_entry(str(exc), file=exc.path)], 2
    if isinstance(exc, InputError):
        return str(exc), [error_entry(str(exc))], 2
    if isinstance(exc, StoreError):
        from partners.store import store_path
        from partners.sync import display_path

        return str(exc), [error_entry(str(exc), file=display_path(store_path()))], 3
    detail = f"Database error: {exc}" if isinstance(exc, DatabaseError) else str(exc)
    return detail, [error_entry(detail)], 3
