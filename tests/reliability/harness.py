"""Shared by the reliability tests: generated inputs, processes to run and kill, and the
checks that a store and a database hold whole states."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIERS = ["Platinum", "Gold", "Silver", "Bronze"]
COMPARED = ("name", "tier", "program", "oem", "poc", "notes")


def generate(path: Path, count: int, seed: int, oems: int = 1000) -> Path:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "tier", "program", "oem", "poc", "notes"])
        for i in range(count):
            writer.writerow(
                [
                    f"Partner {i // oems:05d}",
                    rng.choice(TIERS),
                    f"Program {i % 7}",
                    f"Vendor {i % oems:03d}",
                    f"Contact {rng.randrange(1000)}" if i % 3 else "",
                    "",
                ]
            )
    return path


def environment(folder: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        PARTNERS_STORE_PATH=str(folder / "store" / "oems.json"),
        PARTNERS_INPUT_DIR=str(folder),
        DJANGO_SETTINGS_MODULE="partnersite.settings",
        **extra,
    )
    env.pop("VAULT_ROOT", None)
    return env


def manage(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


def run_and_kill(env: dict[str, str], args: list[str], delay: float) -> bool:
    """Start `manage.py args`, SIGKILL it after `delay` seconds; whether it was still running."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return running


def db_contents(db: Path) -> frozenset[tuple]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT {', '.join(COMPARED)} FROM partners_partnertier").fetchall()
    return frozenset(rows)


def table_by_id(db: Path) -> dict[int, tuple]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT id, {', '.join(COMPARED)} FROM partners_partnertier")
        return {row[0]: row[1:] for row in rows.fetchall()}


def ledger_head(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COALESCE(MAX(id), 0) FROM partners_ledgerentry").fetchone()[0]


def ledger_problems(db: Path, before: dict[int, tuple], head: int) -> list[str]:
    """The table as it was (`before`, when the ledger ended at entry `head`) with the entries
    written since replayed onto it must be the table as it is, and every such entry's run must
    be an applied one: a change never exists without its entry and its run. (Only the new
    entries are read: the ledger of a long stress run is millions of rows.)"""
    with sqlite3.connect(db) as conn:
        entries = conn.execute(
            "SELECT l.record_id, l.action, l.new, r.applied FROM partners_ledgerentry l "
            "JOIN partners_syncrun r ON r.id = l.run_id WHERE l.id > ? ORDER BY l.id",
            [head],
        ).fetchall()
    problems = [f"entry of record {e[0]} belongs to a run not applied" for e in entries if not e[3]]
    state = {rid: dict(zip(COMPARED, values, strict=True)) for rid, values in before.items()}
    for record_id, action, new, _ in entries:
        if action == "removed":
            state.pop(record_id, None)
        else:
            state.setdefault(record_id, {}).update(json.loads(new))
    replayed = {rid: tuple(values.get(f) for f in COMPARED) for rid, values in state.items()}
    if replayed != table_by_id(db):
        problems.append(f"{len(entries)} new ledger entries do not replay to the table")
    return problems


def db_records(db: Path) -> list[dict]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT name, tier, program, oem, poc, notes, "
            "substr(updated_at, 1, 10) || 'T' || substr(updated_at, 12, 8) || 'Z' AS updated_at, "
            "substr(created_at, 1, 10) || 'T' || substr(created_at, 12, 8) || 'Z' AS created_at "
            "FROM partners_partnertier"
        ).fetchall()
    return [dict(r) for r in rows]


def store_records(data: bytes) -> list[dict]:
    document = json.loads(data)
    return [record for oem in document["oems"] for record in oem["partners"]]


def key(record: dict) -> tuple:
    return tuple(record.get(k) for k in (*COMPARED, "updated_at", "created_at"))


def store_problems(store: Path, before: bytes | None, db: Path) -> list[str]:
    """The store must be its old bytes, or a whole rendering of what the database holds."""
    try:
        data = store.read_bytes()
    except FileNotFoundError:
        return [] if before is None else ["the store disappeared"]
    if data == before:
        return []
    try:
        records = store_records(data)
    except (ValueError, KeyError, TypeError) as exc:
        return [f"the store does not parse: {exc.__class__.__name__}: {str(exc)[:80]}"]
    if sorted(map(key, records)) != sorted(map(key, db_records(db))):
        return ["the store is new but is not the database's state"]
    return []


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]
