"""`tier_changes`: a scripted year of monthly syncs, counted from the script itself."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime

import pytest

from partners.models import LedgerEntry
from partners.sync import run_sync
from tests.helpers import run, write_csv

pytestmark = pytest.mark.django_db

LADDER = ["Bronze", "Silver", "Gold", "Platinum"]
OEMS = ["Cisco", "Dell"]
PARTNERS = [f"Partner {i:02d}" for i in range(12)]


def month_start(month: int) -> datetime:
    return datetime(2026, month, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def year(input_dir):
    """Twelve monthly files: each month some partners move one step up or down the ladder,
    one lapses and one joins. Returns what the script did, counted per month and OEM."""
    rng = random.Random(2026)
    tiers = {(oem, name): rng.randrange(4) for oem in OEMS for name in PARTNERS[:8]}
    spare = [(oem, name) for oem in OEMS for name in PARTNERS[8:]]
    expected: dict[int, dict[str, dict[str, int]]] = {}
    for month in range(1, 13):
        counts = {
            oem: dict.fromkeys(["up", "down", "new", "removed", "changed"], 0) for oem in OEMS
        }
        if month == 1:
            for oem, _ in tiers:
                counts[oem]["new"] += 1
        else:
            for key in rng.sample(sorted(tiers), 5):
                step = rng.choice([-1, 1])
                if 0 <= tiers[key] + step < 4:
                    tiers[key] += step
                    counts[key[0]]["up" if step > 0 else "down"] += 1
            if month % 3 == 0:
                gone = sorted(tiers)[month % len(tiers)]
                del tiers[gone]
                counts[gone[0]]["removed"] += 1
                joined = spare.pop()
                tiers[joined] = 1
                counts[joined[0]]["new"] += 1
        rows = [[name, LADDER[t], "Program", oem, "", ""] for (oem, name), t in tiers.items()]
        path = write_csv(input_dir / f"partners_{month:02d}.csv", rows)
        result = run_sync([path], apply=True, prune=True, source_name="portal")
        assert result.applied
        LedgerEntry.objects.filter(run_id=result.run_id).update(at=month_start(month))
        path.unlink()
        expected[month] = counts
    return expected


def report(*args: str) -> dict:
    out, err, code = run("tier_changes", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def total(expected, months) -> dict[str, dict[str, int]]:
    summed = {oem: dict.fromkeys(["up", "down", "new", "removed", "changed"], 0) for oem in OEMS}
    for month in months:
        for oem, counts in expected[month].items():
            for direction, n in counts.items():
                summed[oem][direction] += n
    return {oem: counts for oem, counts in summed.items() if any(counts.values())}


def test_the_whole_year_counts_every_promotion_demotion_arrival_and_lapse(year):
    data = report()
    assert data["summary"] == total(year, range(1, 13))
    assert len(data["changes"]) == sum(sum(c.values()) for c in total(year, range(1, 13)).values())


@pytest.mark.parametrize("month", [2, 6, 9, 12])
def test_one_month_counts_exactly_that_month(year, month):
    since = f"2026-{month:02d}-01"
    until = f"2026-{month:02d}-28"
    data = report("--since", since, "--until", until)
    assert data["summary"] == total(year, [month])
    assert data["since"] == f"2026-{month:02d}-01T00:00:00Z"
    assert all(c["at"].startswith(f"2026-{month:02d}") for c in data["changes"])


def test_one_oem_and_one_run(year):
    dell = report("--oem", "dell")
    assert set(dell["summary"]) == {"Dell"}
    assert dell["summary"]["Dell"] == total(year, range(1, 13))["Dell"]
    run_id = LedgerEntry.objects.filter(at=month_start(6)).values_list("run_id", flat=True)[0]
    one = report("--run", str(run_id))
    assert one["summary"] == total(year, [6])
    assert {c["run_id"] for c in one["changes"]} == {run_id}


def test_entries_carry_who_where_and_the_direction(year):
    change = next(c for c in report("--since", "2026-02-01")["changes"] if c["direction"] == "up")
    assert set(change) == {
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
    }
    assert change["source"] == "cli" and change["user"] is None
    assert LADDER.index(change["to"]) == LADDER.index(change["from"]) + 1


def test_csv_and_text_formats(year):
    out, _, code = run(
        "tier_changes", "--since", "2026-03-01", "--until", "2026-03-31", "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == sum(sum(c.values()) for c in year[3].values())
    text, _, _ = run("tier_changes", "--since", "2026-03-01", "--until", "2026-03-31")
    assert "Tier changes from 2026-03-01T00:00:00Z to 2026-04-01T00:00:00Z" in text
    assert "↑" in text or "↓" in text


@pytest.mark.parametrize(
    "args", [["--since", "last week"], ["--since", "2026-05-01", "--until", "2026-04-01"]]
)
def test_a_bad_period_is_exit_2_with_json_detail(args):
    out, err, code = run("tier_changes", *args, "--format", "json")
    assert code == 2 and json.loads(out)["detail"]
