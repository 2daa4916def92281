"""A sync result as JSON: as one dict (`result_dict`) or as bytes written as they are made
(`result_json`), from one list of its keys so that the two cannot say different things.

Optimization: a result's lists can hold every record of the table (`unchanged`); built as one
object and encoded at once they cost as much memory again as the run. Streamed, each list is
encoded and written CHUNK entries at a time with orjson, and the rows held by id (`db.RowSet`)
are read back in one streamed query only when their list is written.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, islice, repeat
from operator import itemgetter, lt
from typing import TYPE_CHECKING, Any

import orjson

from partners import db
from partners.fields import RECORD_FIELDS, TIMES

if TYPE_CHECKING:
    from partners.sync import SyncResult

CHUNK = 200  # entries per write: about 100 KB; larger chunks only cost memory


def _dict_maker(value: Callable[[str], str]) -> Callable[..., dict[str, Any]]:
    """`f(v, t)`: the seed's dict of one record (`records.record_dict`), `value(field)` being
    the expression that reads the field from `v` (`t`: a memo of the times, if needed).

    Optimization: a dict display, compiled once from the fields as dataclasses compile their
    `__init__`, makes a record's dict in one presized step: 100,000 records 80 -> 34 ms with
    `dict(zip(fields, values))` (micro-benchmark)."""
    body = ", ".join(f"{name!r}: {value(name)}" for name in RECORD_FIELDS)
    return eval(f"lambda v, t=None: {{{body}}}")  # the fields' own names: no input reaches eval


def _streamed_value(name: str) -> str:
    at = db.COLUMNS.index(name)
    return f"t[v[{at}]]" if name in TIMES else f"v[{at}]"


RECORD_DICT = _dict_maker(lambda name: f"v.{name}")  # a Record's or a Row's
STREAMED_DICT = _dict_maker(_streamed_value)  # a `db.stream_rows` tuple's
ID_AT = itemgetter(0)


class Listing:
    """A list of the result that is made entry by entry, only when it is written."""

    def __init__(self, items: Iterable[Any], entries: Callable[[Any], Iterator[Any]]) -> None:
        self.items = items
        self.entries = entries

    def __iter__(self) -> Iterator[Any]:
        return self.entries(self.items)


def _kept(kept: Any) -> dict[str, Any]:
    return {
        **RECORD_DICT(kept.row),
        "fields": kept.fields,
        **({"deleted": True} if kept.deleted else {}),
    }


def _updated(update: Any) -> dict[str, Any]:
    return {**RECORD_DICT(update.record), "changes": update.changes}


def _each(entry: Callable[[Any], Any]) -> Callable[[Iterable[Any]], Iterator[Any]]:
    return lambda items: map(entry, items)


def _as_dicts(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Records or Rows as the seed's dicts.

    Optimization: the rows held by id are read in one streamed query (`_row_dicts`): 100,000
    unchanged rows were 50 queries of 2,000 ids and a Row each."""
    if isinstance(items, db.RowSet) and _streamable(items.ids):
        return _row_dicts(items.ids)
    return map(RECORD_DICT, items)


def _streamable(ids: Sequence[int]) -> bool:
    """Whether the ids are in order (as a sync's are) and fill at least half of their span of
    the table, so reading that span beats looking each id up."""
    return bool(ids) and 2 * len(ids) >= ids[-1] - ids[0] + 1 and all(map(lt, ids, ids[1:]))


class _Times(dict[Any, Any]):
    """A streamed time as a Row's, formatted once per distinct value: one apply's rows share
    one or two."""

    def __missing__(self, value: Any) -> Any:
        self[value] = formatted = db.STREAMED_TIME(value)
        return formatted


def _row_dicts(ids: Sequence[int]) -> Iterator[dict[str, Any]]:
    """The rows with these ids (in order; those that still exist) as the seed's dicts, read as
    their span of the table streams by."""
    times = _Times()
    span = f"SELECT {db.STREAMED} FROM {db.TABLE} WHERE id BETWEEN %s AND %s ORDER BY id"
    for part in db.stream(span, [ids[0], ids[-1]]):
        first, last = bisect_left(ids, part[0][0]), bisect_right(ids, part[-1][0])
        wanted = ids[first:last]
        if wanted != array("q", map(ID_AT, part)):
            part = list(compress(part, map(set(wanted).__contains__, map(ID_AT, part))))
        yield from map(STREAMED_DICT, part, repeat(times))


def result_items(result: SyncResult, *, with_unchanged: bool = True) -> list[tuple[str, Any]]:
    """The result's keys in order, each with its value or a `Listing` of its entries."""
    plan = result.plan
    missing: Sequence[Any] = plan.missing
    none: Sequence[Any] = ()
    return [
        ("dry_run", result.dry_run),
        ("added", Listing(plan.added, _as_dicts)),
        ("updated", Listing(plan.updated, _each(_updated))),
        ("unchanged", Listing(plan.unchanged if with_unchanged else none, _as_dicts)),
        ("applied", result.applied),
        ("missing", Listing(plan.left if result.prune else missing, _as_dicts)),
        ("removed", Listing(missing if result.prune else none, _as_dicts)),
        ("summary", result.summary),
        ("errors", [error.to_dict() for error in result.errors]),
        ("warnings", result.warnings),
        ("sources", result.sources),
        ("fingerprint", result.fingerprint),
        ("run_id", result.run_id),
        ("kept", Listing(plan.kept, _each(_kept))),
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
