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


def render_chunks(records: Iterable[StoredRecord]) -> Iterator[bytes]:
    """The store's bytes, one OEM at a time."""
    by_oem: dict[str, list[StoredRecord]] = {}
    for record in records:
        by_oem.setdefault(record.oem, []).append(record)
    # Optimization: encoding value by value, with the repetitive ones (tier, program, OEM,
    # times) from a cache, is three times faster than json.dumps of a dict per record.
    cache: dict[str, str] = {}

    def repeated(value: str | None) -> str:
        if value is None:
            return "null"
        text = cache.get(value)
        if text is None:
            text = cache[value] = encode_basestring(value)
        return text

    def unique(value: str | None) -> str:
        return "null" if value is None else encode_basestring(value)

    oems = sorted(by_oem, key=lambda o: (o.casefold(), o))
    if not oems:
        yield f'{{"version": {STORE_VERSION}, "oems": []}}\n'.encode()
        return
    yield f'{{"version": {STORE_VERSION}, "oems": [\n'.encode()
    for index, oem in enumerate(oems):
        partners = sorted(by_oem.pop(oem), key=lambda r: (r.name.casefold(), r.name))
        lines = ",\n".join(
            f'    {{"name": {unique(r.name)}, "tier": {repeated(r.tier)}, '
            f'"program": {repeated(r.program)}, "oem": {repeated(r.oem)}, '
            f'"poc": {unique(r.poc)}, "notes": {unique(r.notes)}, '
            f'"updated_at": {repeated(r.updated_at)}, "created_at": {repeated(r.created_at)}}}'
            for r in partners
        )
        end = ",\n" if index < len(oems) - 1 else "\n]}\n"
        yield f'  {{"name": {unique(oem)}, "partners": [\n{lines}\n  ]}}{end}'.encode()


def write_store(records: Iterable[StoredRecord], path: Path | None = None) -> bool:
    """Render and write the store if its bytes changed, and remember what it holds. Call while
    holding the sync lock."""
    path = path or store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(path)
    digest = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        for chunk in render_chunks(records):
            digest.update(chunk)
            yield chunk

    written = write_if_changed(path, hashed())
    _remember(path, digest.hexdigest())
    return written


def _ledger_head() -> int:
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
            "ledger_id": _ledger_head(),
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
    if state is None or state.ledger_id != _ledger_head() or state.size != status.st_size:
        return False
    with path.open("rb") as handle:  # hashing 40 MB takes a few hundredths of a second
        return hashlib.file_digest(handle, "sha256").hexdigest() == state.sha256


def refresh_store() -> bool:
    """Rewrite the store from the database (after an admin edit or delete, say)."""
    from partners.db import read_rows
    from partners.locking import sync_lock

    with sync_lock(settings.PARTNERS_LOCK_TIMEOUT):
        return write_store(read_rows())
