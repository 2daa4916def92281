"""Small helpers shared by the tests: writing inputs and running commands."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command

HEADER = ["name", "tier", "program", "oem", "poc", "notes"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def write_json(path: Path, records: object) -> Path:
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def run(*args: str) -> tuple[str, str, int]:
    """Run a management command as a user would: stdout, stderr and the exit code."""
    out, err, code = StringIO(), StringIO(), 0
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        code = exc.returncode
        err.write(f"CommandError: {exc}\n")
    except SystemExit as exc:
        code = int(exc.code or 0)
    return out.getvalue(), err.getvalue(), code


@contextmanager
def lock_held_elsewhere() -> Iterator[None]:
    """The sync lock held by another thread (its own database session), as another server
    process would hold it, for as long as the `with` block runs."""
    from django.db import connection

    from partners.locking import sync_lock

    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with sync_lock(10):
                holding.set()
                release.wait(60)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(30), "the other thread never got the lock"
        yield
    finally:
        release.set()
        thread.join()
