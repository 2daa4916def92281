"""The ledger: one row per change to a partner tier, written with the change itself.

Every write goes through `sync.applying_run`, which calls `record` in the same transaction as
the data, so a change never exists without its entry and its run. Entries are written in bulk:
added records are copied by one `INSERT … SELECT` from the rows just inserted (their ids and
their JSON built by the database), updated and removed ones by one `executemany`.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db import connection

from partners import db
from partners.diff import Plan
from partners.models import LedgerEntry
from partners.normalize import tier_direction
from partners.records import RECORD_FIELDS

TABLE = LedgerEntry._meta.db_table
COLUMNS = (
    "run_id, record_id, action, oem, name, program, oem_key, name_key, tier_from, tier_to, "
    "old, new, at, user_id"
)


def _json_param() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _json_object_sql() -> str:
    """SQL building a record's eight fields as one JSON object, from the table's columns."""
    pairs = []
    for name in RECORD_FIELDS:
        column = db.time_as_text(name) if name.endswith("_at") else name
        pairs.append(f"'{name}', {column}")
    function = "json_build_object" if connection.vendor == "postgresql" else "json_object"
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    return f"{function}({', '.join(pairs)}){cast}"


def record(plan: Plan, *, run_id: int, user_id: int | None, at: str, added_after: int) -> None:
    """The plan's changes as ledger entries. `added_after`: the largest id before the plan's
    records were inserted (ids only grow while the sync lock is held)."""
    when = db.db_time()(at)
    with connection.cursor() as cursor:
        if plan.added:
            cursor.execute(
                f"INSERT INTO {TABLE} ({COLUMNS}) SELECT %s, id, 'added', oem, name, program, "
                f"oem_key, name_key, NULL, tier, NULL, {_json_object_sql()}, %s, %s "
                f"FROM {db.TABLE} WHERE id > %s",
                [run_id, when, user_id, added_after],
            )
        rows = [_updated(update, run_id, user_id, when) for update in plan.updated]
        rows += [_removed(row, run_id, user_id, when) for row in plan.missing]
        if rows:
            values = ", ".join(["%s"] * 10 + [_json_param()] * 2 + ["%s", "%s"])
            cursor.executemany(f"INSERT INTO {TABLE} ({COLUMNS}) VALUES ({values})", rows)


def _updated(update: Any, run_id: int, user_id: int | None, when: str | None) -> tuple:
    row, new = update.row, update.record
    old_values = {name: change["old"] for name, change in update.changes.items()}
    new_values = {name: change["new"] for name, change in update.changes.items()}
    old_values["updated_at"], new_values["updated_at"] = row.updated_at, new.updated_at
    tier = update.changes.get("tier")
    return (
        run_id,
        row.id,
        "updated",
        new.oem,
        new.name,
        new.program,
        new.oem_key,
        new.name_key,
        tier and tier["old"],
        tier and tier["new"],
        _json(old_values),
        _json(new_values),
        when,
        user_id,
    )


def _removed(row: db.Row, run_id: int, user_id: int | None, when: str | None) -> tuple:
    return (
        run_id,
        row.id,
        "removed",
        row.oem,
        row.name,
        row.program,
        row.oem_key,
        row.name_key,
        row.tier,
        None,
        _json(row.to_dict()),
        None,
        when,
        user_id,
    )


SHOWN_FIELDS = ("name", "tier", "program", "oem", "poc", "notes")


def field_rows(entry: LedgerEntry) -> list[dict[str, Any]]:
    """An entry as `{field, old, new, direction}` rows, for the admin's history tables:
    every changed field of an update; the tier (and what else it held) of an added or
    removed record."""
    old, new = entry.old or {}, entry.new or {}
    rows = []
    for name in SHOWN_FIELDS:
        if name not in old and name not in new:
            continue
        before, after = old.get(name), new.get(name)
        if entry.action == "updated" and before == after:
            continue
        if entry.action != "updated" and (before or after) is None:
            continue
        direction = tier_direction(before, after) if name == "tier" and before and after else ""
        rows.append({"field": name, "old": before, "new": after, "direction": direction})
    return rows
