"""Sources and their bases: what each source's files last said, for the three-way sync.

A source's base is stored per OEM (a thousand small JSON rows for 100,000 records, read and
written in one query each), and a source whose files are byte-for-byte what was last applied
(same digest) needs no base at all: its files say exactly what the base says.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from django.db import connection

from partners import db
from partners.fields import COMPARED
from partners.models import Source, SourceBase
from partners.records import Record

Key = tuple[str, str]
# (oem_key, name_key) → what the source stated: a tuple of every compared field (the usual
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


def load(name: str) -> Base:
    """The source's base ({} for a source never applied)."""
    base: Base = {}
    table, sources = SourceBase._meta.db_table, Source._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.oem_key, b.stated FROM {table} b JOIN {sources} s ON s.id = b.source_id "
            "WHERE s.name = %s",
            [name],
        )
        for oem_key, stated in cursor.fetchall():
            values = orjson.loads(stated) if isinstance(stated, str | bytes) else stated
            for name_key, fields in values.items():
                base[(oem_key, name_key)] = tuple(fields) if isinstance(fields, list) else fields
    return base


def stated(record: Record) -> Entry:
    if len(record.stated) == len(COMPARED):
        return record.compared()
    return {f: getattr(record, f) for f in record.stated}


def save(name: str, files_digest: str, base: Base) -> None:
    """Replace the source's base (in the caller's transaction)."""
    source, _ = Source.objects.update_or_create(name=name, defaults={"digest": files_digest})
    by_oem: dict[str, dict[str, Any]] = {}
    for (oem_key, name_key), fields in base.items():
        by_oem.setdefault(oem_key, {})[name_key] = fields
    SourceBase.objects.filter(source=source).delete()
    rows = [(source.pk, oem, orjson.dumps(values).decode()) for oem, values in by_oem.items()]
    db.insert_rows(SourceBase._meta.db_table, ("source_id", "oem_key", "stated"), rows)


def forget(name: str, keys: Sequence[Key]) -> None:
    """Drop records from a source's base (removed by a prune), leaving its digest as it is."""
    if not keys:
        return
    base = load(name)
    for key in keys:
        base.pop(key, None)
    current = Source.objects.filter(name=name).values_list("digest", flat=True).first()
    save(name, current or "", base)
