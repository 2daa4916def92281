"""The floors of bench_sync.py: the same rows into a table of the same shape by the plainest
means, as a whole process (start-up and CSV parsing included, as for the engine's runs).

    python benchmarks/floor.py sqlite FILE DB_PATH   # one sqlite3 executemany
    python benchmarks/floor.py postgres FILE URL     # one psycopg COPY
"""

from __future__ import annotations

import csv
import sys

NOW = "2026-01-01 00:00:00"
COLUMNS = "name, tier, program, oem, poc, notes, name_key, oem_key, created_at, updated_at"


def rows(path: str) -> list[tuple[str, ...]]:
    with open(path, newline="", encoding="utf-8") as handle:
        found = list(csv.reader(handle))[1:]
    return [(*r, r[0].casefold(), r[3].casefold(), NOW, NOW) for r in found]


def sqlite(path: str, target: str) -> None:
    import sqlite3

    data = rows(path)
    conn = sqlite3.connect(target)
    conn.execute(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, tier TEXT, program TEXT, oem TEXT,"
        " poc TEXT, notes TEXT, name_key TEXT, oem_key TEXT, created_at TEXT, updated_at TEXT,"
        " UNIQUE (oem_key, name_key))"
    )
    with conn:
        conn.executemany(f"INSERT INTO t ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", data)
    conn.close()


def postgres(path: str, url: str) -> None:
    import psycopg

    data = rows(path)
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE t (id bigserial PRIMARY KEY, name varchar(200), tier varchar(100),"
            " program varchar(200), oem varchar(200), poc varchar(200), notes text,"
            " name_key varchar(800), oem_key varchar(800), created_at timestamptz,"
            " updated_at timestamptz, UNIQUE (oem_key, name_key))"
        )
        with conn.cursor().copy(f"COPY t ({COLUMNS}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)


if __name__ == "__main__":
    kind, path, target = sys.argv[1:4]
    {"sqlite": sqlite, "postgres": postgres}[kind](path, target)
