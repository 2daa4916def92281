"""Sync engine benchmark: whole-process time and peak memory, as a user runs the command.

For 10,000 and 100,000 records across 1,000 OEMs, on a fresh SQLite database (and, with
`--databases sqlite,postgres`, a fresh PostgreSQL one beside it): dry run (empty database),
apply (empty database), no-op re-sync, re-sync with 10% of tiers changed, the revert of that
10% run and the revert of the whole first apply (100,000 removals), each with the ledger rows
it wrote; beside them, in the same run, a plain django-import-export import (default settings
and its fastest settings) and a raw sqlite3 executemany insert of the same rows.

    .venv/bin/python benchmarks/bench_sync.py [--sizes 10000,100000] [--skip-import-export]
        [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIERS = ["Platinum", "Gold", "Silver", "Bronze"]
TARGETS_100K = {  # seconds, whole process, SQLite, 100,000 records (the ledger issue's)
    "dry run (empty db)": 1.5,
    "apply (empty db)": 2.0,
    "no-op re-sync": 1.2,
    "10% changed apply": 2.0,
    "revert of the 100k apply": 3.0,
}
PG_URL = "postgres://postgres@127.0.0.1:5432/partners_bench"
PEAK_MB_TARGET = 250
SPEEDUP_TARGET = 40


def generate(path: Path, count: int, oems: int = 1000, seed: int = 7, change: float = 0.0):
    rng = random.Random(seed)
    changer = random.Random(seed + 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "tier", "program", "oem", "poc", "notes"])
        for i in range(count):
            oem = f"Vendor {i % oems:04d} Systems"
            tier = rng.choice(TIERS)
            if change and changer.random() < change:
                tier = TIERS[(TIERS.index(tier) + 1) % len(TIERS)]
            poc = f"Contact {i}" if i % 3 else ""
            notes = f"Account note {i}, renewal in Q{i % 4 + 1}" if i % 5 == 0 else ""
            writer.writerow(
                [f"Partner {i // oems:06d}", tier, f"{oem} Partner Program", oem, poc, notes]
            )


def run_process(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB, exit code of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"    ! exit {code}: {err.strip()[-500:]}")
    return elapsed, usage.ru_maxrss / 1024, code


def environment(folder: Path, database: str = "sqlite") -> dict[str, str]:
    env = dict(os.environ)
    url = PG_URL if database == "postgres" else f"sqlite:///{folder / 'db.sqlite3'}"
    env.update(
        DATABASE_URL=url,
        PARTNERS_STORE_PATH=str(folder / "oems.json"),
        PARTNERS_INPUT_DIR=str(folder),
        DJANGO_SETTINGS_MODULE="partnersite.settings",
    )
    env.pop("VAULT_ROOT", None)
    return env


def fresh_db(folder: Path, env: dict[str, str]) -> None:
    if env["DATABASE_URL"].startswith("postgres"):
        pg = ["-h", "127.0.0.1", "-U", "postgres"]
        subprocess.run(["dropdb", *pg, "--if-exists", "partners_bench"], check=True)
        subprocess.run(["createdb", *pg, "partners_bench"], check=True)
    for suffix in ("", "-wal", "-shm"):
        (folder / f"db.sqlite3{suffix}").unlink(missing_ok=True)
    (folder / "oems.json").unlink(missing_ok=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def ledger_rows(env: dict[str, str]) -> int:
    code = "from partners.models import LedgerEntry; print(LedgerEntry.objects.count())"
    done = subprocess.run(
        [PYTHON, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip())


def raw_executemany(folder: Path, data: Path) -> float:
    """The floor: plain sqlite3, one executemany into a table of the same shape."""
    db = folder / "raw.sqlite3"
    db.unlink(missing_ok=True)
    start = time.perf_counter()
    with data.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, tier TEXT, program TEXT, oem TEXT,"
        " poc TEXT, notes TEXT, name_key TEXT, oem_key TEXT, created_at TEXT, updated_at TEXT,"
        " UNIQUE (oem_key, name_key))"
    )
    now = "2026-01-01 00:00:00"
    with conn:
        conn.executemany(
            "INSERT INTO t (name, tier, program, oem, poc, notes, name_key, oem_key, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*r, r[0].lower(), r[3].lower(), now, now) for r in rows],
        )
    conn.close()
    return time.perf_counter() - start


def bench_size(
    count: int, folder: Path, with_import_export: bool, database: str = "sqlite"
) -> dict[str, float]:
    data = folder / f"partners_{count}.csv"
    changed = folder / f"changed_{count}.csv"
    generate(data, count)
    generate(changed, count, change=0.10)
    env = environment(folder, database)
    # One source, as a portal's monthly exports are: the 10% changed file is three-way merged
    # against the base the first apply left.
    sync = [PYTHON, "manage.py", "sync_partners", "--source", "bench"]
    figures: dict[str, float] = {}
    peaks: dict[str, float] = {}

    revert = [PYTHON, "manage.py", "revert_sync"]
    ledger = [0]

    def measure(label: str, args: list[str]) -> None:
        seconds, peak, _ = run_process(args, env)
        figures[label], peaks[label] = seconds, peak
        target = TARGETS_100K.get(label) if count == 100_000 and database == "sqlite" else None
        verdict = ""
        if target:
            verdict = "  ok" if seconds <= target else f"  OVER target {target} s"
        written = ""
        if "--apply" in args:
            total = ledger_rows(env)
            written, ledger[0] = f"  {total - ledger[0]:>7,} ledger rows", total
        print(
            f"  {label:<34} {seconds:7.2f} s  {peak:6.0f} MB  {count / seconds:>10,.0f} rows/s"
            f"{written}{verdict}"
        )

    name = "PostgreSQL" if database == "postgres" else "SQLite"
    print(f"\n{count:,} records across 1,000 OEMs ({name}, whole process)")
    fresh_db(folder, env)
    measure("dry run (empty db)", [*sync, str(data)])
    measure("apply (empty db)", [*sync, str(data), "--apply"])  # run 1
    measure("no-op re-sync", [*sync, str(data), "--apply"])  # run 2
    measure("10% changed apply", [*sync, str(changed), "--apply"])  # run 3
    measure("revert of the 10% apply", [*revert, "3", "--apply"])  # run 4
    measure("revert of the 100k apply", [*revert, "1", "--apply"])  # run 5
    if database != "sqlite":
        print(f"  peak memory: {max(peaks.values()):.0f} MB")
        return figures
    raw = raw_executemany(folder, data)
    figures["raw executemany"] = raw
    print(f"  {'raw sqlite3 executemany':<34} {raw:7.2f} s")
    if with_import_export:
        for mode in ("default", "fastest"):
            fresh_db(folder, env)
            measure(
                f"django-import-export ({mode})",
                [PYTHON, str(ROOT / "benchmarks" / "iex_import.py"), str(data), mode],
            )
    apply_s = figures["apply (empty db)"]
    print(
        f"  peak memory: {max(peaks.values()):.0f} MB (engine runs: "
        f"{max(v for k, v in peaks.items() if 'import-export' not in k):.0f} MB; target "
        f"{PEAK_MB_TARGET} MB)"
    )
    print(f"  apply vs raw executemany: {apply_s / raw:.1f}× the raw time")
    for mode in ("default", "fastest"):
        key = f"django-import-export ({mode})"
        if key in figures:
            ratio = figures[key] / apply_s
            note = f"  (target ≥ {SPEEDUP_TARGET}×)" if mode == "default" else ""
            print(f"  engine apply is {ratio:.1f}× faster than django-import-export {mode}{note}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--skip-import-export", action="store_true")
    parser.add_argument("--databases", default="sqlite", help="sqlite and/or postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            for database in args.databases.split(","):
                bench_size(size, Path(tmp), not args.skip_import_export, database)


if __name__ == "__main__":
    main()
