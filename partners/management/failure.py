"""How a command ends when it fails: the message on stderr (CommandError) and, for
`--format json`, one JSON object on stdout, so a script reading stdout always gets JSON."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError


def error_entry(
    message: str, *, file: str | None = None, line: int | None = None, field: str | None = None
) -> dict[str, Any]:
    """One error shaped like a validation error's (`Problem.to_dict`): nulls where not known."""
    return {"file": file, "line": line, "field": field, "message": message}


def write_json(command: BaseCommand, data: dict[str, Any]) -> None:
    command.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))


def fail(
    command: BaseCommand,
    fmt: str,
    detail: str,
    errors: list[dict[str, Any]],
    returncode: int,
    result: dict[str, Any] | None = None,
) -> NoReturn:
    """Exit with `returncode`; for JSON, print `result` (if any) with `detail` and `errors`
    added. `detail` is also the text on stderr, so both say the same."""
    if fmt == "json":
        write_json(command, {**(result or {}), "detail": detail, "errors": errors})
    raise CommandError(detail, returncode=returncode)
