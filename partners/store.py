"""`data/oems.json`: the partner tiers grouped by OEM, rendered from the database.

One record per line, OEMs and partners in a fixed order and no run timestamp, so the same data
always gives the same bytes and a no-op sync leaves the file untouched.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from json.encoder import encode_basestring
from pathlib import Path
from typing import Protocol

import orjson
from django.conf import settings

from partners.atomic import discard, install, prepare, sweep_temp_files, write_if_changed
from partners.background import Background

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
        # Optimization: a block's end goes with the next heading, not joined to its lines
        # (a copy of the whole store).
        before = HEAD if first else BLOCK_END + b",\n"
        yield before + f'  {{"name": {_unique(oem)}, "partners": [\n'.encode()
        yield body
        first = False
    yield EMPTY if first else BLOCK_END + TAIL


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
    path = path or store_path()
    prepared = prepare_changes(
        removed, written, head_before=head_before, empty_before=empty_before, path=path
    )
    return finish_changes(prepared, path)


def prepare_changes(
    removed: Iterable[StoredRecord],
    written: Iterable[StoredRecord],
    *,
    head_before: int,
    empty_before: bool = False,
    path: Path | None = None,
) -> PreparedStore | None:
    """`write_changes`' new file, written to a temp file on a thread (it needs no database)
    while the caller's transaction goes on; `finish_changes` puts it in place once that
    transaction has committed. None when the file is not what was last written as of
    `head_before`: then `finish_changes` renders the store from the database."""
    from partners.models import StoreState

    path = path or store_path()
    removed, written = list(removed), list(written)
    if empty_before:
        return PreparedStore(path, lambda: _patched(iter([EMPTY]), removed, written))
    state = StoreState.objects.filter(path=str(path.resolve())).first()
    if state is None or state.ledger_id != head_before:
        return None
    sha256 = state.sha256
    return PreparedStore(path, lambda: _patched(_verified_lines(path, sha256), removed, written))


def finish_changes(prepared: PreparedStore | None, path: Path | None = None) -> bool:
    """Put a prepared store in place (after the commit of its write), or render the store
    anew from the database when the file turned out not to be what was last written."""
    path = path or store_path()
    try:
        if prepared is None:
            raise NotCurrent
        return prepared.finish()
    except (NotCurrent, FileNotFoundError):
        return refresh_store(path, locked=True)


class PreparedStore(Background):
    """The store's next bytes written to a temp file beside it by a thread, while the write
    they describe is still in its transaction: `finish` renames the file into place once the
    transaction has committed, `discard` removes it when the transaction failed. Made while
    holding the sync lock (no other writer sweeps or replaces the file meanwhile).

    Optimization: rendering and writing the store of a 100,000-record apply (a quarter of a
    second of CPU, then its fsync) overlaps the database's copying of the ledger entries,
    during which this process only waits (psycopg waits without the GIL)."""

    def __init__(self, path: Path, chunks: Callable[[], Iterable[bytes]]) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.temp: str | None = None
        super().__init__(chunks)

    def _work(self, chunks: Callable[[], Iterable[bytes]]) -> None:
        # Every failure waits for `finish`: it must not fail the transaction.
        def hashed() -> Iterator[bytes]:
            for chunk in _coalesced(chunks()):
                self.digest.update(chunk)
                yield chunk

        self.path.parent.mkdir(parents=True, exist_ok=True)
        sweep_temp_files(self.path)
        self.temp = prepare(self.path, hashed())

    def finish(self) -> bool:
        """Whether the file changed; the error the thread met, if any."""
        self.wait()
        if self.temp is not None:
            install(self.path, self.temp)
        _remember(self.path, self.digest.hexdigest())
        return self.temp is not None

    def discard(self) -> None:
        self.thread.join()
        if self.temp is not None:
            discard(self.temp)


def _coalesced(chunks: Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """The same bytes in chunks of about `size`. Optimization: the store's 2,000 blocks and
    headings hashed and written a megabyte at a time, not one by one: fewer calls, and fewer
    times the GIL is let go of and taken back while the write's transaction runs beside (the
    thread of a 10%-changed apply of 100,000 records: 0.17-0.18 -> 0.16-0.17 s of CPU)."""
    pending: list[bytes] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


def _verified_lines(path: Path, sha256: str) -> Iterator[bytes]:
    """The file's bytes in chunks; NotCurrent at the end when they are not the bytes last
    written."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            digest.update(chunk)
            yield chunk
    if digest.hexdigest() != sha256:
        raise NotCurrent


READ_CHUNK = 1 << 20


def _patched(
    chunks: Iterator[bytes], removed: list[StoredRecord], written: list[StoredRecord]
) -> Iterator[bytes]:
    """The store in `chunks` (any split of its bytes) with the `removed` rows' lines left
    out and the `written` records' lines put in their places."""
    drop: dict[str, dict[str, StoredRecord]] = {}
    for row in removed:
        drop.setdefault(row.oem, {})[row.name] = row
    put: dict[str, list[StoredRecord]] = {}
    for record in written:
        put.setdefault(record.oem, []).append(record)
    pending = sorted(put, key=_oem_order, reverse=True)  # OEMs with new lines, last first
    encoder = _Encoder()

    def new_block(oem: str) -> tuple[str, bytes]:
        return oem, _body(encoder.lines(sorted(put[oem], key=_name_order)))

    def blocks() -> Iterator[tuple[str, bytes]]:
        for oem, body in _blocks(chunks):
            while pending and _oem_order(pending[-1]) < _oem_order(oem):
                yield new_block(pending.pop())
            if pending and pending[-1] == oem:
                pending.pop()
            gone, new = drop.pop(oem, {}), put.get(oem, [])
            # A row written again under its name keeps its place: its line is swapped.
            same = [r for r in new if gone.pop(r.name, None) is not None] if gone else []
            if same:
                body = _swapped(body, same, encoder)
                swapped = {r.name for r in same}
                new = [r for r in new if r.name not in swapped]
            if gone or new:
                body = _merged(body, set(gone), sorted(new, key=_name_order), encoder)
            yield oem, body
        while pending:
            yield new_block(pending.pop())
        if drop:  # a removed row whose OEM the file does not have
            raise NotCurrent

    return _framed(blocks())


LINE_START, NAME_END = b'    {"name": "', b'", "tier": '


def _name_orders(lines: list[bytes]) -> list[tuple[str, str]]:
    """The sort order of each line's name in an OEM's block. The name ends at the first
    `", "tier": ` (inside a JSON string its quotes would be escaped)."""
    start = len(LINE_START)
    if not all(line.startswith(LINE_START) for line in lines):
        raise NotCurrent
    found = [line[start : line.index(NAME_END, start)] for line in lines]
    names = [_unescaped(text) for text in found]
    return [(name.casefold(), name) for name in names]


def _unescaped(text: bytes) -> str:
    return text.decode() if b"\\" not in text else orjson.loads(b'"' + text + b'"')


def _swapped(body: bytes, records: list[StoredRecord], encoder: _Encoder) -> bytes:
    """An OEM's block with the line of each record's name replaced by the record's, in place
    (same name, same place); NotCurrent when a name has no line in the block.

    Optimization: a line is found by its start up to the name (in C), in name order from
    the line found before, so an OEM's block is passed once, not split into lines nor its
    names decoded, as `_merged` must. The old line is not rendered to be found (the file is
    checked whole against what was last written at its end): patching the store of a
    10%-changed apply of 100,000 records, hashing included, 0.15-0.18 -> 0.13-0.14 s of CPU."""
    out: list[bytes] = []
    position = 0
    for text in encoder.lines(sorted(records, key=_name_order)):
        line = text.encode()
        start = line[: line.index(NAME_END) + len(NAME_END)]  # the old line's too: same name
        at = body.find(start, position)
        if at < 0 or (at and body[at - 2 : at] != b",\n"):
            raise NotCurrent
        end = body.find(b"\n", at + len(start)) - 1  # a line holds no newline
        end = len(body) if end < 0 else end
        out += (body[position:at], line)
        position = end
    out.append(body[position:])
    return b"".join(out)


def _merged(body: bytes, gone: set[str], new: list[StoredRecord], encoder: _Encoder) -> bytes:
    """An OEM's block with `gone` names' lines left out and `new` records' lines (in name
    order) put in their places."""
    old = body.split(b",\n")
    try:
        names = _name_orders(old)
    except ValueError:  # not a block of ours (the file is checked whole at its end)
        raise NotCurrent from None
    cuts: list[tuple[int, int, bytes | None]] = []  # (at, lines skipped, line put)
    for name in gone:
        order = (name.casefold(), name)
        at = bisect_left(names, order)
        if at == len(old) or names[at] != order:
            raise NotCurrent
        cuts.append((at, 1, None))
    rendered = encoder.lines(new)
    for record, text in zip(new, rendered, strict=True):
        order = _name_order(record)
        at = bisect_left(names, order)
        if at < len(old) and names[at] == order and record.name not in gone:
            raise NotCurrent  # a new line for a name the file still has
        cuts.append((at, 0, text.encode()))
    cuts.sort(key=lambda cut: cut[0])  # stable: new lines stay in name order
    out: list[bytes] = []
    position = 0
    for at, skipped, put in cuts:
        out += old[position:at]
        position = max(position, at + skipped)
        if put is not None:
            out.append(put)
    return b",\n".join(out + old[position:])


OEM_START = b'  {"name": '
OEM_END = b', "partners": [\n'
BLOCK_END = b"\n  ]}"


def _decoded(line: bytes, start: int, end: bytes) -> str:
    """The JSON string at `start` of a store line, up to `end` (the next key: a quote
    followed by it cannot be inside the string, where quotes are escaped)."""
    stop = line.index(end, start) + 1
    text = line[start:stop]
    return text[1:-1].decode() if b"\\" not in text else orjson.loads(text)


class _Reader:
    """Bytes arriving in chunks, read up to markers."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.buffer, self.at = chunks, b"", 0

    def until(self, marker: bytes) -> bytes:
        """The bytes before the next `marker`, which is passed; NotCurrent if none follows."""
        while (end := self.buffer.find(marker, self.at)) < 0:
            if not self._more():
                raise NotCurrent
        found, self.at = self.buffer[self.at : end], end + len(marker)
        return found

    def take(self, size: int) -> bytes:
        while len(self.buffer) - self.at < size and self._more():
            pass
        found = self.buffer[self.at : self.at + size]
        self.at += len(found)
        return found

    def _more(self) -> bool:
        chunk = next(self.chunks, b"")
        self.buffer = self.buffer[self.at :] + chunk
        self.at = 0
        return bool(chunk)


def _blocks(chunks: Iterator[bytes]) -> Iterator[tuple[str, bytes]]:
    """The store as OEM blocks: each OEM and its record lines as they are in the file.

    Optimization: a block is found by its end marker (a newline cannot be inside a JSON
    string), so an OEM without changes is copied without looking at its lines."""
    reader = _Reader(chunks)
    first = reader.take(len(HEAD))
    if first == EMPTY[: len(HEAD)] and first + reader.take(len(EMPTY)) == EMPTY:
        if reader.take(1):
            raise NotCurrent
        return
    if first != HEAD:
        raise NotCurrent
    while True:
        heading = reader.until(b"\n") + b"\n"
        if not (heading.startswith(OEM_START) and heading.endswith(OEM_END)):
            raise NotCurrent
        try:
            oem = _decoded(heading, len(OEM_START), b'", "partners": [')
        except ValueError:
            raise NotCurrent from None
        yield oem, reader.until(BLOCK_END)
        after = reader.take(2)
        if after == b",\n":
            continue
        if after + reader.take(2) != b"\n]}\n" or reader.take(1):
            raise NotCurrent
        return


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
