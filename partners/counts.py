"""How many records a list's filters match, counted once per state of the table.

See `ListCount`: the ledger's newest entry names the table's state, so a count made at that
state stands until the next write, in every server process.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from django.db.models import QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from partners.models import LedgerEntry, ListCount
from partners.store import ledger_head


def filters_key(filters: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(filters, option=orjson.OPT_SORT_KEYS)).hexdigest()


def cached_count(rows: QuerySet[Any, Any], filters: dict[str, Any]) -> int:
    """`rows.count()`, from the last count with these filters if nothing was written since.

    The head is read before counting: a write between the two leaves a newer head, so the
    count is never kept for an older state than the one it saw."""
    key = filters_key(filters)
    # Optimization: the head and the count kept for it in one query (one round trip less on
    # every page); on a miss the head is read on its own, before counting.
    newest = LedgerEntry.objects.order_by("-id").values("id")[:1]
    found = ListCount.objects.filter(
        filters=key, ledger_id=Coalesce(Subquery(newest), Value(0))
    ).values_list("total", flat=True)
    for total in found:
        return int(total)
    head = ledger_head()
    total = rows.count()
    ListCount.objects.bulk_create(
        [ListCount(filters=key, ledger_id=head, total=total)],
        update_conflicts=True,
        unique_fields=["filters"],
        update_fields=["ledger_id", "total"],
    )
    return total
