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
