"""How many records a list's filters match, counted once per state of the table.

See `ListCount`: the ledger's newest entry names the table's state, so a count made at that
state stands until the next write, in every server process.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from django.db.models import QuerySet

from partners.models import ListCount
from partners.store import ledger_head


def filters_key(filters: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(filters, option=orjson.OPT_SORT_KEYS)).hexdigest()


def cached_count(rows: QuerySet[Any, Any], filters: dict[str, Any]) -> int:
    """`rows.count()`, from the last count with these filters if nothing was written since.

    The head is read before counting: a write between the two leaves a newer head, so the
    count is never kept for an older state than the one it saw."""
    key, head = filters_key(filters), ledger_head()
    found = ListCount.objects.filter(filters=key, ledger_id=head).values_list("total", flat=True)
    for total in found:
        return int(total)
    total = rows.count()
    ListCount.objects.bulk_create(
        [ListCount(filters=key, ledger_id=head, total=total)],
        update_conflicts=True,
        unique_fields=["filters"],
        update_fields=["ledger_id", "total"],
    )
    return total
