"""Sources and their bases: what each source's files last said, for the three-way sync.

A source's base is stored per OEM (a thousand small JSON rows for 100,000 records, read and
written in one query each), and a source whose files are byte-for-byte what was last applied
(same digest) needs no base at all: its files say exactly what the base says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from operator import attrgetter
from typing import Any

import orjson
from django.db import connection

from partners import db
from partners.background import Background
from partners.fields import COMPARED
from partners.models import Source, SourceBase
from partners.normalize import key_parts, name_keys_in, record_key
from partners.records import COMPARED_OF, Record, sharing

Key = str  # a record's key (`normalize.record_key`)
# A record's key → what the source stated: a tuple of every compared field (the usual
# case: a third of a dict's memory) or a dict of the fields its file had.
Entry = tuple | dict[str, Any]
Base = dict[Key, Entry]
NOT_STATED = object()
POSITION = {name: i for i, name in enumerate(COMPARED)}


def value(entry: Entry, name: str) -> Any:
    """What the source stated for field `name`, or NOT_STATED."""
    if isinstance(entry, tuple):
        return entry[POSITION[name]]
    return entry.get(name, NOT_STATED)


def digest(shas: Iterable[str], rules: Mapping[str, str]) -> str:
    """What a source's files said: their bytes, and the OEM aliases they were read with."""
    text = json.dumps([sorted(shas), sorted(rules.items())])
    return hashlib.sha256(text.encode()).hexdigest()


def is_current(name: str, files_digest: str) -> bool:
    return Source.objects.filter(name=name, digest=files_digest).exists()


STALE_KEPT = 10_000  # records a source's base holds that its files no longer state


@dataclass(frozen=True)
class Read:
    """What the last full read of a run's files said beyond their records, under `key`
    (every source's digest and the settings that decide errors): its warnings, and per
    source the records its base holds that its files no longer state (`stale`: they are
    missing, not stated; None when there were too many to keep)."""

    key: str
    warnings: list[str] = field(default_factory=list)
    near: list[dict[str, str]] = field(default_factory=list)
    stale: dict[str, list[Key] | None] = field(default_factory=dict)


def remember_read(read: Read) -> None:
    """Keep an applied run's read on each of its sources (in the caller's transaction)."""
    for name, keys in read.stale.items():
        # Stored as [oem_key, name_key] pairs, as a record's key was before it was one string.
        stale = None if keys is None else list(map(key_parts, keys))
        said = {"key": read.key, "warnings": read.warnings, "near": read.near, "stale": stale}
        Source.objects.filter(name=name).update(read=said)


def states(names: Iterable[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each known source's digest and last read."""
    found = Source.objects.filter(name__in=list(names)).values_list("name", "digest", "read")
    return {name: (files_digest, read or {}) for name, files_digest, read in found}


def last_read(digests: Mapping[str, str], key: str) -> Read | None:
    """The read kept under `key`, when every source is current and was last read as this
    same set of sources; else None."""
    found = states(digests)
    if len(found) != len(digests):
        return None
    said: dict[str, Any] = {}
    stale: dict[str, list[Key] | None] = {}
    for name, (files_digest, read) in found.items():
        if files_digest != digests[name] or read.get("key") != key or read.get("stale") is None:
            return None
        said, stale[name] = read, stored_keys(read["stale"])
    return Read(key, said.get("warnings", []), said.get("near", []), stale)


def stored_keys(pairs: Iterable[Sequence[str]]) -> list[Key]:
    """The keys of a read's `stale` as `remember_read` stored them ([oem_key, name_key])."""
    return list(map(record_key, pairs))


def _stated_rows(name: str, oem_keys: Collection[str] | None = None) -> Iterator[OemEntries]:
    """The source's base an OEM at a time (only `oem_keys`' when given): each entry's key and
    what it states, a tuple of every compared field or a dict of some."""
    for oem_key, values in _stored(name, oem_keys):
        keys = map(record_key, zip(repeat(oem_key), values, strict=False))
        if set(map(type, values.values())) <= {list}:
            # Optimization: every field stated (the usual case), entries made in C.
            yield keys, map(tuple, values.values())
        else:
            yield keys, map(_entry, values.values())


FEW_OEMS = 200  # OEMs asked for by name, not filtered from a read of them all
# OEMs read or written at once. Optimization: ten, not a hundred: a hundred texts of an OEM
# of 1,000 records (330 KB each), twice over, were the peak of a 10%-changed apply of
# 1,000,000 records (its merge 857 -> 781 MB, its base save 826 -> 754 MB).
OEMS_AT_ONCE = 10


def _stored(name: str, oem_keys: Collection[str] | None = None) -> Iterator[tuple[str, dict]]:
    """The source's stored OEMs (only `oem_keys`' when given), decoded one at a time."""
    table, sources = SourceBase._meta.db_table, Source._meta.db_table
    # Optimization: the text given as its UTF-8 bytes (SQLite's cast, PostgreSQL's loader:
    # `db.stream`), which orjson reads as they are; made a `str`, orjson had it encoded to
    # UTF-8 again (22 MB at 100,000 records, nearly every OEM holding a non-ASCII name:
    # reading and decoding them: SQLite 0.065 -> 0.051 s of CPU, PostgreSQL 0.061 -> 0.044).
    stated = "CAST(b.stated AS BLOB)" if connection.vendor == "sqlite" else "b.stated"
    sql = (
        f"SELECT b.oem_key, {stated} FROM {table} b JOIN {sources} s ON s.id = b.source_id "
        "WHERE s.name = %s"
    )
    params: list[Any] = [name]
    if oem_keys is not None and len(oem_keys) <= FEW_OEMS:
        # A few OEMs (a re-sync of mostly unchanged rows asks for a handful, or none): only
        # theirs are read, through the (source, OEM) index.
        where, keys = db.among("b.oem_key", list(oem_keys), str)
        sql, params = f"{sql} AND {where}", [name, *keys]
    # Streamed: PostgreSQL's plain cursor would fetch the whole base (22 MB at 100,000
    # records) before the first OEM.
    for rows in db.stream(sql, params, OEMS_AT_ONCE, utf8_text=True):
        for oem_key, stated in rows:
            if oem_keys is None or oem_key in oem_keys:
                yield oem_key, _decoded(stated)


def _decoded(stated: Any) -> dict[str, Any]:
    return orjson.loads(stated) if isinstance(stated, str | bytes) else stated


def _entry(stored: list | dict[str, Any]) -> Entry:
    return tuple(stored) if isinstance(stored, list) else stored


OemEntries = tuple[Iterator[Key], Iterator[Entry]]


def load(name: str, like: Mapping[Key, Record] | None = None) -> Base:
    """The source's base ({} for a source never applied). `like` holds this run's records by
    key: an entry equal to what its record states is kept as the record's own values, so a
    base that is mostly what the files say costs little memory (100 MB less at 100,000
    records)."""
    base: Base = {}
    for keys, entries in _stated_rows(name):
        if like is None:
            base.update(zip(keys, entries, strict=True))
            continue
        for key, entry in zip(keys, entries, strict=True):
            record = like.get(key)
            same = None if record is None else COMPARED_OF(record)
            base[key] = same if same == entry else entry
    return base


def load_hashed(name: str) -> dict[Key, int | dict[str, Any]]:
    """The source's base with each entry of every field as its hash (an entry of some fields
    as itself): enough to tell a row that is what its source stated, in a fifth of the
    memory (`merge.restated` reads the entries of the others with `load_entries`)."""
    hashed: dict[Key, int | dict[str, Any]] = {}
    for keys, entries in _stated_rows(name):
        hashed.update(zip(keys, map(_hashed, entries), strict=True))
    return hashed


def _hashed(entry: Entry) -> int | dict[str, Any]:
    return hash(entry) if isinstance(entry, tuple) else entry


def load_entries(name: str, keys: Collection[Key] | Mapping[Key, Record]) -> Base:
    """The entries of `keys` in the source's base (only their OEMs are read). Optimization:
    each wanted entry is looked up in its decoded OEM; the others are never made into entries
    (a sync that changed a tenth of the records asks for a tenth of them). When `keys` maps
    each key to this run's record, an entry of every field holds the record's objects for
    the values it shares with it (a 10%-changed apply of 1,000,000 records: ~40 MB less).
    Each wanted key is held with its record, not looked up again (10,000 of 100,000: 107/166
    -> 102/149 ms)."""
    records = keys.items() if isinstance(keys, Mapping) else zip(keys, repeat(None))
    wanted: dict[str, list[tuple[str, Key, Record | None]]] = {}
    for key, record in records:
        oem_key, name_key = key_parts(key)
        wanted.setdefault(oem_key, []).append((name_key, key, record))
    found: Base = {}
    seen: dict[Any, Any] = {}
    for oem_key, values in _stored(name, wanted):
        for name_key, key, record in wanted[oem_key]:
            stored = values.get(name_key)
            if stored is None:
                continue
            if record is not None and isinstance(stored, list):
                found[key] = tuple(sharing(record, stored, seen))
            else:
                found[key] = _entry(stored)
    return found


def stated(record: Record) -> Entry:
    if len(record.stated) == len(COMPARED):
        return record.compared()
    return {f: getattr(record, f) for f in record.stated}


STATED_OF = attrgetter("provenance.stated")  # in C, not through the property
KEY_OF = attrgetter("key")


def keys_digest(entries: Iterable[str]) -> str:
    """A digest of an OEM's name keys, whatever their order."""
    text = "\x00".join(sorted(entries)).encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _name_keys(oem_key: str, records: list[Record]) -> list[str]:
    return list(name_keys_in(oem_key, map(KEY_OF, records)))


@dataclass
class Grouped:
    """A run's records of one source as `save` writes them: by OEM (in the records' order),
    how an entry is made, each OEM's keys digest once worked out (`digest`), and the texts
    of the OEMs encoded ahead (`Prepared`)."""

    by_oem: dict[str, list[Record]]
    entry_of: Callable[[Record], Entry]
    digests: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)

    def digest(self, oem_key: str) -> str | None:
        """The OEM's keys digest (kept when its records are written), None when the records
        have none of it."""
        found = self.digests.get(oem_key)
        if found is None and oem_key in self.by_oem:
            found = self.digests[oem_key] = keys_digest(_name_keys(oem_key, self.by_oem[oem_key]))
        return found

    def entries(
        self, oem_key: str, found: list[Record], names: list[str] | None = None
    ) -> dict[str, Entry]:
        """An OEM's entries by name key (`names`, when made already), in the records' order."""
        names = _name_keys(oem_key, found) if names is None else names
        return dict(zip(names, map(self.entry_of, found), strict=True))

    def named(self, oem_key: str) -> list[str]:
        """The OEM's name keys, its digest worked out from them on the way."""
        names = _name_keys(oem_key, self.by_oem[oem_key])
        self.digests[oem_key] = keys_digest(names)
        return names

    def encoded_if(self, oem_key: str, digest: str) -> str | bytes | None:
        """`encoded`, when the OEM's keys digest is `digest` (else None, the OEM kept).
        Optimization: an OEM's name keys made once for its digest and its entries, never
        those of every OEM at once (a 10%-changed apply of 100,000 records on SQLite, in
        process, alternating x6, min/median: the base save 0.181/0.203 -> 0.164/0.168 s)."""
        if oem_key in self.digests or oem_key in self.texts or oem_key not in self.by_oem:
            return self.encoded(oem_key) if self.digest(oem_key) == digest else None
        names = self.named(oem_key)
        if self.digests[oem_key] != digest:
            return None
        return orjson.dumps(self.entries(oem_key, self.by_oem.pop(oem_key), names))

    def take(self, oem_key: str) -> dict[str, Entry]:
        """The OEM's entries (then forgotten)."""
        return self.entries(oem_key, self.by_oem.pop(oem_key, []))

    def encoded(self, oem_key: str) -> str | bytes:
        """The OEM's entries as stored: the text encoded ahead, else orjson's UTF-8 bytes
        (then forgotten)."""
        text = self.texts.pop(oem_key, None)
        if text is None:
            return orjson.dumps(self.take(oem_key))
        del self.by_oem[oem_key]
        return text

    def text(self, oem_key: str) -> str:
        """The OEM's entries as stored, as text (then forgotten)."""
        found = self.encoded(oem_key)
        return found if isinstance(found, str) else found.decode()


def _grouped(records: Sequence[Record]) -> Grouped:
    # Optimization: the records grouped by OEM, an OEM's entries made only as it is written
    # (`take`): the entries of every record at once were ~140 MB at 1,000,000 records.
    by_oem: dict[str, list[Record]] = {}
    # Each OEM spelling's key, split from the first of its records' keys: a spelling has one
    # (its `identity_key`). Optimization: not a key split per record (100,000 records grouped:
    # 18 -> 8 ms).
    key_of: dict[str, str] = {}
    for record in records:
        oem_key = key_of.get(record.oem)
        if oem_key is None:
            oem_key = key_of[record.oem] = key_parts(record.key)[0]
        by_oem.setdefault(oem_key, []).append(record)
    whole = all(len(fields) == len(COMPARED) for fields in set(map(STATED_OF, records)))
    return Grouped(by_oem, COMPARED_OF if whole else stated)  # every field: usual


# Bytes of base texts `Prepared` holds at most (100,000 records' base is 22 MB).
TEXTS_HELD = 32 << 20


class Prepared(Background):
    """What `save` works out of the run's records before it needs the database (`Grouped`:
    the records by OEM, their digests, the texts of the first OEMs up to TEXTS_HELD bytes in
    all), worked out on a thread while the write goes on (`prepare`: a first apply's).

    Optimization: the database copies the added records' ledger entries in one statement
    (PostgreSQL 0.7-0.9 s of its CPU at 100,000 records, SQLite 0.33 s in its own C code)
    while this process only waits, without the GIL; the bases encoded meanwhile are then
    only sent. A 100,000-record first apply (in process, alternating x8, min/median): on
    PostgreSQL the base save 0.50/0.62 -> 0.19/0.29 s, its CPU 0.27/0.31 -> 0.05/0.07 s; on
    SQLite (whole process, alternating x6, median) 2.12 -> 2.03 s."""

    def __init__(self, sources: Sequence[tuple[str, Sequence[Record]]]) -> None:
        self.found: dict[str, Grouped] = {}
        super().__init__(sources)

    def _work(self, sources: Sequence[tuple[str, Sequence[Record]]]) -> None:
        room = TEXTS_HELD
        for name, records in sources:
            grouped = self.found[name] = _grouped(records)
            for oem_key, found in grouped.by_oem.items():
                names = grouped.named(oem_key)
                if room > 0:
                    text = orjson.dumps(grouped.entries(oem_key, found, names)).decode()
                    grouped.texts[oem_key] = text
                    room -= len(text)

    def of(self, name: str) -> Grouped | None:
        self.wait()
        return self.found.pop(name, None)


def prepare(sources: Sequence[tuple[str, Sequence[Record]]], added: int) -> Prepared | None:
    """The bases of these sources (name, records) prepared on a thread for `save`, while
    the database copies the ledger entries of the `added` records, when they are at least
    half of the records (a first apply). Otherwise the thread would only take turns with
    this process's own work: in a 10%-changed apply the updates' (there it took the base
    save 0.45 -> 0.26 s, the write before it 0.73 -> 0.91 s: no gain)."""
    if added * 2 < sum(len(r) for _, r in sources):
        return None
    return Prepared(sources)


def save(
    name: str,
    files_digest: str,
    records: Sequence[Record],
    removed: Collection[Key] = (),
    prepared: Prepared | None = None,
) -> list[Key] | None:
    """Make the source's base what its files state now (`records`), in the caller's
    transaction: the records it stated before and no longer states are kept (a later prune
    removes them) and their keys returned (None when there are more than STALE_KEPT),
    `removed` ones (pruned by this run) dropped. `prepared` may hold this work begun.

    Optimization: the base is never held whole, and an OEM whose stored keys are the ones
    the files state (its `keys` digest: the usual re-sync) is replaced without being read.
    The others are read, deleted, overlaid and inserted again ten at a time (`OEMS_AT_ONCE`)."""
    source, _ = Source.objects.update_or_create(name=name, defaults={"digest": files_digest})
    grouped = (prepared and prepared.of(name)) or _grouped(records)
    digest = grouped.digest
    table, columns = SourceBase._meta.db_table, ("source_id", "oem_key", "keys", "stated")
    stale: list[Key] = []
    stale_count = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, oem_key, keys FROM {table} WHERE source_id = %s", [source.pk])
        stored = cursor.fetchall()
        if connection.vendor == "sqlite":
            # Optimization: rewritten in place, not deleted and inserted again: the index
            # is left alone and the pages of the old values are reused as they are freed.
            # The JSON is given as orjson's UTF-8 bytes and made text by SQLite (the same
            # text): not decoded into a str that the driver encodes again (22 MB at 100,000
            # records, 0.02 s of CPU), unless `prepare` encoded it ahead.
            update = f"UPDATE {table} SET stated = CAST(%s AS TEXT) WHERE id = %s"
            same = (
                (text, pk)
                for pk, oem_key, keys in stored
                if (text := grouped.encoded_if(oem_key, keys)) is not None
            )
            while changed := list(islice(same, OEMS_AT_ONCE)):
                cursor.executemany(update, changed)
        else:  # COPY is PostgreSQL's fastest write: deleted, then inserted with the rest
            rewritten = [pk for pk, oem_key, keys in stored if digest(oem_key) == keys]
            for ids in db.chunked(rewritten, 2000):
                where, params = db.among("id", ids)
                cursor.execute(f"DELETE FROM {table} WHERE {where}", params)
        other = sorted(pk for pk, oem_key, keys in stored if digest(oem_key) != keys)
        for start in range(0, len(other), OEMS_AT_ONCE):
            where, params = db.among("id", other[start : start + OEMS_AT_ONCE])
            cursor.execute(f"SELECT oem_key, stated FROM {table} WHERE {where}", params)
            found = cursor.fetchall()
            cursor.execute(f"DELETE FROM {table} WHERE {where}", params)
            written = []
            for oem_key, text in found:
                grouped.texts.pop(oem_key, None)  # its entries are overlaid on the stored
                now, before = grouped.take(oem_key), _decoded(text)
                if not before.keys() <= now.keys():  # stated before, not now: kept, stale
                    for name_key, entry in before.items():
                        if name_key in now:
                            continue
                        key = record_key((oem_key, name_key))
                        if key not in removed:
                            now[name_key] = entry
                            stale_count += 1
                            if stale_count <= STALE_KEPT:
                                stale.append(key)
                if now:
                    text = orjson.dumps(now).decode()
                    written.append((source.pk, oem_key, keys_digest(now), text))
            db.insert_rows(table, columns, written)
    # The rest (OEMs with the same keys, OEMs new to the source), encoded as they are written.
    if connection.vendor == "postgresql":
        # Optimization: one COPY fed as the texts come (psycopg sends it 32 KB at a time): the
        # server stores an OEM while the next is encoded, in one round trip (100,000 records'
        # base: 100 COPYs of ten OEMs took 0.20-0.21 s of CPU, one 0.16-0.17). The texts go
        # as orjson's UTF-8 bytes (`db.copy_lines`).
        encoded = ((source.pk, o, digest(o), grouped.encoded(o)) for o in list(grouped.by_oem))
        db.copy_lines(table, columns, encoded)
    else:
        rows = ((source.pk, o, digest(o), grouped.text(o)) for o in list(grouped.by_oem))
        while part := list(islice(rows, OEMS_AT_ONCE)):
            db.insert_rows(table, columns, part)
    return stale if stale_count <= STALE_KEPT else None
