"""The tier-change report: promotions, demotions, new tiers and lapsed ones, from the ledger.

Read through the ledger's `at` index (`ledger_at`), so a month
of a year-long ledger is a range scan, never a walk of every entry or of its JSON.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection

from partners import db
from partners.models import LedgerEntry, SyncRun
from partners.normalize import format_timestamp, identity_key
from partners.programs import EMPTY, Catalog, load_catalog

DIRECTIONS = ("up", "down", "new", "removed", "changed")
CSV_COLUMNS = (
    "at",
    "run_id",
    "source",
    "user",
    "oem",
    "program",
    "name",
    "from",
    "to",
    "direction",
)


class ReportError(ValueError):
    """A bad period or filter, said in words a person can act on."""


@dataclass(frozen=True)
class Period:
    since: datetime | None
    until: datetime | None  # exclusive


def parse_moment(value: str, *, end: bool = False) -> datetime:
    """`2026-11-01` or a full ISO 8601 time (naive = UTC). A date as the end of a period
    means the whole of that day."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1 if end else 0), time(), UTC)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(
            f"{value!r} is not a date or time (use ISO 8601, e.g. 2026-11-01 or "
            "2026-11-01T09:30:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def period(since: str | None, until: str | None) -> Period:
    start = parse_moment(since) if since else None
    stop = parse_moment(until, end=True) if until else None
    if start and stop and stop <= start:
        raise ReportError(f"--until ({until}) is not after --since ({since})")
    return Period(start, stop)


def direction(
    action: str,
    old: str | None,
    new: str | None,
    *,
    oem: str = "",
    program: str | None = None,
    catalog: Catalog = EMPTY,
) -> str:
    """`new`, `removed`, else up/down on the ladder of the entry's OEM and program as the
    catalog holds it now (a ladder changed later reads right for old entries)."""
    if action == "added":
        return "new"
    if action == "removed":
        return "removed"
    return catalog.direction(oem, program, old, new)


def _where(when: Period, oem: str | None, run_id: int | None) -> tuple[str, list[Any]]:
    where = ["(l.tier_from IS NOT NULL OR l.tier_to IS NOT NULL)"]
    params: list[Any] = []
    as_db = db.db_time()
    if when.since:
        where.append("l.at >= %s")
        params.append(as_db(format_timestamp(when.since)))
    if when.until:
        where.append("l.at < %s")
        params.append(as_db(format_timestamp(when.until)))
    if oem:
        where.append("l.oem_key = %s")
        params.append(identity_key(oem))
    if run_id is not None:
        where.append("l.run_id = %s")
        params.append(run_id)
    return " AND ".join(where), params


def count_changes(when: Period, *, oem: str | None = None, run_id: int | None = None) -> int:
    where, params = _where(when, oem, run_id)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {LedgerEntry._meta.db_table} l WHERE {where}", params)
        return int(cursor.fetchone()[0])


def tier_changes(
    when: Period,
    *,
    oem: str | None = None,
    run_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[dict[str, Any]]:
    """Every tier change in the period (oldest first), as the report's JSON entries."""
    table, runs = LedgerEntry._meta.db_table, SyncRun._meta.db_table
    users = get_user_model()._meta.db_table
    where, params = _where(when, oem, run_id)
    sql = (
        f"SELECT {db.time_as_text('l.at')}, l.run_id, r.source, u.username, l.oem, l.program, "
        f"l.name, l.tier_from, l.tier_to, l.action FROM {table} l "
        f"JOIN {runs} r ON r.id = l.run_id LEFT JOIN {users} u ON u.id = l.user_id "
        f"WHERE {where} ORDER BY l.at, l.id"
    )
    if limit is not None:
        sql += " LIMIT %s OFFSET %s"
        params += [limit, offset]
    catalog = load_catalog()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            for at, run, source, user, oem_, program, name, old, new, action in chunk:
                yield {
                    "at": at,
                    "run_id": run,
                    "source": source,
                    "user": user,
                    "oem": oem_,
                    "program": program,
                    "name": name,
                    "from": old,
                    "to": new,
                    "direction": direction(
                        action, old, new, oem=oem_, program=program, catalog=catalog
                    ),
                }


def summarize(changes: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    summary: dict[str, dict[str, int]] = {}
    for change in changes:
        counts = summary.setdefault(change["oem"], dict.fromkeys(DIRECTIONS, 0))
        counts[change["direction"]] += 1
    return dict(sorted(summary.items(), key=lambda item: item[0].casefold()))


def report(when: Period, *, oem: str | None = None, run_id: int | None = None) -> dict[str, Any]:
    changes = list(tier_changes(when, oem=oem, run_id=run_id))
    return {
        "since": format_timestamp(when.since) if when.since else None,
        "until": format_timestamp(when.until) if when.until else None,
        "changes": changes,
        "summary": summarize(changes),
    }


def as_csv(changes: list[dict[str, Any]]) -> Iterator[str]:
    """The changes as CSV lines, formula-safe for spreadsheets."""
    from partners.exporting import escape_formula

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for change in changes:
        writer.writerow([escape_formula(change[c]) for c in CSV_COLUMNS])
        if buffer.tell() > 1 << 16:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def recent_changes(
    oem_keys: Iterable[str], per_oem: int, catalog: Catalog | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Each OEM's last `per_oem` tier changes, newest first, for its Obsidian note: read from
    `RecentChanges`, which the write path keeps (a few hundred rows for a thousand OEMs).
    `catalog`: the exporter's, so an export loads it once."""
    from partners.models import RecentChanges

    keys = list(oem_keys)
    found: dict[str, list[dict[str, Any]]] = {}
    catalog = load_catalog() if catalog is None else catalog
    for start in range(0, len(keys), 500):
        part = RecentChanges.objects.filter(oem_key__in=keys[start : start + 500])
        for key, changes in part.values_list("oem_key", "changes"):
            found[key] = [
                {
                    "date": c["at"][:10],
                    "name": c["name"],
                    "program": c["program"],
                    "from": c["from"],
                    "to": c["to"],
                    "direction": direction(
                        c["action"],
                        c["from"],
                        c["to"],
                        oem=key,
                        program=c["program"],
                        catalog=catalog,
                    ),
                }
                for c in changes[:per_oem]
            ]
    return found
