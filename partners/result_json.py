"""A sync result as JSON: as one dict (`result_dict`) or as bytes written as they are made
(`result_json`), from one list of its keys so that the two cannot say different things.

Optimization: a result's lists can hold every record of the table (`unchanged`); built as one
object and encoded at once they cost as much memory again as the run. Streamed, each list is
encoded and written CHUNK entries at a time with orjson, and a row held by id (`db.RowSet`)
is read back only when its chunk is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from partners.sync import SyncResult

CHUNK = 200  # entries per write: about 100 KB; larger chunks only cost memory


class Listing:
    """A list of the result that is made entry by entry, only when it is written."""

    def __init__(self, items: Iterable[Any], entry: Callable[[Any], Any]) -> None:
        self.items = items
        self.entry = entry

    def __iter__(self) -> Iterator[Any]:
        return map(self.entry, self.items)


def _kept(kept: Any) -> dict[str, Any]:
    return {
        **kept.row.to_dict(),
        "fields": kept.fields,
        **({"deleted": True} if kept.deleted else {}),
    }


def _updated(update: Any) -> dict[str, Any]:
    return {**update.record.to_dict(), "changes": update.changes}


def _as_dict(row: Any) -> dict[str, Any]:
    return row.to_dict()


def result_items(result: SyncResult, *, with_unchanged: bool = True) -> list[tuple[str, Any]]:
    """The result's keys in order, each with its value or a `Listing` of its entries."""
    plan = result.plan
    missing: Sequence[Any] = plan.missing
    none: Sequence[Any] = ()
    return [
        ("dry_run", result.dry_run),
        ("added", Listing(plan.added, _as_dict)),
        ("updated", Listing(plan.updated, _updated)),
        ("unchanged", Listing(plan.unchanged if with_unchanged else none, _as_dict)),
        ("applied", result.applied),
        ("missing", Listing(plan.left if result.prune else missing, _as_dict)),
        ("removed", Listing(missing if result.prune else none, _as_dict)),
        ("summary", result.summary),
        ("errors", [error.to_dict() for error in result.errors]),
        ("warnings", result.warnings),
        ("sources", result.sources),
        ("fingerprint", result.fingerprint),
        ("run_id", result.run_id),
        ("kept", Listing(plan.kept, _kept)),
        ("conflicts", result.conflicts if result.reverts else plan.conflicts),
        *([("reverts", result.reverts)] if result.reverts else []),
    ]


def result_dict(result: SyncResult, **options: Any) -> dict[str, Any]:
    return {
        key: list(value) if isinstance(value, Listing) else value
        for key, value in result_items(result, **options)
    }


def result_json(
    result: SyncResult, *, extra: dict[str, Any] | None = None, **options: Any
) -> Iterator[bytes]:
    """The result as a JSON object, a key per line and a list entry per line, made as it is
    written. `extra` replaces the result's own keys in place and adds its others at the end
    (a failure's `detail` and `errors`)."""
    extra = extra or {}
    items = [(key, extra.get(key, value)) for key, value in result_items(result, **options)]
    items += [item for item in extra.items() if item[0] not in dict(items)]
    yield b"{"
    for index, (key, value) in enumerate(items):
        head = (b"," if index else b"") + b"\n  " + orjson.dumps(key) + b": "
        if isinstance(value, Listing):
            yield head + b"["
            yield from _entries(iter(value))
            yield b"]"
        else:
            yield head + orjson.dumps(value)
    yield b"\n}\n"


def _entries(entries: Iterator[Any]) -> Iterator[bytes]:
    first = True
    while chunk := list(islice(entries, CHUNK)):
        lines = b",\n    ".join(map(orjson.dumps, chunk))
        yield (b"\n    " if first else b",\n    ") + lines
        first = False
    if not first:
        yield b"\n  "
