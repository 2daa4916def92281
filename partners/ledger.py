"""The ledger: one row per change to a partner tier, written with the change itself.

Every write goes through `sync.write_plan`, which records in the same transaction as the data,
so a change never exists without its entry and its run. Entries are written in bulk: added and
removed records are copied by `INSERT … SELECT` from their rows (ids and JSON built by the
database), updated ones in bulk (`db.insert_rows`: COPY on PostgreSQL).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

import orjson
from django.db import connection

from partners import db
from partners.background import Background
from partners.diff import Update
from partners.fields import COMPARED, RECORD_FIELDS
from partners.models import LedgerEntry
from partners.normalize import oem_keys_of
from partners.programs import EMPTY, Catalog

TABLE = LedgerEntry._meta.db_table
COLUMNS = (
    "run_id, record_id, action, oem, name, program, oem_key, name_key, tier_from, tier_to, "
    "old, new, at, user_id"
)


def _json_param() -> str:
    return "%s::jsonb" if connection.vendor == "postgresql" else "%s"


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _json_object_sql(now: bool = False) -> str:
    """SQL building a record's eight fields as one JSON object, from the table's columns.
    `now` (PostgreSQL): each time column takes two parameters, both a time as the engine
    writes it: the column's text is the second when it holds the first."""
    columns = [db.time_as_text(name) if name.endswith("_at") else name for name in RECORD_FIELDS]
    if connection.vendor == "postgresql":
        if now:
            # Optimization: an added record's times are the run's own (unless its file gave
            # others): that time's text is given once, not formatted by to_char for each row
            # (a 100,000-record first apply, alternating x12: the server's CPU for the added
            # entries 0.60/0.64 -> 0.54/0.56 s, min/median).
            columns = [
                f"CASE WHEN {name} = %s::timestamptz THEN %s ELSE {column} END"
                if name.endswith("_at")
                else column
                for name, column in zip(RECORD_FIELDS, columns, strict=True)
            ]
        # Optimization: every field is text (or null), so jsonb_object takes the names and the
        # values as two text arrays; jsonb_build_object looks up each of its sixteen
        # arguments' types on every row. The same jsonb in 40% less of the server's CPU
        # (100,000 objects: 0.37 → 0.22 s; the added records' INSERT … SELECT 0.89 → 0.77 s).
        names = "{" + ",".join(RECORD_FIELDS) + "}"
        return f"jsonb_object('{names}'::text[], ARRAY[{', '.join(columns)}]::text[])"
    pairs = [f"'{name}', {column}" for name, column in zip(RECORD_FIELDS, columns, strict=True)]
    return f"json_object({', '.join(pairs)})"


def first_new_id() -> int | None:
    """The id for the next inserted record, never one a removed record had (the ledger keeps
    those). PostgreSQL's sequence never reuses ids (None: let it choose); SQLite gives a new
    row the largest id + 1, which after deleting the newest record would be its id again."""
    if connection.vendor == "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(record_id), 0) FROM {TABLE}")
        used = int(cursor.fetchone()[0])
    return max(used, db.max_id()) + 1


TIMES_IN_JSON = sum(name.endswith("_at") for name in RECORD_FIELDS)  # in a record's JSON


def _copy_rows(
    cursor: Any, action: str, where: str, params: list[Any], head: list[Any], now: str | None = None
) -> None:
    """Ledger entries copied from partner-tier rows by the database itself: their ids, columns
    and JSON (`new` for added records, `old` for removed ones), no Python per row. `now`: the
    time (as the engine writes it) that most of the rows' times are, if any."""
    tier_from, tier_to = ("NULL", "tier") if action == "added" else ("tier", "NULL")
    given = now is not None and connection.vendor == "postgresql"
    json = _json_object_sql(now=given)
    old, new = ("NULL", json) if action == "added" else (json, "NULL")
    times = [now, now] * TIMES_IN_JSON if given else []
    with db.made_json_unchecked():  # `old` and `new` are json_object's, the rest has no CHECK
        cursor.execute(
            f"INSERT INTO {TABLE} ({COLUMNS}) SELECT %s, id, %s, oem, name, program, oem_key, "
            f"name_key, {tier_from}, {tier_to}, {old}, {new}, %s, %s FROM {db.TABLE} "
            f"WHERE {where}",
            [head[0], action, *times, *head[1:], *params],
        )


def record_added(*, run_id: int, user_id: int | None, at: str, after_id: int) -> None:
    """Entries for the records just inserted: every id above `after_id`."""
    with connection.cursor() as cursor:
        head = [run_id, db.db_time()(at), user_id]
        _copy_rows(cursor, "added", "id > %s", [after_id], head, now=at)


def record_removed(
    rows: Sequence[db.Row], *, run_id: int, user_id: int | None, at: str, chunk: int = 2000
) -> None:
    """Entries for records about to be deleted (call before deleting them).

    Optimization: their times are most often one run's (a revert of a first apply: all of
    them), given once as text like an added record's (`_copy_rows`): 50,000 entries copied,
    alternating x6, min/median: 0.370/0.386 -> 0.337/0.356 s on PostgreSQL."""
    head = [run_id, db.db_time()(at), user_id]
    usual = Counter(map(UPDATED_AT_OF, rows)).most_common(1)[0][0] if rows else None
    with connection.cursor() as cursor:
        for part in db.chunked([row.id for row in rows], chunk):
            _copy_rows(cursor, "removed", *db.among("id", part), head, now=usual)


def record_updated(updates: Sequence[Update], *, run_id: int, user_id: int | None, at: str) -> None:
    when = db.db_time()(at)
    rows = [_updated(update, run_id, user_id, when) for update in updates]
    with db.made_json_unchecked():  # `old` and `new` are orjson's, the rest has no CHECK
        db.insert_rows(TABLE, COLUMNS.split(", "), rows)


def _updated(update: Update, run_id: int, user_id: int | None, when: str | None) -> tuple:
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


RECENT_KEPT = 25  # tier changes kept per OEM for the notes (PARTNERS_NOTE_RECENT_CHANGES ≤ this)


def recent_changes(
    removed: Sequence[db.Row], added: Sequence[Any], updated: Sequence[Update], *, at: str
) -> dict[str, list[dict[str, Any]]]:
    """A write's tier changes as each OEM's recent list takes them: the newest RECENT_KEPT,
    newest first as in the ledger (removed, then added, then updated entries, each in order).

    Optimization: only the newest RECENT_KEPT of each OEM become tuples, then dicts, and the
    rest are skipped unmade (`_pick_newest`; 100,000 removed rows 0.048 -> 0.033 s of CPU,
    alternating x8, median), and the added records' OEM keys are split from their keys in C
    (`oem_keys_of`), not one property call per record."""
    picked: dict[str, list[tuple]] = {}
    full: set[str] = set()  # OEMs with RECENT_KEPT picked: the rest of theirs is older
    tiers = [u for u in reversed(updated) if u.changes.get("tier")]
    _pick_newest(picked, full, ((u.record.oem_key, u) for u in tiers), _updated_item)
    keys = oem_keys_of(map(db.KEY_OF, reversed(added)))
    _pick_newest(picked, full, zip(keys, reversed(added), strict=True), _added)
    keys = map(OEM_KEY_OF, reversed(removed))
    _pick_newest(picked, full, zip(keys, reversed(removed), strict=True), _removed)
    return {key: _fresh(items, at) for key, items in picked.items()}


class Recent(Background):
    """`recent_changes` worked out on a thread while the database copies the ledger entries
    of added records (`record_added`) or, in a write that only removes, of removed ones
    (`record_removed`), this process only waiting; `record_recent` then only writes them.

    Optimization: picking 100,000 added records' newest changes took 0.04-0.05 s of CPU
    with the database idle (a first apply on PostgreSQL, alternating x10, min/median: the
    recent changes 0.128/0.137 -> 0.083/0.087 s)."""

    found: dict[str, list[dict[str, Any]]]

    def _work(
        self, removed: Sequence[db.Row], added: Sequence[Any], updated: Sequence[Update], at: str
    ) -> None:
        self.found = recent_changes(removed, added, updated, at=at)

    def changes(self) -> dict[str, list[dict[str, Any]]]:
        self.wait()
        return self.found


def recent_ahead(
    removed: Sequence[db.Row], added: Sequence[Any], updated: Sequence[Update], *, at: str
) -> Recent | None:
    """`Recent` on PostgreSQL; None on SQLite, where it showed no gain (alternating x6: the
    recent changes 0.064/0.073 -> 0.021/0.025 s, the ledger copy beside it 0.36/0.67 ->
    0.44/0.76 s, min/median)."""
    if connection.vendor != "postgresql":
        return None
    return Recent(removed, added, updated, at)


def record_recent(
    removed: Sequence[db.Row],
    added: Sequence[Any],
    updated: Sequence[Update],
    *,
    at: str,
    ahead: Recent | None = None,
) -> None:
    """Put a write's tier changes (`recent_changes`; `ahead` when worked out on a thread) in
    front of each OEM's recent list (`RecentChanges`).

    Optimization: the lists are written with orjson in one upsert (100,000 added records
    cost a few hundredths of a second)."""
    from partners.models import RecentChanges

    fresh = recent_changes(removed, added, updated, at=at) if ahead is None else ahead.changes()
    if not fresh:
        return
    table, keys = RecentChanges._meta.db_table, list(fresh)
    if connection.vendor == "postgresql":
        # One statement, the fresh lists as two binary array parameters (`executemany` took a
        # round trip per OEM: a thousand for a 100,000-record apply), each put in front of the
        # OEM's stored list by the database: no round trip to read those lists, nor decoding
        # and encoding them here.
        kept = f"'$[0 to {RECENT_KEPT - 1}]'"
        with db.bound_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} AS r (oem_key, changes) SELECT k, c::jsonb "
                f"FROM unnest(%b::text[], %b::text[]) AS u(k, c) ON CONFLICT (oem_key) DO UPDATE "
                f"SET changes = jsonb_path_query_array(excluded.changes || r.changes, {kept})",
                [keys, list(map(_json, fresh.values()))],
            )
        return
    known: dict[str, Any] = {}
    with db.bound_cursor() as cursor:
        for part in db.chunked(keys, 500):
            where, params = db.among("oem_key", part, str)
            cursor.execute(f"SELECT oem_key, changes FROM {table} WHERE {where}", params)
            known.update(cursor.fetchall())
        rows = []
        for key, items in fresh.items():
            older = known.get(key) or []
            older = orjson.loads(older) if isinstance(older, str | bytes) else older
            rows.append((key, _json((items + older)[:RECENT_KEPT])))
        upsert = "ON CONFLICT (oem_key) DO UPDATE SET changes = excluded.changes"
        cursor.executemany(
            f"INSERT INTO {table} (oem_key, changes) VALUES (%s, {_json_param()}) {upsert}", rows
        )


def _fresh(items: list[tuple], at: str) -> list[dict[str, Any]]:
    """A write's tier changes of an OEM as its list's entries. Optimization: a dict display,
    not dict(zip(...)) of the keys (10,000 entries: a tenth of `record_recent`'s CPU)."""
    return [
        {"at": at, "name": n, "program": p, "from": f, "to": t, "action": a}
        for n, p, f, t, a in items
    ]


def _pick_newest(
    picked: dict[str, list[tuple]],
    full: set[str],
    entries: Iterable[tuple[str, Any]],
    item: Callable[[Any], tuple],
) -> None:
    """Each (OEM key, record) of `entries`, newest first, as its OEM's next `item` until the
    OEM has RECENT_KEPT (then in `full`: the rest of its entries are skipped unmade)."""
    for key, entry in entries:
        if key not in full:
            items = picked.setdefault(key, [])
            if len(items) < RECENT_KEPT:
                items.append(item(entry))
            if len(items) == RECENT_KEPT:
                full.add(key)


def _updated_item(update: Update) -> tuple:
    tier = update.changes["tier"]
    return (update.record.name, update.record.program, tier["old"], tier["new"], "updated")


def _added(record: Any) -> tuple:
    return (record.name, record.program, None, record.tier, "added")


def _removed(row: db.Row) -> tuple:
    return (row.name, row.program, row.tier, None, "removed")


OEM_KEY_OF = attrgetter("oem_key")
UPDATED_AT_OF = attrgetter("updated_at")


SHOWN_FIELDS = COMPARED


def field_rows(entry: LedgerEntry, catalog: Catalog = EMPTY) -> list[dict[str, Any]]:
    """An entry as `{field, old, new, direction}` rows, for the admin's history tables:
    every changed field of an update; the tier (and what else it held) of an added or
    removed record. Directions are read from `catalog` now (see partners.programs)."""
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
        direction = ""
        if name == "tier" and before and after:
            direction = catalog.direction(entry.oem, entry.program, before, after)
        rows.append({"field": name, "old": before, "new": after, "direction": direction})
    return rows


def edited_fields(record_ids: Sequence[int], chunk: int = 2000) -> dict[int, set[str]]:
    """For each record, the fields whose last change in the ledger was a person's edit (a run
    of source `edit`): a two-way sync leaves those alone."""
    from partners.models import SyncRun

    last: dict[int, dict[str, str]] = {}
    runs = SyncRun._meta.db_table
    with connection.cursor() as cursor:
        for part in db.chunked(record_ids, chunk):
            where, params = db.among("l.record_id", part)
            cursor.execute(
                f"SELECT l.record_id, r.source, l.new FROM {TABLE} l JOIN {runs} r "
                f"ON r.id = l.run_id WHERE {where} AND l.action != 'removed' ORDER BY l.id",
                params,
            )
            for record_id, source, new in cursor.fetchall():
                values = orjson.loads(new) if isinstance(new, str | bytes) else new or {}
                fields = last.setdefault(record_id, {})
                for name in values:
                    fields[name] = source
    return {
        record_id: {name for name, source in fields.items() if source == "edit"}
        for record_id, fields in last.items()
    }
