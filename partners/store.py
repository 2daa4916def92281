"""`data/oems.json`: the partner tiers grouped by OEM, rendered from the database.

One record per line, OEMs and partners in a fixed order and no run timestamp, so the same data
always gives the same bytes and a no-op sync leaves the file untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from django.conf import settings

from partners.atomic import sweep_temp_files, write_if_changed

STORE_VERSION = 1


class StoredRecord(Protocol):
    name: str
    oem: str

    def to_dict(self) -> dict[str, str | None]: ...


def store_path() -> Path:
    return Path(settings.PARTNERS_STORE_PATH)


def render(records: Iterable[StoredRecord]) -> bytes:
    by_oem: dict[str, list[StoredRecord]] = {}
    for record in records:
        by_oem.setdefault(record.oem, []).append(record)
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    blocks = []
    for oem in sorted(by_oem, key=lambda o: (o.casefold(), o)):
        partners = sorted(by_oem[oem], key=lambda r: (r.name.casefold(), r.name))
        lines = ",\n".join(f"    {dumps(r.to_dict())}" for r in partners)
        blocks.append(f'  {{"name": {dumps(oem)}, "partners": [\n{lines}\n  ]}}')
    body = ",\n".join(blocks)
    text = (
        f'{{"version": {STORE_VERSION}, "oems": [\n{body}\n]}}\n'
        if blocks
        else (f'{{"version": {STORE_VERSION}, "oems": []}}\n')
    )
    return text.encode("utf-8")


def write_store(records: Iterable[StoredRecord], path: Path | None = None) -> bool:
    """Render and write the store if its bytes changed. Call while holding the sync lock."""
    path = path or store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(path)
    return write_if_changed(path, render(records))


def refresh_store() -> bool:
    """Rewrite the store from the database (after an admin edit or delete, say)."""
    from partners.db import read_rows
    from partners.locking import sync_lock

    with sync_lock(settings.PARTNERS_LOCK_TIMEOUT):
        return write_store(read_rows())
