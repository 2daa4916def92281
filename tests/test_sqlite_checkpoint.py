from __future__ import annotations

import sqlite3

import pytest
from django.db import connection

from partners import db
from partners.models import PartnerTier
from partners.sync import StaleState, run_sync
from tests.helpers import write_csv

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's WAL checkpoints"),
]

ROWS = [["Acme", "Gold", "Cisco PTP", "Cisco", "", ""]]


def autocheckpoint() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        return int(cursor.fetchone()[0])


def test_an_apply_checkpoints_what_it_committed_and_restores_the_setting(input_dir, monkeypatch):
    seen: list[int] = []

    def checkpoint(name):
        other = sqlite3.connect(name)  # another connection sees the run: it was committed
        seen.append(other.execute("SELECT count(*) FROM partners_partnertier").fetchone()[0])
        other.close()
        real(name)

    real = db._checkpoint
    monkeypatch.setattr(db, "_checkpoint", checkpoint)
    before = autocheckpoint()
    assert run_sync([write_csv(input_dir / "p.csv", ROWS)], apply=True).applied
    assert seen == [1]
    assert autocheckpoint() == before


def test_a_refused_apply_restores_the_setting_without_checkpointing(input_dir, monkeypatch):
    started: list[str] = []
    monkeypatch.setattr(db, "_checkpoint", started.append)
    before = autocheckpoint()
    with pytest.raises(StaleState):
        run_sync([write_csv(input_dir / "p.csv", ROWS)], apply=True, expected_fingerprint="x")
    assert started == []
    assert autocheckpoint() == before
    assert not PartnerTier.objects.exists()


def opened(path) -> sqlite3.Connection:
    """A connection to the SQLite file at `path` as the project's settings open one."""
    from django.db.backends.sqlite3.base import DatabaseWrapper

    wrapper = DatabaseWrapper({**connection.settings_dict, "NAME": str(path)})
    wrapper.ensure_connection()
    return wrapper.connection


def test_a_new_database_has_16_kib_pages_in_wal_mode(tmp_path):
    new = opened(tmp_path / "new.sqlite3")
    new.execute("CREATE TABLE t (x)")
    assert new.execute("PRAGMA page_size").fetchone()[0] == 16384
    assert new.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    new.close()


def test_an_existing_database_keeps_its_page_size_and_works(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE t (x)")
    old.commit()
    old.close()
    reopened = opened(path)
    with reopened:
        reopened.execute("INSERT INTO t VALUES (1)")
    assert reopened.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert reopened.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert reopened.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened.close()
