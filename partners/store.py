"""`data/oems.json`: the partner tiers grouped by OEM, rendered from the database.

One record per line, OEMs and partners in a fixed order and no run timestamp, so the same data
always gives the same bytes and a no-op sync leaves the file untouched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from json.encoder import encode_basestring
from pathlib import Path
from typing import Protocol

import orjson
from django.conf import settings

from partners.atomic import sweep_temp_files, write_if_changed

STORE_VERSION = 1


class StoredRecord(Protocol):
    """A record or a database row: anything with the eight fields."""

    @property
    def name(self) -> str: ...
    @property
    def tier(self) -> str: ...
    @property
    def program(self) -> str: ...
    @property
    def oem(self) -> str: ...
    @property
    def poc(self) -> str | None: ...
    @property
    def notes(self) -> str | None: ...
    @property
    def updated_at(self) -> str | None: ...
    @property
    def created_at(self) -> str | None: ...


def store_path() -> Path:
    return Path(settings.PARTNERS_STORE_PATH)


def render(records: Iterable[StoredRecord]) -> bytes:
    return b"".join(render_chunks(records))


class _Encoder:
    """One record's line and an OEM's heading, as the store writes them.

    Optimization: encoding value by value, with the repetitive ones (tier, program, OEM,
    times) from a cache, is three times faster than json.dumps of a dict per record."""

    def __init__(self) -> None:
        self.cache: dict[str, str] = {}

    def repeated(self, value: str | None) -> str:
        if value is None:
            return "null"
        text = self.cache.get(value)
        if text is None:
            text = self.cache[value] = encode_basestring(value)
        return text

    def lines(self, records: Iterable[StoredRecord]) -> list[str]:
        repeated, unique = self.repeated, _unique
        return [
            f'    {{"name": {unique(r.name)}, "tier": {repeated(r.tier)}, '
            f'"program": {repeated(r.program)}, "oem": {repeated(r.oem)}, '
            f'"poc": {unique(r.poc)}, "notes": {unique(r.notes)}, '
            f'"updated_at": {repeated(r.updated_at)}, "created_at": {repeated(r.created_at)}}}'
            for r in records
        ]


def _unique(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _oem_order(oem: str) -> tuple[str, str]:
    return (oem.casefold(), oem)


def _name_order(record: StoredRecord) -> tuple[str, str]:
    return (record.name.casefold(), record.name)


HEAD = f'{{"version": {STORE_VERSION}, "oems": [\n'.encode()
EMPTY = f'{{"version": {STORE_VERSION}, "oems": []}}\n'.encode()
TAIL = b"\n]}\n"


def _framed(blocks: Iterable[tuple[str, bytes]]) -> Iterator[bytes]:
    """The store around its OEM blocks (each an OEM and its record lines joined); blocks
    left empty are left out."""
    first = True
    for oem, body in blocks:
        if not body:
            continue
        yield (HEAD if first else b",\n") + f'  {{"name": {_unique(oem)}, "partners": [\n'.encode()
        yield body + b"\n  ]}"
        first = False
    yield EMPTY if first else TAIL


def _body(lines: list[str]) -> bytes:
    return ",\n".join(lines).encode()


def render_chunks(records: Iterable[StoredRecord]) -> Iterator[bytes]:
    """The store's bytes, one OEM at a time."""
    by_oem: dict[str, list[StoredRecord]] = {}
    for record in records:
        by_oem.setdefault(record.oem, []).append(record)
    encoder = _Encoder()

    def blocks() -> Iterator[tuple[str, bytes]]:
        for oem in sorted(by_oem, key=_oem_order):
            yield oem, _body(encoder.lines(sorted(by_oem.pop(oem), key=_name_order)))

    return _framed(blocks())


def write_store(records: Iterable[StoredRecord], path: Path | None = None) -> bool:
    """Render and write the store if its bytes changed, and remember what it holds. Call while
    holding the sync lock."""
    return _write(path or store_path(), render_chunks(records))


def _write(path: Path, chunks: Iterable[bytes]) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(path)
    digest = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        for chunk in chunks:
            digest.update(chunk)
            yield chunk

    written = write_if_changed(path, hashed())
    _remember(path, digest.hexdigest())
    return written


class NotCurrent(Exception):
    """The store file is not what was last written: missing, edited, or of another state."""


def write_changes(
    removed: Iterable[StoredRecord],
    written: Iterable[StoredRecord],
    *,
    head_before: int,
    empty_before: bool = False,
    path: Path | None = None,
) -> bool:
    """The store after one write to the database: the file as it was, with the lines of the
    `removed` rows (as they were) left out and those of the `written` records (added or
    updated) put in their places. Valid when the file holds what was last written as of
    `head_before` (the ledger's newest entry before the write) or the table was empty before
    it; otherwise, or if anything in the file does not fit, the store is rendered anew from
    the database. Call while holding the sync lock.

    Optimization: the unchanged lines (most of a 40 MB store) are copied, not rendered again,
    so a write costs its changes and one pass over the file, and memory holds one OEM."""
    from partners.models import StoreState

    path = path or store_path()
    removed, written = list(removed), list(written)
    if empty_before:
        return _write(path, _patched(iter([EMPTY]), removed, written))
    state = StoreState.objects.filter(path=str(path.resolve())).first()
    try:
        if state is None or state.ledger_id != head_before:
            raise NotCurrent
        return _write(path, _patched(_verified_lines(path, state.sha256), removed, written))
    except (NotCurrent, FileNotFoundError):
        return refresh_store(path, locked=True)


def _verified_lines(path: Path, sha256: str) -> Iterator[bytes]:
    """The file's lines; NotCurrent at the end when they are not the bytes last written."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for line in handle:
            digest.update(line)
            yield line
    if digest.hexdigest() != sha256:
        raise NotCurrent


def _patched(
    lines: Iterator[bytes], removed: list[StoredRecord], written: list[StoredRecord]
) -> Iterator[bytes]:
    drop: dict[str, set[str]] = {}
    for row in removed:
        drop.setdefault(row.oem, set()).add(row.name)
    put: dict[str, list[StoredRecord]] = {}
    for record in written:
        put.setdefault(record.oem, []).append(record)
    pending = sorted(put, key=_oem_order, reverse=True)  # OEMs with new lines, last first
    encoder = _Encoder()

    def new_block(oem: str) -> tuple[str, bytes]:
        return oem, _body(encoder.lines(sorted(put[oem], key=_name_order)))

    def blocks() -> Iterator[tuple[str, bytes]]:
        for oem, old in _blocks(lines):
            while pending and _oem_order(pending[-1]) < _oem_order(oem):
                yield new_block(pending.pop())
            if pending and pending[-1] == oem:
                pending.pop()
            gone, new = drop.pop(oem, set()), put.get(oem, [])
            if gone or new:
                old = _merged(old, gone, sorted(new, key=_name_order), encoder)
            yield oem, b",\n".join(old)
        while pending:
            yield new_block(pending.pop())
        if drop:  # a removed row whose OEM the file does not have
            raise NotCurrent

    return _framed(blocks())


def _merged(
    old: list[bytes], gone: set[str], new: list[StoredRecord], encoder: _Encoder
) -> list[bytes]:
    """An OEM's lines with `gone` names left out and `new` records put in name order."""
    out: list[bytes] = []
    rendered = [line.encode() for line in encoder.lines(new)]
    position = 0
    for line in old:
        name = _decoded(line, 13, b'", "tier": ')
        order = (name.casefold(), name)
        while position < len(new) and _name_order(new[position]) < order:
            out.append(rendered[position])
            position += 1
        if name in gone:
            gone.discard(name)
            continue
        if position < len(new) and new[position].name == name:
            raise NotCurrent  # a new line for a name the file still has
        out.append(line)
    if gone:
        raise NotCurrent
    return out + rendered[position:]


OEM_START = b'  {"name": '
OEM_END = b', "partners": [\n'
BLOCK_END, LAST_BLOCK_END = b"  ]},\n", b"  ]}\n"


def _decoded(line: bytes, start: int, end: bytes) -> str:
    """The JSON string at `start` of a store line, up to `end` (the next key: a quote
    followed by it cannot be inside the string, where quotes are escaped)."""
    stop = line.index(end, start) + 1
    text = line[start:stop]
    return text[1:-1].decode() if b"\\" not in text else orjson.loads(text)


def _blocks(lines: Iterator[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """The store file as OEM blocks: each OEM and its record lines (without commas)."""
    first = next(lines, b"")
    if first == EMPTY:
        for _ in lines:  # to the end (and its check)
            raise NotCurrent
        return
    if first != HEAD:
        raise NotCurrent
    while True:
        heading = next(lines, b"")
        if not (heading.startswith(OEM_START) and heading.endswith(OEM_END)):
            raise NotCurrent
        oem = _decoded(heading, len(OEM_START), b'", "partners": [')
        records: list[bytes] = []
        for line in lines:
            if line in (BLOCK_END, LAST_BLOCK_END):
                break
            if not line.startswith(b'    {"name": "'):
                raise NotCurrent
            records.append(line[:-2] if line.endswith(b",\n") else line[:-1])
        else:
            raise NotCurrent
        yield oem, records
        if line == LAST_BLOCK_END:
            break
    if next(lines, b"") != b"]}\n":
        raise NotCurrent
    for _ in lines:
        raise NotCurrent


def ledger_head() -> int:
    from partners.models import LedgerEntry

    return LedgerEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _remember(path: Path, sha256: str) -> None:
    from partners.models import StoreState

    status = path.stat()
    StoreState.objects.update_or_create(
        path=str(path.resolve()),
        defaults={
            "sha256": sha256,
            "size": status.st_size,
            "ledger_id": ledger_head(),
        },
    )


def is_current(path: Path | None = None) -> bool:
    """Whether the file holds what was last written, from the ledger as it is now: then a
    write that changed nothing need not render the store again."""
    from partners.models import StoreState

    path = path or store_path()
    state = StoreState.objects.filter(path=str(path.resolve())).first()
    try:
        status = path.stat()
    except OSError:
        return False
    if state is None or state.ledger_id != ledger_head() or state.size != status.st_size:
        return False
    with path.open("rb") as handle:  # hashing 40 MB takes a few hundredths of a second
        return hashlib.file_digest(handle, "sha256").hexdigest() == state.sha256


def refresh_store(path: Path | None = None, *, locked: bool = False) -> bool:
    """Render the store anew from the database, an OEM at a time (memory holds one OEM, not
    the table): when the file is missing or not what was last written."""
    from partners.db import oem_spellings, store_rows
    from partners.locking import sync_lock

    encoder = _Encoder()

    def blocks() -> Iterator[tuple[str, bytes]]:
        for oem_key, oem in sorted(oem_spellings(), key=lambda pair: _oem_order(pair[1])):
            yield oem, _body(encoder.lines(sorted(store_rows(oem_key, oem), key=_name_order)))

    if locked:
        return _write(path or store_path(), _framed(blocks()))
    with sync_lock(settings.PARTNERS_LOCK_TIMEOUT):
        return _write(path or store_path(), _framed(blocks()))
