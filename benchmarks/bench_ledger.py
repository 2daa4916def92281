"""Tier-change report benchmark: `tier_changes` for one month of a ledger of 1,000,000 rows.

A year of monthly runs over 1,000 OEMs is written straight into a fresh database (SQLite, and
PostgreSQL with `--databases sqlite,postgres`); then the report of one month is timed as a
whole process, as a user runs it, with its query plan (the `ledger_at` index makes it a range
scan of that month's entries, not a walk of the ledger).

    .venv/bin/python benchmarks/bench_ledger.py [--rows 1000000] [--databases sqlite]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_sync import PG_URL, environment, fresh_db, run_process

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TARGET_SECONDS = 1.0
TIERS = ["Bronze", "Silver", "Gold", "Platinum"]
COLUMNS = (
    "id, run_id, record_id, action, oem, name, program, oem_key, name_key, tier_from, tier_to, "
    "old, new, at, user_id"
)
QUERY = (
    "SELECT * FROM partners_ledgerentry l WHERE (l.tier_from IS NOT NULL OR "
    "l.tier_to IS NOT NULL) AND l.at >= '2026-03-01 00:00:00' AND l.at < '2026-04-01 00:00:00'"
)


def entries(count: int):
    """`count` entries over twelve monthly runs: a third tier changes, the rest POC edits."""
    rng = random.Random(3)
    per_run = count // 12
    for index in range(count):
        month = min(index // per_run, 11) + 1
        record = index % 100_000
        oem, name = f"Vendor {record % 1000:04d}", f"Partner {record // 1000:06d}"
        old_tier, new_tier = rng.sample(TIERS, 2)
        tier_change = index % 3 == 0
        old = {"tier": old_tier} if tier_change else {"poc": "Old Contact"}
        new = {"tier": new_tier} if tier_change else {"poc": "New Contact"}
        yield (
            index + 1,
            month,
            record + 1,
            "updated",
            oem,
            name,
            f"{oem} Program",
            oem.lower(),
            name.lower(),
            old_tier if tier_change else None,
            new_tier if tier_change else None,
            json.dumps(old),
            json.dumps(new),
            f"2026-{month:02d}-{rng.randint(1, 28):02d} 10:00:00",
            None,
        )


def fill_sqlite(db: Path, count: int) -> str:
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO partners_syncrun (id, started_at, source, files, counts, changes, "
            "applied, errors, notes_created) VALUES (?, ?, 'cli', '[]', '{}', '{}', 1, '[]', '[]')",
            [(m, f"2026-{m:02d}-01 10:00:00") for m in range(1, 13)],
        )
        marks = ", ".join("?" * 15)
        conn.executemany(
            f"INSERT INTO partners_ledgerentry ({COLUMNS}) VALUES ({marks})", entries(count)
        )
    plan = " / ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {QUERY}"))
    conn.close()
    return plan


def fill_postgres(count: int) -> str:
    import psycopg

    url = PG_URL.replace("postgres://", "postgresql://")
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO partners_syncrun (id, started_at, source, files, counts, changes, "
            "applied, errors, notes_created) "
            "VALUES (%s, %s, 'cli', '[]', '{}', '{}', true, '[]', '[]')",
            [(m, f"2026-{m:02d}-01 10:00:00+00") for m in range(1, 13)],
        )
        with cursor.copy(f"COPY partners_ledgerentry ({COLUMNS}) FROM STDIN") as copy:
            for row in entries(count):
                copy.write_row(row)
        cursor.execute("ANALYZE partners_ledgerentry")
        cursor.execute(f"EXPLAIN {QUERY}")
        return " / ".join(r[0].strip() for r in cursor.fetchall()[:3])


def bench(database: str, count: int, folder: Path) -> None:
    env = environment(folder, database)
    fresh_db(folder, env)
    start = time.perf_counter()
    plan = (
        fill_postgres(count)
        if database == "postgres"
        else fill_sqlite(folder / "db.sqlite3", count)
    )
    print(f"\n{count:,} ledger rows ({database}), written in {time.perf_counter() - start:.1f} s")
    print(f"  query plan: {plan}")
    report = [PYTHON, "manage.py", "tier_changes", "--since", "2026-03-01", "--until", "2026-03-31"]
    for fmt in ("json", "text"):
        seconds, peak, _ = run_process([*report, "--format", fmt], env)
        verdict = "ok" if seconds <= TARGET_SECONDS else f"OVER target {TARGET_SECONDS} s"
        print(f"  one month, --format {fmt:<5} {seconds:6.2f} s  {peak:5.0f} MB  {verdict}")
    done = subprocess.run(
        [*report, "--format", "json"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    print(f"  entries in that month: {len(json.loads(done.stdout)['changes']):,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        for database in args.databases.split(","):
            bench(database, args.rows, Path(tmp))


if __name__ == "__main__":
    main()
