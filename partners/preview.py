"""What a person sees before confirming a sync: counts first, then capped lists of what
changes, and the whole list as CSV. Never one table row per unchanged record."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from partners.exporting import escape_formula
from partners.sync import SyncResult

SHOWN = 200  # rows per category on the page; the CSV has them all
ARROWS = {"up": "↑", "down": "↓", "changed": "→"}


def preview(result: SyncResult, limit: int = SHOWN) -> dict[str, Any]:
    plan = result.plan
    updated = [
        {
            "record": update.record,
            "changes": [
                {"field": name, **change, "arrow": ARROWS.get(str(change.get("direction")), "")}
                for name, change in update.changes.items()
            ],
        }
        for update in plan.updated[:limit]
    ]
    return {
        "result": result,
        "summary": result.summary,
        "updated": updated,
        "added": plan.added[:limit],
        "missing": plan.missing[:limit],
        "kept": plan.kept[:limit],
        "conflicts": plan.conflicts[:limit],
        "errors": result.errors[:limit],
        "warnings": result.warnings[:limit],
        "limit": limit,
        # Nothing to download when nothing would change and nothing is wrong.
        "has_changes": bool(plan.updated or plan.added or plan.missing or result.errors),
        "capped": any(
            len(items) > limit for items in (plan.updated, plan.added, plan.missing, result.errors)
        ),
    }


class _Echo:
    def write(self, value: str) -> str:
        return value


class _Escaped:
    """A csv writer whose cells cannot run as spreadsheet formulas."""

    def __init__(self) -> None:
        self.writer = csv.writer(_Echo())

    def writerow(self, row: list[Any]) -> str:
        return self.writer.writerow([escape_formula(value) for value in row])


def changes_csv(result: SyncResult) -> Iterator[str]:
    """Every change, error and missing record, one per line: category, OEM, name, field,
    old, new, where (file and line)."""
    writer = _Escaped()
    yield writer.writerow(["category", "oem", "name", "field", "old", "new", "where"])
    for error in result.errors:
        where = f"{error.file}: {error.position} {error.line}"
        yield writer.writerow(["error", "", "", error.field or "", "", error.message, where])
    plan = result.plan
    for update in plan.updated:
        record = update.record
        for name, change in update.changes.items():
            row = ["updated", record.oem, record.name, name, change["old"], change["new"]]
            yield writer.writerow([*row, record.where])
    for record in plan.added:
        yield writer.writerow(["added", record.oem, record.name, "", "", record.tier, record.where])
    category = "removed" if result.prune else "missing"
    for missing in plan.missing:
        yield writer.writerow([category, missing.oem, missing.name, "", missing.tier, "", ""])
