"""Concurrent applies from separate processes, as several app servers or cron jobs would run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from partners.db import read_rows
from partners.store import render
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_sync(path, store):
    env = {**os.environ, "DATABASE_URL": database_url(), "PARTNERS_STORE_PATH": str(store)}
    return subprocess.Popen(
        [sys.executable, "manage.py", "sync_partners", str(path), "--apply", "--format", "json"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def state():
    return sorted((r.oem, r.name, r.tier, r.program, r.poc, r.notes) for r in read_rows())


def inputs(folder):
    a = write_csv(
        folder / "a.csv", [[f"Partner {i}", "Gold", "P", "Cisco", "A", ""] for i in range(300)]
    )
    b = write_csv(
        folder / "b.csv",
        [[f"Partner {i}", "Silver", "P", "Cisco", "", "from b"] for i in range(150, 450)],
    )
    return a, b


def test_two_concurrent_applies_end_like_one_after_the_other(input_dir, store, tmp_path):
    a, b = inputs(input_dir)
    procs = [start_sync(a, store), start_sync(b, store)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    concurrent = state()
    assert len(concurrent) == 450

    # The same two inputs, one after the other, in both orders: the end state is one of them.
    serial = []
    for order in ((a, b), (b, a)):
        with connection.cursor() as cursor:  # an empty database: no records, no bases
            cursor.execute("DELETE FROM partners_partnertier")
            cursor.execute("DELETE FROM partners_sourcebase")
            cursor.execute("DELETE FROM partners_source")
        for path in order:
            proc = start_sync(path, tmp_path / "serial.json")
            proc.communicate(timeout=120)
            assert proc.returncode == 0
        serial.append(state())
    assert concurrent in serial
    # Each process diffed against the state it changed: the second saw the first's rows.
    results = [json.loads(out) for out, _ in outputs]
    assert sorted(r["summary"]["added"] for r in results) == [150, 300]


def test_the_store_equals_the_database_after_concurrent_applies(input_dir, store):
    a, b = inputs(input_dir)
    procs = [start_sync(a, store), start_sync(b, store), start_sync(a, store)]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    assert store.read_bytes() == render(read_rows())
    assert not [n for n in os.listdir(store.parent) if n.endswith(".tmp")]
