"""What a plan holds and the one field-level diff; `partners.merge` builds sync plans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from partners.db import Row
from partners.programs import EMPTY, Catalog
from partners.records import COMPARED, Record

Change = dict[str, str | None]
TIER_AT = COMPARED.index("tier")  # then program, then OEM (partners.fields)


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
    # Unchanged and missing rows can be most of the table: a sync holds them as ids
    # (`db.RowSet`); with prune, `missing` are the rows to remove, as rows.
    unchanged: Sequence[Row] = field(default_factory=list)
    missing: Sequence[Row] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    conflicts: list[dict[str, str | None]] = field(default_factory=list)
    left: Sequence[Row] = field(default_factory=list)  # missing rows a scoped prune leaves


def field_changes(
    old: tuple[str | None, ...], new: tuple[str | None, ...], catalog: Catalog = EMPTY
) -> dict[str, Change]:
    """The fields that differ, old → new; a tier change has its direction on the ladder of the
    record's (new) OEM and program, else by the global ranking."""
    changes: dict[str, Change] = {}
    for name, before, after in zip(COMPARED, old, new, strict=True):
        if before != after:
            change: Change = {"old": before, "new": after}
            if name == "tier":
                oem, program = new[TIER_AT + 2], new[TIER_AT + 1]
                change["direction"] = catalog.direction(oem or "", program, before, after)
            changes[name] = change
    return changes
