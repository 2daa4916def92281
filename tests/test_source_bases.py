"""What a source's base holds after each sync: the values its files stated, records it no
longer states kept (stale) until a prune removes them, across OEMs stored a few at a time
(`sources.OEMS_AT_ONCE`), whatever the database did meanwhile."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from partners import sources as sourcebase
from partners.fields import COMPARED
from partners.loaders import InputFile
from partners.models import Source, SourceBase
from partners.normalize import record_key
from partners.records import Record
from partners.sync import run_sync
from tests.helpers import write_csv, write_json

pytestmark = pytest.mark.django_db

OEMS = 150  # many more stored OEMs than OEMS_AT_ONCE: the save works through them in parts


def rows(drop=(), tiers=None, oems=OEMS):
    """Two partners at each of `oems` OEMs, Gold unless `tiers` says otherwise."""
    found = []
    for oem in range(oems):
        for n in range(2):
            if (oem, n) not in drop:
                tier = (tiers or {}).get((oem, n), "Gold")
                found.append([f"Name {oem}-{n}", tier, "PTP", f"Oem{oem}", f"poc {oem}", ""])
    return found


def key(oem: int, n: int) -> tuple[str, str]:
    return (f"oem{oem}", f"name {oem}-{n}")


def base(name: str) -> dict[tuple[str, str], Any]:
    stored = SourceBase.objects.filter(source__name=name)
    return {(b.oem_key, k): v for b in stored for k, v in json.loads(b.stated).items()}


def stale(name: str) -> list[tuple[str, str]] | None:
    found = Source.objects.get(name=name).read["stale"]
    return None if found is None else sorted(map(tuple, found))


def entry(oem: int, n: int, tier: str = "Gold") -> list[str | None]:
    return [f"Name {oem}-{n}", tier, "PTP", f"Oem{oem}", f"poc {oem}", None]


@pytest.fixture
def synced(input_dir):
    path = write_csv(input_dir / "partners_a.csv", rows())
    assert run_sync([path], apply=True).applied
    return path


def test_a_base_holds_every_record_its_file_stated(synced):
    stored = base("partners_a.csv")
    assert len(stored) == OEMS * 2
    assert stored[key(120, 1)] == entry(120, 1)
    assert stale("partners_a.csv") == []


def test_entries_read_for_this_runs_records_are_the_same_and_share_their_values(synced):
    values = dict(zip(COMPARED, entry(3, 1, "Silver"), strict=True))
    record = Record.of({**values, "created_at": None, "updated_at": None})
    by_key = sourcebase.load_entries("partners_a.csv", [record_key(key(3, 1))])
    shared = sourcebase.load_entries("partners_a.csv", {record.key: record})
    assert shared == by_key == {record_key(key(3, 1)): tuple(entry(3, 1))}
    said = shared[record.key]
    assert isinstance(said, tuple)
    assert said[0] is record.name and said[2] is record.program and said[1] == "Gold"


def test_records_a_file_no_longer_states_stay_in_its_base_as_stale(synced):
    dropped = {(1, 1), (7, 0), (7, 1), (130, 0)}  # OEM 7 leaves the file whole
    write_csv(synced, rows(drop=dropped, tiers={(3, 0): "Silver", (140, 1): "Bronze"}))
    assert run_sync([synced], apply=True).applied
    stored = base("partners_a.csv")
    assert len(stored) == OEMS * 2  # nothing forgotten
    assert stored[key(3, 0)] == entry(3, 0, "Silver")
    assert stored[key(140, 1)] == entry(140, 1, "Bronze")
    assert stored[key(7, 0)] == entry(7, 0)  # as last stated
    assert stale("partners_a.csv") == sorted(key(*k) for k in dropped)
    again = run_sync([synced], apply=True)  # restated from the base, files not parsed
    assert again.summary["missing"] == 4 and again.summary["updated"] == 0


def test_a_prune_drops_what_it_removes_from_the_base(synced):
    write_csv(synced, rows(drop={(1, 1), (7, 0), (7, 1)}))
    result = run_sync([synced], apply=True, prune=True)
    assert result.applied and result.summary["removed"] == 3
    stored = base("partners_a.csv")
    assert len(stored) == OEMS * 2 - 3 and key(1, 1) not in stored
    assert not SourceBase.objects.filter(oem_key="oem7").exists()
    assert stale("partners_a.csv") == []


def test_more_stale_records_than_are_kept_make_the_next_sync_read_the_file(synced, monkeypatch):
    monkeypatch.setattr(sourcebase, "STALE_KEPT", 2)
    write_csv(synced, rows(drop={(1, 1), (2, 1), (3, 1)}))
    assert run_sync([synced], apply=True).applied
    assert stale("partners_a.csv") is None
    assert len(base("partners_a.csv")) == OEMS * 2
    parsed: list[InputFile] = []
    load = InputFile.load

    def counted(self: InputFile) -> Any:
        parsed.append(self)
        return load(self)

    monkeypatch.setattr(InputFile, "load", counted)
    again = run_sync([synced], apply=True)
    assert parsed and again.summary["missing"] == 3 and again.summary["updated"] == 0


def test_a_file_that_adds_records_to_an_oem_keeps_the_others(synced):
    more = [*rows(), ["Name 5-9", "Silver", "PTP", "Oem5", "", ""]]
    write_csv(synced, more)
    assert run_sync([synced], apply=True).applied
    stored = base("partners_a.csv")
    assert stored[key(5, 9)][:2] == ["Name 5-9", "Silver"]
    assert stored[key(5, 0)] == entry(5, 0) and len(stored) == OEMS * 2 + 1


def test_a_json_file_that_states_some_fields_keeps_only_those(input_dir):
    path = write_json(
        input_dir / "partners_b.json",
        [
            {"name": "Bee 1", "tier": "Silver", "program": "PTP", "oem": "Oem0"},
            {"name": "Bee 2", "tier": "Gold", "program": "PTP", "oem": "Oem0", "poc": "Ann"},
        ],
    )
    assert run_sync([path], apply=True).applied
    stored = base("partners_b.json")
    assert stored[("oem0", "bee 1")] == {
        "name": "Bee 1",
        "tier": "Silver",
        "program": "PTP",
        "oem": "Oem0",
    }
    assert stored[("oem0", "bee 2")]["poc"] == "Ann"


def test_a_source_whose_file_did_not_change_keeps_its_base_when_another_changes(synced, input_dir):
    other = write_csv(input_dir / "partners_b.csv", [["Far Away", "Gold", "PTP", "Dell"]])
    assert run_sync([synced, other], apply=True).applied
    before = base("partners_b.csv")
    write_csv(synced, rows(tiers={(0, 0): "Platinum"}))
    assert run_sync([synced, other], apply=True).applied
    assert base("partners_b.csv") == before == {("dell", "far away"): before[("dell", "far away")]}
    assert base("partners_a.csv")[key(0, 0)] == entry(0, 0, "Platinum")


@pytest.mark.parametrize("held", [0, 1_000, 1 << 30])  # bytes: no OEM, a few, every one
def test_bases_encoded_ahead_on_a_thread_are_the_ones_saved(synced, monkeypatch, held):
    """`sources.Prepared` (during the write of a first apply; here during
    every write): whichever OEMs it encoded ahead, the base saved is the one encoded as it
    is written, OEMs whose keys changed overlaid on what was stored, stale entries kept."""
    monkeypatch.setattr(sourcebase, "TEXTS_HELD", held)
    made: list[sourcebase.Prepared] = []

    def prepare(sources: Any, added: int) -> sourcebase.Prepared:
        made.append(sourcebase.Prepared(sources))
        return made[-1]

    monkeypatch.setattr(sourcebase, "prepare", prepare)
    dropped = {(1, 1), (7, 0), (7, 1), (130, 0)}  # OEM 7 leaves the file whole
    write_csv(synced, rows(drop=dropped, tiers={(3, 0): "Silver", (140, 1): "Bronze"}))
    assert run_sync([synced], apply=True).applied
    assert len(made) == 1 and made[0].error is None and not made[0].found  # taken by save
    stored = base("partners_a.csv")
    assert len(stored) == OEMS * 2
    assert stored[key(3, 0)] == entry(3, 0, "Silver")
    assert stored[key(140, 1)] == entry(140, 1, "Bronze")
    assert stored[key(1, 0)] == entry(1, 0) and stored[key(7, 0)] == entry(7, 0)
    assert stale("partners_a.csv") == sorted(key(*k) for k in dropped)
    assert SourceBase.objects.filter(source__name="partners_a.csv").count() == OEMS


def test_bases_are_encoded_ahead_only_while_the_database_copies_most_records_entries():
    values = [dict(zip(COMPARED, entry(oem, 0), strict=True)) for oem in range(4)]
    records = [Record.of({**v, "created_at": None, "updated_at": None}) for v in values]
    assert sourcebase.prepare([("a", records)], added=1) is None
    prepared = sourcebase.prepare([("a", records)], added=2)
    assert prepared is not None
    grouped = prepared.of("a")
    assert grouped is not None and len(grouped.texts) == 4
    assert json.loads(grouped.texts["oem2"]) == {"name 2-0": entry(2, 0)}


AWKWARD = [  # backslashes, quotes, a tab, a line break and non-ASCII text in what is stored
    ['Back\\slash "Quoted"', "Gold", "PTP", "Oem\\Tab", "poc\\", "a\tb\nc \\n"],
    ["Müller ☃", "Silver", "PTP", "Oem\\Tab", "", "“curly” \\\\"],
    ["Plain", "Bronze", "PTP", "Ümlaut Oem", "x", ""],
]


def test_a_base_of_awkward_text_is_stored_as_orjson_encodes_it_and_read_back(input_dir):
    path = write_csv(input_dir / "partners_w.csv", AWKWARD)
    assert run_sync([path], apply=True).applied
    changed = [row[:] for row in AWKWARD]
    changed[0][1], changed[1][5] = "Silver", 'now\\there\t"too"'
    write_csv(path, changed)  # the same keys: each OEM rewritten in place (SQLite) or copied
    assert run_sync([path], apply=True).summary["updated"] == 2
    for stored in SourceBase.objects.filter(source__name="partners_w.csv"):
        said = json.loads(stored.stated)
        assert stored.stated == orjson.dumps(said).decode()
        assert stored.keys == sourcebase.keys_digest(said)
    found = base("partners_w.csv")
    records = {record_key((k[0], k[1])): v for k, v in found.items()}
    assert sorted(map(tuple, found.values())) == sorted(
        tuple(value or None for value in row) for row in changed
    )
    assert sourcebase.load_entries("partners_w.csv", list(records)) == {
        k: tuple(v) for k, v in records.items()
    }


def test_large_bases_and_recent_changes_are_stored_lz4_compressed_on_postgresql(input_dir):
    """PostgreSQL (built with lz4, as the usual packages are) keeps an OEM's base and its recent
    changes, once large enough to be compressed, with lz4: pglz's compression cost more than
    its writes saved (migrations 0012, 0019). Both read back as written."""
    from django.db import connection

    from partners.models import RecentChanges

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's TOAST compression")
    many = [[f"Partner {n:04d}", "Gold", "PTP", "Acme", f"poc {n}", "a note"] for n in range(300)]
    assert run_sync([write_csv(input_dir / "partners_a.csv", many)], apply=True).applied
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_column_compression(stated) FROM partners_sourcebase")
        assert cursor.fetchall() == [("lz4",)]
        cursor.execute("SELECT pg_column_compression(changes) FROM partners_recentchanges")
        assert cursor.fetchall() == [("lz4",)]
    assert len(base("partners_a.csv")) == 300
    assert len(RecentChanges.objects.get(oem_key="acme").changes) == 25
