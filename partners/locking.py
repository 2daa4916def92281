"""One lock that serializes everything that writes partner tiers or the store, across processes.

PostgreSQL: a session-level advisory lock, so several app servers on several machines share it.
SQLite: an exclusive `flock` on a file beside the database; SQLite only ever serves one machine.
The lock is held from before the diff until the store is written, so each sync diffs against
the state it changes and the store is never overwritten with an older state.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import DatabaseError, connection

ADVISORY_KEY = 0x5041_5254  # "PART"
POLL_SECONDS = 0.05

_held = threading.local()


class SyncBusy(Exception):
    """Another sync held the lock for longer than we were willing to wait."""


def _lock_file() -> Path:
    name = str(connection.settings_dict["NAME"])
    if name and name != ":memory:" and not name.startswith("file:"):
        return Path(name).with_name(Path(name).name + "-sync.lock")
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"partners-sync-{digest}.lock"


def _wait(try_once, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not try_once():
        if time.monotonic() >= deadline:
            raise SyncBusy(f"another sync is running; gave up after {timeout:g} s")
        time.sleep(POLL_SECONDS)


@contextmanager
def sync_lock(timeout: float = 60.0) -> Iterator[None]:
    """Hold the sync lock; re-entrant within one thread."""
    depth = getattr(_held, "depth", 0)
    if depth:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    if connection.vendor == "postgresql":
        with _advisory_lock(timeout):
            yield
    else:
        with _file_lock(timeout):
            yield


@contextmanager
def _advisory_lock(timeout: float) -> Iterator[None]:
    def try_once() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
            return bool(cursor.fetchone()[0])

    _wait(try_once, timeout)
    _held.depth = 1
    try:
        yield
    finally:
        _held.depth = 0
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
        except DatabaseError:  # the session is broken; closing it releases the lock
            connection.close()


@contextmanager
def _file_lock(timeout: float) -> Iterator[None]:
    path = _lock_file()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:

        def try_once() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _wait(try_once, timeout)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
