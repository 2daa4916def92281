"""A person's single-record writes (admin add, change, delete): the same write path as a sync.

Each is a run of its own (source `edit`) with ledger entries, written under the sync lock and
followed by the store and the vault, exactly like a sync; the rules are `check_record`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from partners import db
from partners.diff import Update, field_changes
from partners.normalize import now_timestamp
from partners.programs import load_catalog
from partners.records import Problem, Record
from partners.sync import SyncResult, applying_run, check_record

EDIT_LOCK_TIMEOUT = 10.0  # seconds a person's save waits for a running sync


def _result(prune: bool = False) -> SyncResult:
    return SyncResult(dry_run=False, prune=prune, sources=[])


def save_record(
    values: dict[str, Any], *, pk: int | None, user: Any, lock_timeout: float = EDIT_LOCK_TIMEOUT
) -> SyncResult:
    """Add (`pk` None) or change one record. Validation problems come back as errors of the
    result (checked again under the lock: another write may have come in since the form)."""

    def compute() -> SyncResult:
        result = _result()
        cleaned, problems = check_record(values, pk)
        row = db.read_row(pk) if pk is not None else None
        if pk is not None and row is None:
            problems.append((None, "this partner tier was deleted in the meantime"))
        if problems:
            result.errors = [Problem("edit", "Record", 0, f, m) for f, m in problems]
            return result
        catalog = load_catalog()
        if flag := catalog.off_ladder(cleaned["oem"], cleaned["program"], cleaned["tier"]):
            result.warnings.append(flag)  # kept as written, as a sync keeps it, and said
        now = now_timestamp()
        times = {"created_at": row.created_at if row else now, "updated_at": now}
        record = Record.of({**cleaned, **times})
        if row is None:
            result.plan.added.append(record)
        elif changes := field_changes(row.compared(), record.compared(), catalog):
            result.plan.updated.append(Update(row, record, changes))
        return result

    return applying_run(compute, source="edit", user=user, sources=[], lock_timeout=lock_timeout)


def delete_records(
    ids: Sequence[int], *, user: Any, lock_timeout: float = EDIT_LOCK_TIMEOUT
) -> SyncResult:
    """Remove records by id (ids already gone are ignored)."""

    def compute() -> SyncResult:
        result = _result(prune=True)
        result.plan.missing = db.read_rows_by_id(ids)
        return result

    return applying_run(compute, source="edit", user=user, sources=[], lock_timeout=lock_timeout)
