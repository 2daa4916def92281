"""How many records a list's filters match, counted once per state of the table.

See `ListCount`: the ledger's newest entry names the table's state, so a count made at that
state stands until the next write, in every server process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from django.db import connection

from partners.models import LedgerEntry, ListCount


def filters_key(filters: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(filters, option=orjson.OPT_SORT_KEYS)).hexdigest()


def cached_count(
    filters: dict[str, Any], count: Callable[[], int], kept: Sequence[Any] | None = None
) -> int:
    """`count()`, the number of records `filters` match: the last count with these filters
    if nothing was written since. `kept`: the KEPT columns, when a query already read them.

    The head is read before counting: a write between the two leaves a newer head, so the
    count is never kept for an older state than the one it saw."""
    key = filters_key(filters)
    if kept is None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {KEPT}", [key])
            kept = cursor.fetchone()
    head, total = kept
    if total is not None:
        return int(total)
    total = count()
    ListCount.objects.bulk_create(
        [ListCount(filters=key, ledger_id=head, total=total)],
        update_conflicts=True,
        unique_fields=["filters"],
        update_fields=["ledger_id", "total"],
    )
    return total


_head = f"SELECT COALESCE(MAX(id), 0) FROM {LedgerEntry._meta.db_table}"
# Two columns for any SELECT, its parameter the filters' key: the ledger's head (0 when
# empty) and the total kept for it with those filters (NULL if none).
# Optimization: the head and the count kept for it in one query, or in the page's own (one
# round trip less on every page), in SQL written once (compiling its queryset cost as much
# as the page's); uncorrelated, so each is read once per query.
KEPT = (
    f"({_head}), (SELECT total FROM {ListCount._meta.db_table} "
    f"WHERE filters = %s AND ledger_id = ({_head}))"
)
