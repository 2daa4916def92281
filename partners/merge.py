"""The three-way sync: each source changes only what it changed since it last said it.

Per record and field, the file's value F is compared with the base B (what the same source
stated last time) and the database's value D:

    F == B            nothing changes; D != B is listed as kept (an edit, another source)
    F != B, D == B    updated to F
    F != B, D == F    unchanged
    F != B, D != B    a conflict; D stays

A field the file does not carry is never changed. Without a base (a source's first sync, or
a record new to it) the sync is two-way, except that a field whose last change was a
person's edit is a conflict. `overwrite` is the two-way sync: every field the file states
wins.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from itertools import compress, repeat
from operator import attrgetter, eq, itemgetter
from types import SimpleNamespace
from typing import Any

from partners.db import STREAMED_TIME, Row, RowSet, row_of
from partners.diff import Kept, Plan, Update, field_changes
from partners.fields import COMPARED
from partners.normalize import key_parts, record_key
from partners.programs import EMPTY, Catalog
from partners.records import COMPARED_OF, Record, sharing
from partners.sources import NOT_STATED, POSITION, Base, Entry, Key, value

Edited = Callable[[Sequence[int]], Mapping[int, set[str]]]
Lazy = Callable[[Collection[Key]], Base]  # a base read only for the keys asked of it
SAME = object()  # a source whose files are what it last applied: F is its base
NO_BASE: Base = {}  # a source's base when it has none
# A row tuple's (`db.stream_rows`) id, compared fields and (oem_key, name_key).
ID_AT, COMPARED_AT, KEYS_AT = itemgetter(0), itemgetter(slice(1, 7)), itemgetter(8, 7)
SOURCE_OF = attrgetter("provenance.source")  # in C, not through the property
# A row's record when the files have none: its compared values equal no row's.
ABSENT = SimpleNamespace(**dict.fromkeys(COMPARED, object()))


def _row_key(values: Sequence[Any]) -> str:
    """A row tuple's record key."""
    return record_key(KEYS_AT(values))


def _row_keys(chunk: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The record keys of row tuples, made in C."""
    return map(record_key, map(KEYS_AT, chunk))


def _kept_order(kept: Kept) -> str:
    """Kept records are listed by OEM, then name: the order of neither the files nor the
    table, so a listing does not depend on which files a source's base was built from."""
    return kept.row.key


def merge(
    incoming: dict[Key, Record],
    chunks: Iterable[Sequence[tuple[Any, ...]]],
    bases: Mapping[str, Base | Lazy | None],
    *,
    overwrite: bool = False,
    edited: Edited = lambda ids: {},
    removal: Callable[[Key], bool] | None = None,
    catalog: Catalog = EMPTY,
) -> Plan:
    """The plan for the records `incoming` (by key, in the files' order; taken out as their
    rows pass) against the table, read as `chunks` of row tuples (`Row`'s fields;
    `db.stream_rows`). `bases` maps each source name to its base, to a `Lazy` one (asked,
    once, for the entries of the records that differ from their rows or are new), or to None
    when its files are what it last applied (then each file value is its base).

    Memory holds the records and what changes: unchanged rows are kept as ids, and so are
    missing rows, except those `removal` says a prune may remove (it is None without one).
    """
    plan = Plan()
    files = {path: i for i, path in enumerate(dict.fromkeys(map(SOURCE_OF, incoming.values())))}

    def order(record: Record) -> tuple[int, int]:  # the files' order
        return files[record.source], record.line

    differ: list[tuple[Record, Row, list[str]]] = []
    unchanged = array("q")  # 8 bytes an id: most of the table, at its largest
    missing: list[int] = []
    removable_rows: list[Row] = []
    shared: dict[Any, Any] = {}  # one object per distinct value the rows hold apart from records
    times: dict[Any, str] = {}  # each distinct time read, as a row holds it
    take = incoming.pop
    for chunk in chunks:
        # Optimization: the usual record is unchanged; each row's record is taken and compared
        # with it in C, and the loop below sees only the others (their rows built only then).
        taken: list[Any] = list(map(take, _row_keys(chunk), repeat(ABSENT, len(chunk))))
        same = list(map(eq, map(COMPARED_OF, taken), map(COMPARED_AT, chunk)))
        unchanged.extend(compress(map(ID_AT, chunk), same))
        for values, record, equal in zip(chunk, taken, same, strict=True):
            if equal:
                continue
            if record is ABSENT:
                if removal is not None and removal(_row_key(values)):
                    removable_rows.append(row_of(values))
                else:
                    missing.append(values[0])
                continue
            in_file, in_db = record.compared(), values[1:7]
            stated = record.stated
            differing = [
                f
                for f, a, b in zip(COMPARED, in_file, in_db, strict=True)
                if a != b and f in stated
            ]
            if not differing:
                unchanged.append(values[0])
                continue
            differ.append((record, _row_like(values, record, shared, times), differing))
    # `overwrite` decides without bases: every field the files state wins.
    read = _read(bases, [] if overwrite else [*(r for r, _, _ in differ), *incoming.values()])
    decided = [
        (order(record), record, row, *_decide(record, row, differing, read, overwrite))
        for record, row, differing in differ
    ]
    del differ
    # Everything in the files' order, as a walk over the files would list it: three-way
    # conflicts (and new records that are conflicts) first, then those of two-way fields.
    # Optimization: each record's position worked out once, and what only two-way fields or
    # conflicts need done only for them (10,097 updates: 73 -> 61 ms).
    decided.sort(key=itemgetter(0))
    conflicts: list[tuple[int, tuple[int, int], dict]] = []
    edits = edited([row.id for _, _, row, _, _, two_way, _ in decided if two_way])
    for position, record, row, changed, kept, two_way, found in decided:
        if found:
            conflicts += [(0, position, conflict) for conflict in found]
        if two_way:
            mine = edits.get(row.id, ())
            for name in two_way:
                if name in mine:  # a person's edit was its last change: not overwritten
                    conflict = _conflict(
                        record, name, None, getattr(row, name), getattr(record, name)
                    )
                    conflicts.append((1, position, conflict))
                else:
                    changed.append(name)
        if kept:
            plan.kept.append(Kept(row, kept))
        if changed:
            _update(plan, row, record, changed, catalog)
    if overwrite or all(base == NO_BASE for base in read.values()):
        # Optimization: no source has a base for these records (a first apply), so every
        # record the table lacks is new, as `_absent` would find each (100,000 records:
        # ~0.04 s). A source whose files are unchanged (None: SAME) is not such a source.
        plan.added += incoming.values()
    else:
        for new in incoming.values():
            absent = _absent(new, _base_of(new, read), overwrite, plan)
            if absent:
                conflicts.append((0, order(new), absent))
    conflicts.sort(key=lambda item: item[:2])
    plan.conflicts = [conflict for _, _, conflict in conflicts]
    plan.kept.sort(key=_kept_order)
    plan.unchanged = RowSet(unchanged)
    if removal is None:
        plan.missing = RowSet(missing)
    else:
        plan.missing, plan.left = removable_rows, RowSet(missing)
    return plan


def _row_like(
    values: Sequence[Any], record: Record, shared: dict[Any, Any], times: dict[Any, str]
) -> Row:
    """The row of `values`, holding its record's objects for the values they share and one
    object per distinct other value (a tier, a program, a time).

    Optimization: a row that differs from its record mostly differs in one field; its other
    values were fresh objects per row (a 10%-changed apply of 1,000,000 records: ~60 MB
    held to its end). Each distinct time is formatted once (`times`: by the text read)."""
    oem_key, name_key = key_parts(record.key)  # the row's: the two were matched by it
    created, updated = values[9], values[10]
    compared = sharing(record, values[1:7], shared)  # most its record's own objects
    return Row(
        *[
            values[0],
            *compared,
            name_key,
            oem_key,
            times.get(created) or times.setdefault(created, STREAMED_TIME(created)),
            times.get(updated) or times.setdefault(updated, STREAMED_TIME(updated)),
        ]
    )


def restated(
    stated: dict[Key, int | dict[str, Any]],
    chunks: Iterable[Sequence[tuple[Any, ...]]],
    entries: Callable[[Collection[Key]], Mapping[Key, Entry]],
) -> Plan:
    """The plan `merge` makes of files that are what their sources last applied (F is B for
    every record and field), from their bases alone: nothing changes; rows that differ from
    what was stated are kept (an edit, another source), stated records removed since stay
    removed, the rest is unchanged or missing.

    Optimization: `stated` holds each entry's hash (`sources.load_hashed`; an entry of some
    fields as itself), so a row equal to what was stated is told by its hash, and `entries`
    reads only the entries of the others. Memory holds a hash per record, not its values."""
    plan = Plan()
    unchanged = array("q")  # in id order, as the rows stream by
    missing: list[int] = []
    others: list[tuple[Any, ...]] = []
    take = stated.pop
    for chunk in chunks:
        said = list(map(take, _row_keys(chunk), repeat(None, len(chunk))))
        same = list(map(eq, said, map(hash, map(COMPARED_AT, chunk))))
        unchanged.extend(compress(map(ID_AT, chunk), same))
        for values, entry, equal in zip(chunk, said, same, strict=True):
            if equal:
                continue
            if entry is None:
                missing.append(values[0])
            else:
                others.append(values)
    found = entries([*_row_keys(others), *stated])
    kept: list[Kept] = []
    alike: list[int] = []  # rows of `others` that are what was stated after all, in id order
    for values in others:
        was_stated = found[_row_key(values)]
        differing = [
            name
            for name, now in zip(COMPARED, values[1:7], strict=True)
            if (was := value(was_stated, name)) is not NOT_STATED and was != now
        ]
        if differing:
            kept.append(Kept(row_of(values), differing))
        else:
            alike.append(values[0])
    kept += [Kept(_stated_record(found[key]), list(COMPARED), deleted=True) for key in stated]
    kept.sort(key=_kept_order)
    plan.kept, plan.missing = kept, RowSet(missing)
    plan.unchanged = RowSet(heapq.merge(unchanged, alike))  # never a list of every id
    return plan


def _read(bases: Mapping[str, Base | Lazy | None], records: list[Record]) -> dict[str, Base | None]:
    """The bases with each lazy one read for the `records` of its source."""
    # Each key with its record: the entries read share its values (`sources.load_entries`).
    wanted: dict[str, dict[Key, Record]] = {n: {} for n, base in bases.items() if callable(base)}
    if wanted:
        for record in records:
            if record.origin in wanted:
                wanted[record.origin][record.key] = record
    return {name: base(wanted[name]) if callable(base) else base for name, base in bases.items()}


def _stated_record(entry: Entry) -> Record:
    """A record as its source stated it (the fields it did not state empty)."""
    values = {name: value(entry, name) for name in COMPARED}
    values = {name: None if v is NOT_STATED else v for name, v in values.items()}
    return Record.of({**values, "created_at": None, "updated_at": None})


def _decide(
    record: Record,
    row: Row,
    differing: list[str],
    bases: Mapping[str, Base | None],
    overwrite: bool,
) -> tuple[list[str], list[str], list[str], list[dict]]:
    """Per differing field: changed, kept, two-way (no base: decided by the ledger) or a
    conflict."""
    base = _base_of(record, bases)
    changed: list[str] = []
    kept: list[str] = []
    two_way: list[str] = []
    conflicts: list[dict] = []
    for name in differing:
        before = base if base is None or base is SAME else value(base, name)
        if overwrite:
            changed.append(name)
        elif base is None or before is NOT_STATED:
            two_way.append(name)
        elif before is SAME or (file := getattr(record, name)) == before:
            kept.append(name)
        elif (database := getattr(row, name)) == before:
            changed.append(name)
        else:
            conflicts.append(_conflict(record, name, before, database, file))
    return changed, kept, two_way, conflicts


def _base_of(record: Record, bases: Mapping[str, Base | None]) -> Any:
    """The record's base values, SAME when its source's files are unchanged, or None."""
    base = bases.get(record.provenance.origin, NO_BASE)
    return SAME if base is None else base.get(record.key)


def _absent(record: Record, base: Any, overwrite: bool, plan: Plan) -> dict | None:
    """A record the database does not have: new, or removed since its source last said it
    (then it stays removed, or is a conflict, returned)."""
    if base is None or overwrite:
        plan.added.append(record)
        return None
    file = record.to_dict()
    said = {f: value(base, f) for f in record.stated} if base is not SAME else {}
    if all(file[f] == said[f] or said[f] is NOT_STATED for f in said):
        # Removed by a person since; the source said nothing new: it stays removed.
        plan.kept.append(Kept(record, list(COMPARED), deleted=True))
        return None
    return _conflict(record, None, said.get("tier"), None, record.tier)


def _update(plan: Plan, row: Row, record: Record, fields: Sequence[str], catalog: Catalog) -> None:
    """The row with the file's values of `fields`. Optimization: the row's values with those
    put in place, not each field looked up on one of the two by a generator (10,097 updates:
    28 -> 20 ms of CPU)."""
    before = row.compared()
    values: list[Any] = list(before)
    for field in fields:
        values[POSITION[field]] = getattr(record, field)
    name, tier, program, oem, poc, notes = values
    merged = Record(
        name,
        tier,
        program,
        oem,
        poc,
        notes,
        created_at=row.created_at,
        updated_at=record.updated_at,
        key=record.key,  # the row's: the two were matched by it
        line=record.line,
        provenance=record.provenance,
    )
    plan.updated.append(Update(row, merged, field_changes(before, tuple(values), catalog)))


def _conflict(record: Record, name: str | None, base: Any, database: Any, file: Any) -> dict:
    return {
        "name": record.name,
        "oem": record.oem,
        "field": name,
        "base": base,
        "database": database,
        "file": file,
    }


def stated_by(bases: Mapping[str, Base]) -> Callable[[Key], bool]:
    """Whether one of these sources stated a record: a scoped prune's candidates."""
    return lambda key: any(key in base for base in bases.values())


def removable(
    missing: Iterable[Row], bases: Mapping[str, Base], *, overwrite: bool = False
) -> tuple[list[Row], list[Row], list[dict]]:
    """A scoped prune: the rows one of these sources stated and no longer states (to remove),
    those it never stated (left), and conflicts for rows changed since the source stated them
    (left too, unless `overwrite`)."""
    remove, left, conflicts = [], [], []
    for row in missing:
        stated = _stated_by(row.key, bases)
        if stated is None:
            left.append(row)
            continue
        values = row.to_dict()
        said = {f: value(stated, f) for f in COMPARED}
        changed = [f for f in COMPARED if said[f] is not NOT_STATED and values[f] != said[f]]
        if changed and not overwrite:
            left.append(row)
            conflicts += [
                {
                    "name": row.name,
                    "oem": row.oem,
                    "field": f,
                    "base": said[f],
                    "database": values[f],
                    "file": None,
                }
                for f in changed
            ]
        else:
            remove.append(row)
    return remove, left, conflicts


def _stated_by(key: Key, bases: Mapping[str, Base]) -> Entry | None:
    for base in bases.values():
        if key in base:
            return base[key]
    return None
