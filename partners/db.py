"""Reading and writing partner tiers in bulk with plain SQL.

Optimization: the ORM builds a model instance per row and `bulk_create` of 100,000 rows takes
about 11 s here; `executemany` over the same table takes well under one. Only this module
touches the table this way; the admin uses the ORM on the same model.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, islice
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from django.db import OperationalError, connection, transaction
from django.db.models import Field

from partners.fields import COMPARED, TIMES
from partners.models import PartnerTier
from partners.normalize import name_keys_of, oem_keys_of, record_key
from partners.records import Record, record_dict

if TYPE_CHECKING:
    from partners.diff import Update

TABLE = PartnerTier._meta.db_table
COLUMNS = ("id", *COMPARED, "name_key", "oem_key", *TIMES)
KEY_OF = attrgetter("key")


@dataclass(slots=True)
class Row:
    """A partner tier as the database holds it, times as `YYYY-MM-DDTHH:MM:SSZ`."""

    id: int
    name: str
    tier: str
    program: str
    oem: str
    poc: str | None
    notes: str | None
    name_key: str
    oem_key: str
    created_at: str
    updated_at: str

    @property
    def key(self) -> str:
        return record_key((self.oem_key, self.name_key))

    def compared(self) -> tuple[str | None, ...]:
        return (self.name, self.tier, self.program, self.oem, self.poc, self.notes)

    def to_dict(self) -> dict[str, str | None]:
        return record_dict(self)


def time_as_text(column: str) -> str:
    """SQL giving `column` as `YYYY-MM-DDTHH:MM:SSZ` text.

    Optimization: formatting in the database skips the driver's datetime conversion and ours
    (two thirds of reading 100,000 rows); the expression carries no declared type, so
    SQLite's converters leave it alone.
    """
    if connection.vendor == "postgresql":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""
    return f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || 'Z'"


# The columns of a Row, times as text.
SELECTED = ", ".join([*COLUMNS[:-2], time_as_text("created_at"), time_as_text("updated_at")])


def _streamed() -> tuple[str, Callable[[Any], Any]]:
    """The columns `stream_rows` reads, and what makes one of its times a Row's.

    Optimization: SQLite keeps a time as text (`YYYY-MM-DD HH:MM:SS`), read as it is and
    formatted only for the rows that become `Row`s (a tenth in a 10%-changed sync): the
    formatting in SQL was a quarter of reading 100,000 rows. PostgreSQL formats in SQL
    (`time_as_text`): its driver would make a `datetime` of each."""
    if connection.vendor == "postgresql":
        return SELECTED, lambda value: value
    # `+column`: the same text as an expression, which has no declared type for Django's
    # converters to make a `datetime` of.
    return ", ".join([*COLUMNS[:-2], *(f"+{name}" for name in TIMES)]), _sqlite_time


def _sqlite_time(value: str) -> str:
    return f"{value[:10]}T{value[11:19]}Z"


STREAMED, STREAMED_TIME = _streamed()


def row_of(values: Sequence[Any]) -> Row:
    """A Row from one of `stream_rows`' tuples."""
    row = Row(*values)
    row.created_at, row.updated_at = STREAMED_TIME(row.created_at), STREAMED_TIME(row.updated_at)
    return row


@contextmanager
def checkpoint_after() -> Iterator[Callable[[], None]]:
    """SQLite: commits inside the block leave their pages in the WAL, and the function given
    starts copying them into the database (a checkpoint) on a thread of its own, waited for
    at the block's end, so the caller can do other work meanwhile (the store write after a
    sync). Nothing on PostgreSQL.

    Optimization: a 10%-changed apply of 100,000 records writes about 55 MB of pages; the
    commit's automatic checkpoint copied them into the database file and synced it before
    the store could be written (0.3 s of wall time on a loaded machine)."""
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite" or name == ":memory:" or name.startswith("file:"):
        yield lambda: None
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (pages,) = cursor.fetchone()
        cursor.execute("PRAGMA wal_autocheckpoint = 0")
    threads: list[threading.Thread] = []

    def start() -> None:
        thread = threading.Thread(target=_checkpoint, args=(name,), daemon=True)
        thread.start()
        threads.append(thread)

    try:
        yield start
    finally:
        for thread in threads:
            thread.join()
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")


def _checkpoint(name: str) -> None:
    """A passive checkpoint on a connection of its own: it waits for nobody, and what it
    cannot copy now the next commit's automatic checkpoint copies."""
    with contextlib.suppress(sqlite3.Error):
        checkpointing = sqlite3.connect(name, timeout=5)
        try:
            checkpointing.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            checkpointing.close()


@contextmanager
def made_json_unchecked() -> Iterator[None]:
    """SQLite: the statements of the block skip the tables' CHECK constraints, Django's
    `JSON_VALID` of each JSON column among them. Only for statements whose JSON is made valid
    by construction (the database's `json_object`, orjson) and whose other columns have no
    CHECK; every other write is checked as ever. Nothing on PostgreSQL (jsonb is built, not
    checked).

    Optimization: a 100,000-record first apply's ledger entries parsed their JSON again to
    check it, a quarter of SQLite's work copying them (a raw copy 0.316 s, 0.075 s of it the
    check). And an INSERT of rows into a table with a CHECK kept a statement journal even
    `OR FAIL` (`FAIL`): 10 MB for 10,000 updated records' entries. (An INSERT … SELECT keeps
    one whatever its checks: 71 MB for the 100,000 removed records of a revert.)"""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            yield
        finally:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")


BUILT_AFTER = 10_000  # rows copied into an empty table before its indexes are built


@contextmanager
def indexes_built_after(tables: Sequence[str], count: int) -> Iterator[None]:
    """PostgreSQL, `count` rows of at least BUILT_AFTER into each of `tables` that is empty
    (a first apply's records and their ledger entries): their indexes (those of primary keys
    and unique constraints too) dropped for the block, and built again after it as they were
    (their definitions read from the catalog), the last table's first, in the caller's
    transaction. All are dropped on entry, before the block starts any thread: a statement
    run while a thread works waits for the GIL after each reply (see `sync.write_plan`).

    Optimization: PostgreSQL's advice for bulk loads. Each row put into the indexes one at a
    time (with a WAL record for each) was 40% of the server's work copying 100,000 ledger
    entries; an index built from the table sorts them once (a 100,000-record first apply,
    alternating x12, min/median: the server's CPU for the added entries 0.54/0.57 -> 0.45/0.48
    s with the three others built after, x16: 0.48/0.52 -> 0.44/0.45 s with the primary
    key's too, the stage's wall 0.56/0.65 -> 0.50/0.58 s). The records' two indexes too, built
    after their entries are copied (`sync.write_plan`), so this process works out the store
    and the bases while the server builds them (alternating x10 on a loaded machine: the
    server's CPU 0.93/0.98 -> 0.84/0.88 s, the write 1.24/1.45 -> 1.00/1.39 s). The same
    definitions, so the same plans (EXPLAIN of a run's entries, a record's, a period's, after
    a first and a 10%-changed apply). Other readers of the table (empty until then) wait for
    the write's commit: the indexes are dropped until then; when a session is reading it
    already, the rows go into the indexes as they are. When the block raises, the indexes are
    not built again: the transaction is rolled back, and their drop with it."""
    if connection.vendor != "postgresql" or count < BUILT_AFTER:
        yield
        return
    with connection.cursor() as cursor:
        dropped = [(table, _dropped_indexes(cursor, table)) for table in tables]
    yield
    with connection.cursor() as cursor:
        for table, indexes in reversed(dropped):
            for _, constraint, definition in indexes:
                if constraint:
                    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} {definition}")
                else:
                    cursor.execute(definition)


def _dropped_indexes(cursor: Any, table: str) -> list[tuple[str, str | None, str]]:
    """The table's indexes, dropped when it is empty and its exclusive lock was had at once."""
    # Each index: its name, its constraint's (a primary key's or a unique one's) and its
    # definition; none when the table has a row. An index a foreign key refers to stays.
    cursor.execute(
        "SELECT quote_ident(c.relname), quote_ident(k.conname), CASE WHEN k.oid IS NULL "
        "THEN pg_get_indexdef(i.indexrelid) ELSE pg_get_constraintdef(k.oid) END "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid LEFT JOIN pg_constraint k "
        "ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u') "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT FROM pg_constraint f "
        "WHERE f.contype = 'f' AND f.conindid = i.indexrelid) "
        f"AND NOT EXISTS (SELECT FROM {table})",
        [table],
    )
    indexes = cursor.fetchall()
    if indexes and not _locked_at_once(cursor, table):
        indexes = []  # another session reads the table (a backup?): not waited for
    for index, constraint, _ in indexes:
        if constraint:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
        else:
            cursor.execute(f"DROP INDEX {index}")
    return indexes


def _locked_at_once(cursor: Any, table: str) -> bool:
    """Whether the table's exclusive lock was had at once (then held to the transaction's
    end): a session reading it (a pg_dump holds it for the whole backup) is not waited for."""
    try:
        with transaction.atomic():  # a savepoint, so a refusal leaves the transaction usable
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE NOWAIT")
    except OperationalError:
        return False
    return True


def max_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {TABLE}")
        return int(cursor.fetchone()[0])


def read_row(pk: int) -> Row | None:
    found = read_rows_by_id([pk])
    return found[0] if found else None


@contextmanager
def bound_cursor() -> Iterator[Any]:
    """A cursor of the connection (its transaction) whose parameters the server binds, and
    which takes `%b` for a parameter sent in binary.

    Optimization: Django's PostgreSQL cursors bind on the client, quoting every parameter into
    the query's text, an array's items one by one in Python (escaping a thousand OEMs' recent
    changes took 0.8 s); in binary an array of strings is sent as it is. SQLite's cursor is
    Django's (`%b` is for PostgreSQL only)."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            yield cursor
            return
        import psycopg

        with connection.wrap_database_errors, psycopg.Cursor(cursor.connection) as bound:
            yield bound


def fetch_often(sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
    """The rows of a query run on every request (an API page, a token's look-up).

    Optimization: on PostgreSQL the server binds the parameters, so the query's text is the
    same on every request and psycopg prepares it once per connection (after the
    connection's `prepare_threshold` runs, 5 by default; None there, as behind pgbouncer's
    transaction pooling, never prepares): planning a `?limit=50` page's query, with its
    subqueries, took as much of the server's CPU as running it."""
    start = time.monotonic()
    with bound_cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(sql, params)
        rows: list[Sequence[Any]] = list(cursor.fetchall())
    if connection.vendor == "postgresql" and connection.queries_logged:
        # Listed as Django's cursors list theirs (debug, tests); SQLite's cursor is Django's.
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - start:.3f}"})
    return rows


ARRAY_TYPES = {int: "bigint[]", str: "text[]"}


def among(column: str, values: Sequence[Any], kind: type = int) -> tuple[str, list[Any]]:
    """SQL saying `column` is one of `values` (of type `kind`), and its parameters.

    Optimization: PostgreSQL takes the values as ONE array parameter (`= ANY(…)`): a query of
    2,000 placeholders cost psycopg more to build than the server to run. The array is given
    through a sub-select so the planner does not count its values: on a table not yet
    analyzed (just after an apply) 2,000 of them made it scan the whole table (25 ms a query,
    1.9 s of listing a 100,000-row no-op), where the index takes 6 ms. SQLite has no arrays:
    an `IN` list.

    Optimization: ids go as the array's text, joined in C; Django's cursor quotes a list
    parameter item by item in Python (50,000 ids: 0.030 -> 0.007 s of CPU)."""
    if connection.vendor == "postgresql":
        array = ARRAY_TYPES[kind]
        param = "{" + ",".join(map(str, values)) + "}" if kind is int else list(values)
        return f"{column} = ANY((SELECT %s::{array})::{array})", [param]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def chunked(values: Sequence[Any], chunk: int) -> Iterator[Sequence[Any]]:
    """`values` in parts small enough for `among` (SQLite's limit on parameters)."""
    if connection.vendor == "postgresql":
        chunk = max(chunk, 50_000)  # one array parameter: no limit but memory
    for start in range(0, len(values), chunk):
        yield values[start : start + chunk]


def read_rows_by_id(ids: Sequence[int], chunk: int = 2000) -> list[Row]:
    """The rows with these ids (those that still exist), by id."""
    rows: list[Row] = []
    with connection.cursor() as cursor:
        for part in chunked(ids, chunk):
            where, params = among("id", part)
            cursor.execute(f"SELECT {SELECTED} FROM {TABLE} WHERE {where} ORDER BY id", params)
            rows += [Row(*r) for r in cursor.fetchall()]
    return rows


def _chunked_rows() -> bool:
    """Whether libpq streams rows in chunks (17 and later; psycopg-binary bundles one)."""
    import psycopg

    return psycopg.pq.version() >= 170000


@contextmanager
def _index_order(cursor: Any, wanted: bool) -> Iterator[None]:
    """PostgreSQL, in a transaction: the block's query reads its rows in the order of an
    index rather than sorting them (`enable_sort` off until the block's end).

    Optimization: the table is not analyzed right after a bulk load (the next sync's read
    follows within seconds); the planner then guesses a few thousand rows of 3 KB and sorts
    the whole table on two parallel workers, spilling to disk, before the first row is sent
    (0.25-0.37 s at 100,000 rows, this process waiting). Read by the primary key, rows come
    at once and are compared as the server reads on. Outside a transaction (a dry run) the
    setting could not be scoped to the query: left to the planner."""
    if not (wanted and connection.in_atomic_block):
        yield
        return
    cursor.execute("SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', true)")
    (before, _) = cursor.fetchone()
    yield
    # Not reached when the block raised (the transaction is then rolled back, and the
    # setting with it), nor when its stream was closed early (the setting then holds until
    # the transaction's end: the connection is busy with the stream's rest until then).
    cursor.execute("SELECT set_config('enable_sort', %s, true)", [before])


def stream_rows(chunk: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
    """Every row as a tuple (Row's fields in order, its times as the database gives them:
    `row_of` makes the Row), by id, a chunk at a time."""
    return stream(f"SELECT {STREAMED} FROM {TABLE} ORDER BY id", [], chunk, in_order=True)


def _utf8_text(cursor: Any) -> None:
    """PostgreSQL: the cursor gives `text` columns (not `varchar` ones) as their UTF-8 bytes."""
    from psycopg.adapt import Loader

    class Utf8(Loader):
        def load(self, data: Any) -> bytes:
            return bytes(data)

    cursor.adapters.register_loader("text", Utf8)


def stream(
    query: str,
    params: Sequence[Any],
    chunk: int = 5000,
    *,
    in_order: bool = False,
    utf8_text: bool = False,
) -> Iterator[list[tuple]]:
    """The result of `query`, a chunk at a time: memory holds one chunk, not the result. No
    other query may run on the connection until the last chunk is taken (or the iterator
    closed).

    PostgreSQL streams the result (psycopg's `stream`, libpq's chunked rows): the server sends
    the next rows while these are compared, instead of waiting for a `FETCH` per chunk (a
    server-side cursor: 21 round trips at 100,000 rows, the server idle between them). A plain
    cursor would fetch the whole result before the first row. `in_order`: the query's ORDER BY
    is an index's order (see `_index_order`). `utf8_text`: PostgreSQL gives `text` columns
    as their UTF-8 bytes (a JSON text for orjson, which would encode a `str` again)."""
    postgresql = connection.vendor == "postgresql"
    if postgresql and _chunked_rows():
        with (
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            _index_order(cursor.cursor, in_order),
        ):
            if utf8_text:
                _utf8_text(cursor.cursor)
            rows = cursor.cursor.stream(query, params, size=chunk)
            while part := list(islice(rows, chunk)):
                yield part
        return
    with connection.chunked_cursor() as cursor:
        if postgresql and utf8_text:
            _utf8_text(cursor.cursor)
        cursor.execute(query, params)
        while part := cursor.fetchmany(chunk):
            yield part


class RowSet(Sequence[Row]):
    """Rows named by their ids, read from the database when listed.

    Optimization: a plan's unchanged and missing rows may be most of the table; held as ids
    they cost 8 bytes each, and only a listing (JSON output, a preview's first rows) reads
    them back."""

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self.ids = array("q", ids)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return read_rows_by_id(self.ids[index])
        found = read_rows_by_id([self.ids[index]])
        if not found:
            raise IndexError(index)
        return found[0]

    def __iter__(self) -> Iterator[Row]:
        for start in range(0, len(self.ids), 2000):
            yield from self[start : start + 2000]


def spellings(oem_keys: Sequence[str]) -> dict[str, str]:
    """How the database spells each of these OEM keys (those it has): one index look-up per
    key in one query, whatever the size of the table."""
    if not oem_keys:
        return {}
    param: Any = list(oem_keys)
    keys = "unnest(%s::text[]) AS k(value)"
    if connection.vendor == "sqlite":
        keys, param = "json_each(%s) AS k", json.dumps(param)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT k.value, (SELECT oem FROM {TABLE} WHERE oem_key = k.value LIMIT 1) "
            f"FROM {keys}",
            [param],
        )
        return {key: oem for key, oem in cursor.fetchall() if oem is not None}


def oem_names(limit: int = 10_000) -> list[str]:
    """The OEMs the table holds (a spelling each), for telling a new spelling that looks like
    one of them: read only when the input has a new OEM."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(oem) FROM {TABLE} GROUP BY oem_key LIMIT %s", [limit])
        return [oem for (oem,) in cursor.fetchall()]


def db_time() -> Callable[[str | None], str | None]:
    """How times are written: SQLite keeps UTC text, PostgreSQL casts ISO 8601 with a zone."""
    if connection.vendor == "sqlite":
        return lambda value: value and f"{value[:10]} {value[11:19]}"
    return lambda value: value


def read_rows(
    chunk: int = 5000, seen: Callable[[list[tuple[Any, ...]]], None] = lambda part: None
) -> list[Row]:
    """Every row, by id; `seen` is given each chunk of their values as read (a revert hashes
    them for its fingerprint, as a sync hashes the rows it streams).

    Optimization: the rows are made a streamed chunk at a time (`stream`), so the
    driver's copy of the whole result never sits beside them (fetched at once, 100,000 rows
    were held three times over: psycopg's result, its tuples and the rows)."""
    rows: list[Row] = []
    for part in stream(f"SELECT {SELECTED} FROM {TABLE} ORDER BY id", [], chunk, in_order=True):
        seen(part)
        values: list[Iterable[Any]] = list(zip(*part, strict=True))
        # Optimization: tiers, programs, OEMs and times repeat across thousands of rows; one
        # string object per distinct value (interned, a column at a time in C) instead of
        # one per row saves a third of the memory that 100,000 rows take.
        for i in REPEATED:
            values[i] = map(sys.intern, values[i])
        rows += map(Row, *values)
    return rows


class NoteRow(NamedTuple):
    """What an Obsidian note shows of a partner tier. A tuple: 100,000 of them are made
    from the cursor's rows in one C call."""

    name: str
    tier: str
    program: str
    oem: str
    poc: str | None
    notes: str | None
    oem_key: str
    updated_at: str


def read_for_notes() -> list[NoteRow]:
    """Optimization: only the columns the notes show, without string sharing (the rows live
    for one export): a third faster than `read_rows` at 100,000 rows."""
    columns = "name, tier, program, oem, poc, notes, oem_key, " + time_as_text("updated_at")
    rows: list[NoteRow] = []
    for part in stream(f"SELECT {columns} FROM {TABLE}", []):  # see read_rows
        rows += map(NoteRow._make, part)
    return rows


REPEATED = [COLUMNS.index(c) for c in ("tier", "program", "oem", "oem_key", *TIMES)]


INSERTED = ("name", "tier", "program", "oem", "poc", "notes", "name_key", "oem_key")


ROWS_PER_STATEMENT = 500  # SQLite: rows one statement takes (`in_values`)
# SQLite: a bulk statement that meets a constraint stops and raises, keeping the rows it
# wrote before, which the caller's transaction then rolls back with the rest (every bulk
# write is in the write path's). Optimization: with the default (ABORT) each statement kept
# the pages it changed in a statement journal, a temporary file, to undo its own rows: 58 MB
# written for a 100,000-record first apply's records, 33 MB for their source's base.
FAIL = "OR FAIL"


def in_values(rows: Iterable[Sequence[Any]], width: int) -> Iterator[tuple[str, list[Any]]]:
    """SQLite: `rows` of `width` values as `VALUES (?, …), (?, …), …` with their parameters,
    ROWS_PER_STATEMENT at a time (fewer when the database allows fewer parameters), in order.
    Its rows' columns are named column1, column2, …

    Optimization: the parameters are bound in C, as `executemany` binds one row's, and each
    statement then runs without the GIL, where `executemany` takes it back for every row (a
    thread, the store's, then waited up to the switch interval each time). A first apply of
    100,000 records (in process, alternating x6, median): the records' insert 0.63 -> 0.46 s,
    the run 2.13 -> 1.97 s; a 10%-changed apply's ledger entries 0.17 -> 0.14 s, against the
    same rows packed as JSON read by `json_each`."""
    connection.ensure_connection()
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    most = max(1, min(ROWS_PER_STATEMENT, limit // width))
    row = "(" + ", ".join(["?"] * width) + ")"
    rows = iter(rows)
    while part := list(islice(rows, most)):
        yield f"VALUES {', '.join([row] * len(part))}", list(chain.from_iterable(part))


def insert_rows(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    types: Sequence[str] | None = None,
) -> None:
    """Bulk insert, the fastest way each database has: PostgreSQL's COPY (psycopg writes the
    rows in C; a fifth of the time of `executemany`), SQLite's INSERT of many rows at once
    (`in_values`). Every bulk write of the engine (records, ledger entries, source bases)
    comes through here; `rows` are taken as they come, never all held at once.

    With `types` (each column's PostgreSQL type), PostgreSQL is sent the rows in binary: the
    server then parses no text (times as `datetime`, see `as_datetime`)."""
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            binary = " (FORMAT BINARY)" if types else ""
            copying = cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN{binary}")
            with connection.wrap_database_errors, copying as copy:
                if types:
                    copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            return
        with connection.wrap_database_errors:
            for values, params in in_values(rows, len(columns)):
                connection.connection.execute(
                    f"INSERT {FAIL} INTO {table} ({names}) {values}", params
                )


# COPY's text format: a value's backslashes, line ends and tabs escaped.
COPY_ESCAPES = ((b"\\", b"\\\\"), (b"\n", b"\\n"), (b"\r", b"\\r"), (b"\t", b"\\t"))


def copy_field(value: str | bytes | int | None) -> bytes:
    """A value as a line of COPY's text format holds it: text as UTF-8 (given as `bytes` when
    it is UTF-8 already), null as \\N."""
    if value is None:
        return b"\\N"
    found = value if isinstance(value, bytes) else str(value).encode()
    for char, escaped in COPY_ESCAPES:
        if char in found:
            found = found.replace(char, escaped)
    return found


def copy_lines(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: `insert_rows` of rows of text (UTF-8 `bytes` or `str`), integers and nulls,
    as lines of COPY's text format made here (`copy_field`).

    Optimization: a value already UTF-8 (orjson's) is sent as it is: made a `str` for
    `insert_rows`, it was decoded here and encoded again by psycopg (a source's base of
    100,000 records: 22 MB, nearly every OEM holding a non-ASCII name; its save in a
    10%-changed apply, in process, alternating x8, median: 0.194 -> 0.163 s of CPU, with
    `Grouped.encoded_if`)."""
    names = ", ".join(columns)
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write(b"\t".join(map(copy_field, row)) + b"\n")


def insert(records: Sequence[Record], first_id: int | None = None) -> None:
    """Insert `records`; with `first_id`, under ids `first_id`, `first_id + 1`, …

    Optimization: each column is a C-level map over the records, zipped into rows as the
    database takes them (no list of every value, nor of every row: 100,000 records 0.68-0.79
    -> 0.64-0.72 s of CPU, about 20 MB less), and the few distinct times are converted once
    each: building 100,000 tuples in a Python loop took as long as inserting them."""
    if not records:
        return
    # Optimization: in key order, the unique (OEM, name) index is appended to rather than
    # written all over; its pages then stay in the database's cache (a raw executemany of
    # 1,000,000 rows: 21 s of CPU in the files' order, 10 s in key order; 100,000: 1.47 s,
    # 1.19 s). Ids follow: a run's new records are numbered by OEM and name.
    records = sorted(records, key=KEY_OF)
    columns = [*INSERTED, *TIMES]
    values: list[Iterable[Any]] = [map(attrgetter(name), records) for name in COMPARED]
    values += [name_keys_of(map(KEY_OF, records)), oem_keys_of(map(KEY_OF, records))]
    binary = connection.vendor == "postgresql"
    as_db = functools.lru_cache(maxsize=4096)(as_datetime if binary else db_time())
    values += [map(as_db, map(attrgetter(name), records)) for name in TIMES]
    types = [*INSERTED_TYPES, "timestamptz", "timestamptz"] if binary else None
    if first_id is not None:
        columns.insert(0, "id")
        values.insert(0, range(first_id, first_id + len(records)))
        types = ["int8", *types] if types else None
    insert_rows(TABLE, columns, zip(*values, strict=True), types)


# The PostgreSQL types of INSERTED, for a binary COPY.
INSERTED_TYPES = (
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "text",
    "varchar",
    "varchar",
)


def as_datetime(value: str) -> datetime:
    """A time as the engine keeps it (`YYYY-MM-DDTHH:MM:SSZ`, UTC) as an aware `datetime`,
    for a binary COPY."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


UPDATED = ("name", "tier", "program", "oem", "poc", "notes", "name_key", "oem_key", "updated_at")


def update(updates: Sequence[Update]) -> None:
    """Every field but `created_at`; the keys too, since an edit may rename a partner.

    PostgreSQL: the new values are copied into a temporary table and applied by one
    `UPDATE … FROM` (COPY is a fifth of the time of `executemany` there). SQLite: each
    update sets only the fields it changes, and the keys when they change: setting a column
    of the unique (OEM, name) index rewrites its entry even with the same value."""
    as_db = db_time()
    if not updates:
        return
    if connection.vendor == "postgresql":
        params = [
            (*attrgetter(*UPDATED[:-1])(u.record), as_db(u.record.updated_at), u.row.id)
            for u in updates
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE partners_updated ON COMMIT DROP AS "
                f"SELECT {', '.join(UPDATED)}, id FROM {TABLE} WITH NO DATA"
            )
        insert_rows("partners_updated", [*UPDATED, "id"], params)
        assignments = ", ".join(f"{name} = u.{name}" for name in UPDATED)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} t SET {assignments} FROM partners_updated u WHERE t.id = u.id"
            )
            cursor.execute("DROP TABLE partners_updated")
        return
    # Optimization: 10,000 tier changes set two columns each, not nine.
    by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for u in updates:
        columns = _columns_set(u)
        values = attrgetter(*columns)(u.record) if columns else ()
        values = values if len(columns) != 1 else (values,)
        by_columns.setdefault(columns, []).append((*values, as_db(u.record.updated_at), u.row.id))
    with connection.wrap_database_errors:
        for columns, params in by_columns.items():
            # Optimization: by id, each page of the table is changed once, not read back and
            # changed again as the files' order returns to it (10,000 updates: 0.09-0.11 ->
            # 0.06 s of CPU).
            params.sort(key=itemgetter(-1))
            names = (*columns, "updated_at")
            sets = ", ".join(f"{name} = v.column{i}" for i, name in enumerate(names, 1))
            for rows, flat in in_values(params, len(names) + 1):
                connection.connection.execute(
                    f"UPDATE {FAIL} {TABLE} SET {sets} FROM ({rows}) AS v "
                    f"WHERE {TABLE}.id = v.column{len(names) + 1}",
                    flat,
                )


def _columns_set(update: Update) -> tuple[str, ...]:
    """The columns an update sets besides `updated_at`: the fields it changes, and the keys
    when they are not the row's (as PostgreSQL's update of every column leaves them)."""
    record, row = update.record, update.row
    changed = [name for name in COMPARED if name in update.changes]
    if record.key == row.key:  # the usual update: one comparison, no key split
        return tuple(changed)
    keys = [name for name in ("name_key", "oem_key") if getattr(record, name) != getattr(row, name)]
    return (*changed, *keys)


def delete(ids: Sequence[int], chunk: int = 2000) -> None:
    with connection.cursor() as cursor:
        for part in chunked(ids, chunk):
            where, params = among("id", part)
            cursor.execute(f"DELETE FROM {TABLE} WHERE {where}", params)


class StoreRow(NamedTuple):
    """What the store writes of a partner tier."""

    name: str
    tier: str
    program: str
    oem: str
    poc: str | None
    notes: str | None
    updated_at: str
    created_at: str


def oem_spellings() -> list[tuple[str, str]]:
    """Every (OEM key, spelling) pair in the table."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT oem_key, oem FROM {TABLE}")
        return list(cursor.fetchall())


def store_rows(oem_key: str, oem: str) -> list[StoreRow]:
    """The rows of one OEM spelling (through the (oem_key, name_key) index)."""
    columns = "name, tier, program, oem, poc, notes, "
    columns += f"{time_as_text('updated_at')}, {time_as_text('created_at')}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {TABLE} WHERE oem_key = %s AND oem = %s", [oem_key, oem]
        )
        return list(map(StoreRow._make, cursor.fetchall()))


def as_read(field: Field[Any, Any], value: Any) -> Any:
    """`field`'s value as the database gave it in a row of raw SQL, converted as the ORM
    converts it (on SQLite a time is text until then)."""
    column = field.cached_col
    for convert in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
        value = convert(value, column, connection)
    return value
