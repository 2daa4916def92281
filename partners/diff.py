"""The one diff: input records against database rows, by identity key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from partners.db import Row
from partners.normalize import tier_direction
from partners.records import COMPARED, Record

Change = dict[str, str | None]


@dataclass(slots=True)
class Update:
    row: Row
    record: Record
    changes: dict[str, Change]


@dataclass(slots=True)
class Kept:
    """A row left as it is although its file says otherwise: the file's source did not change
    these fields since it last stated them, so the database's values (an edit, another
    source) stand."""

    row: Row | Record  # the file's record when `deleted`
    fields: list[str]
    deleted: bool = False  # removed since the source stated it; it stays removed


@dataclass
class Plan:
    added: list[Record] = field(default_factory=list)
    updated: list[Update] = field(default_factory=list)
    unchanged: list[Row] = field(default_factory=list)
    missing: list[Row] = field(default_factory=list)  # with prune: the rows to remove
    kept: list[Kept] = field(default_factory=list)
    conflicts: list[dict[str, str | None]] = field(default_factory=list)
    held: list[Row] = field(default_factory=list)  # rows not written though they differ
    left: list[Row] = field(default_factory=list)  # missing rows a scoped prune leaves


def field_changes(old: tuple[str | None, ...], new: tuple[str | None, ...]) -> dict[str, Change]:
    changes: dict[str, Change] = {}
    for name, before, after in zip(COMPARED, old, new, strict=True):
        if before != after:
            change: Change = {"old": before, "new": after}
            if name == "tier":
                change["direction"] = tier_direction(before, after)
            changes[name] = change
    return changes


def diff(records: Iterable[Record], rows: Iterable[Row]) -> Plan:
    plan = Plan()
    existing = {row.key: row for row in rows}
    for record in records:
        row = existing.pop(record.key, None)
        if row is None:
            plan.added.append(record)
            continue
        old, new = row.compared(), record.compared()
        if old == new:
            plan.unchanged.append(row)
        else:
            plan.updated.append(Update(row, record, field_changes(old, new)))
    plan.missing = list(existing.values())
    return plan
