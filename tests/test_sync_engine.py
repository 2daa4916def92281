from __future__ import annotations

import json
import os
import shutil

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from partners import db, ledger
from partners.diff import Change, Update
from partners.loaders import load_path
from partners.models import LedgerEntry, PartnerTier, RecentChanges, SyncRun
from partners.records import Record
from partners.store import refresh_store
from partners.sync import StaleState, check_record, run_sync
from tests.helpers import write_csv, write_json

pytestmark = pytest.mark.django_db

BASE = [
    ["Red River Technology", "Gold", "Cisco PTP", "Cisco", "John Doe", "Premier partner"],
    ["Tech Solutions", "Platinum", "Nutanix Elevate", "Nutanix", "Jane Smith", "Top tier"],
    ["Old Partner", "Bronze", "HP Amplify", "HP", "", ""],
]


@pytest.fixture
def synced(input_dir):
    result = run_sync([write_csv(input_dir / "base.csv", BASE)], apply=True)
    assert result.applied
    return result


def keys(records):
    return sorted((r["oem"], r["name"]) for r in records)


def test_a_first_sync_adds_every_record_with_normalized_values(input_dir):
    path = write_csv(input_dir / "p.csv", [["  Acme  ", "gold", "P", "cisco", " ", ""]])
    result = run_sync([path])
    assert result.to_dict()["added"] == [
        {
            "name": "Acme",
            "tier": "Gold",
            "program": "P",
            "oem": "Cisco",
            "poc": None,
            "notes": None,
            "updated_at": result.to_dict()["added"][0]["created_at"],
            "created_at": result.to_dict()["added"][0]["created_at"],
        }
    ]
    assert result.to_dict()["added"][0]["created_at"].endswith("Z")


def test_the_diff_reports_added_updated_unchanged_and_missing(synced, input_dir):
    path = write_csv(
        input_dir / "next.csv",
        [
            [
                "red river technology",
                "Platinum",
                "Cisco PTP",
                "CISCO",
                "John Doe",
                "Premier partner",
            ],
            ["Tech Solutions", "Platinum", "Nutanix Elevate", "Nutanix", "Jane Smith", "Top tier"],
            ["New Co", "Silver", "AWS Partner Network", "aws", "", ""],
        ],
    )
    data = run_sync([path]).to_dict()
    assert keys(data["added"]) == [("AWS", "New Co")]
    assert keys(data["unchanged"]) == [("Nutanix", "Tech Solutions")]
    assert keys(data["missing"]) == [("HP", "Old Partner")]
    assert data["removed"] == []
    [updated] = data["updated"]
    assert updated["changes"] == {
        "name": {"old": "Red River Technology", "new": "red river technology"},
        "tier": {"old": "Gold", "new": "Platinum", "direction": "up"},
    }
    assert data["summary"] == {
        "added": 1,
        "updated": 1,
        "unchanged": 1,
        "missing": 1,
        "removed": 0,
        "kept": 0,
        "conflicts": 0,
    }


def test_every_compared_field_change_is_reported_old_to_new(synced, input_dir):
    path = write_csv(
        input_dir / "next.csv",
        [
            ["Red River Technology", "Silver", "Cisco Premier", "Cisco", "", "New note"],
        ],
    )
    [updated] = run_sync([path]).to_dict()["updated"]
    assert updated["changes"] == {
        "tier": {"old": "Gold", "new": "Silver", "direction": "down"},
        "program": {"old": "Cisco PTP", "new": "Cisco Premier"},
        "poc": {"old": "John Doe", "new": None},
        "notes": {"old": "Premier partner", "new": "New note"},
    }


def test_a_dry_run_writes_nothing(synced, input_dir, store):
    before = store.stat().st_mtime_ns, store.read_bytes()
    rows_before = list(PartnerTier.objects.values())
    runs_before = SyncRun.objects.count()
    path = write_csv(input_dir / "next.csv", [["Brand New", "Gold", "P", "Dell", "", ""]])
    result = run_sync([path], prune_all=True)
    assert result.dry_run and not result.applied
    assert len(result.plan.added) == 1 and len(result.plan.missing) == 3
    assert list(PartnerTier.objects.values()) == rows_before
    assert (store.stat().st_mtime_ns, store.read_bytes()) == before
    assert SyncRun.objects.count() == runs_before


def test_apply_writes_the_database_the_store_and_a_sync_run(synced, store):
    assert PartnerTier.objects.count() == 3
    document = json.loads(store.read_text())
    assert [oem["name"] for oem in document["oems"]] == ["Cisco", "HP", "Nutanix"]
    assert list(document["oems"][0]["partners"][0]) == [
        "name",
        "tier",
        "program",
        "oem",
        "poc",
        "notes",
        "updated_at",
        "created_at",
    ]
    run = SyncRun.objects.get()
    assert run.applied and run.source == "cli"
    assert run.counts["added"] == 3
    assert run.files[0]["sha256"] == synced.sources[0]["sha256"]


def test_an_update_keeps_created_at_and_moves_updated_at(synced, input_dir):
    old = PartnerTier.objects.get(name="Red River Technology")
    old.created_at = old.updated_at = old.created_at.replace(year=2020)
    PartnerTier.objects.filter(pk=old.pk).update(
        created_at=old.created_at, updated_at=old.updated_at
    )
    rows = [list(BASE[0]), *BASE[1:]]
    rows[0][1] = "Platinum"
    run_sync([write_csv(input_dir / "next.csv", rows)], apply=True)
    new = PartnerTier.objects.get(name="Red River Technology")
    assert new.created_at == old.created_at
    assert new.updated_at.year > 2020
    assert PartnerTier.objects.get(name="Tech Solutions").updated_at.year > 2020


def test_timestamps_in_the_input_are_kept_for_added_records(input_dir):
    path = write_json(
        input_dir / "p.json",
        [
            {
                "name": "A",
                "tier": "Gold",
                "program": "P",
                "oem": "Dell",
                "created_at": "2024-01-02T03:04:05+01:00",
                "updated_at": "2025-06-07T08:09:10Z",
            },
            {
                "name": "B",
                "tier": "Gold",
                "program": "P",
                "oem": "Dell",
                "created_at": "2024-01-02T00:00:00Z",
            },
        ],
    )
    added = {r["name"]: r for r in run_sync([path]).to_dict()["added"]}
    assert added["A"]["created_at"] == "2024-01-02T02:04:05Z"
    assert added["A"]["updated_at"] == "2025-06-07T08:09:10Z"
    assert added["B"]["created_at"] == "2024-01-02T00:00:00Z"
    assert added["B"]["updated_at"] > "2025"


def test_a_second_identical_sync_is_all_unchanged_and_leaves_the_store_alone(
    synced, input_dir, store
):
    stamp = store.stat().st_mtime_ns
    result = run_sync([input_dir / "base.csv"], apply=True)
    assert result.summary == {
        "added": 0,
        "updated": 0,
        "unchanged": 3,
        "missing": 0,
        "removed": 0,
        "kept": 0,
        "conflicts": 0,
    }
    assert not result.store_written
    assert store.stat().st_mtime_ns == stamp


def test_prune_removes_missing_records_and_lists_them(synced, input_dir):
    path = write_csv(input_dir / "next.csv", BASE[:2])
    result = run_sync([path], apply=True, prune_all=True)
    assert keys(result.to_dict()["removed"]) == [("HP", "Old Partner")]
    assert result.to_dict()["missing"] == []
    assert not PartnerTier.objects.filter(name="Old Partner").exists()


def test_missing_records_are_kept_without_prune(synced, input_dir):
    run_sync([write_csv(input_dir / "next.csv", BASE[:2])], apply=True)
    assert PartnerTier.objects.filter(name="Old Partner").exists()


def test_an_unmapped_oem_keeps_the_spelling_already_in_the_database(synced, input_dir):
    run_sync([write_csv(input_dir / "a.csv", [["A", "Gold", "P", "Fortinet", "", ""]])], apply=True)
    result = run_sync(
        [
            write_csv(
                input_dir / "b.csv",
                [
                    ["A", "Gold", "P", "FORTINET", "", ""],
                    ["B", "Gold", "P", "fortinet", "", ""],
                ],
            )
        ]
    )
    assert result.summary["unchanged"] == 1
    assert [r.oem for r in result.plan.added] == ["Fortinet"]


def test_an_unmapped_oem_takes_its_first_spelling_in_the_input(input_dir):
    result = run_sync(
        [
            write_csv(
                input_dir / "a.csv",
                [
                    ["A", "Gold", "P", "fortinet", "", ""],
                    ["B", "Gold", "P", "Fortinet", "", ""],
                ],
            )
        ]
    )
    assert [r.oem for r in result.plan.added] == ["fortinet", "fortinet"]


def test_oem_aliases_can_be_extended_by_setting(settings, input_dir):
    settings.PARTNERS_OEM_ALIASES = {"amazon web services": "AWS"}
    result = run_sync(
        [
            write_csv(
                input_dir / "a.csv",
                [
                    ["A", "Gold", "P", "Amazon Web Services", "", ""],
                ],
            )
        ]
    )
    assert result.plan.added[0].oem == "AWS"


def test_file_order_does_not_change_the_result(input_dir):
    a = write_csv(input_dir / "a.csv", BASE[:2])
    b = write_json(
        input_dir / "b.json",
        [
            {"name": "Zeta", "tier": "gold", "program": "P", "oem": "vmware"},
        ],
    )
    one, two = run_sync([a, b]).to_dict(), run_sync([b, a]).to_dict()
    for data in (one, two):
        for record in data["added"]:
            record.pop("created_at"), record.pop("updated_at")
    assert sorted(map(json.dumps, one["added"])) == sorted(map(json.dumps, two["added"]))


def test_store_round_trip_through_an_empty_database_is_byte_identical(synced, store, tmp_path):
    saved = tmp_path / "saved.json"
    shutil.copy(store, saved)
    PartnerTier.objects.all().delete()
    store.unlink()
    result = run_sync([saved], apply=True)
    assert result.summary["added"] == 3
    assert store.read_bytes() == saved.read_bytes()
    again = run_sync([saved], apply=True)
    assert again.summary["unchanged"] == 3
    assert not again.store_written


def test_the_store_rendered_from_the_database_equals_the_one_the_sync_wrote(synced, store):
    written = store.read_bytes()
    assert refresh_store() is False
    assert store.read_bytes() == written


def test_the_sample_data_loads_and_validates(settings):
    folder = settings.BASE_DIR / "data" / "partners"
    result = run_sync([folder])
    assert result.ok, result.errors
    assert result.summary["added"] >= 40
    assert len({r.oem for r in result.plan.added}) >= 10
    assert any(r.poc is None for r in result.plan.added)


def test_the_result_serializes_to_the_seed_shape_plus_extras(synced, input_dir):
    data = run_sync([input_dir / "base.csv"]).to_dict()
    assert list(data) == [
        "dry_run",
        "added",
        "updated",
        "unchanged",
        "applied",
        "missing",
        "removed",
        "summary",
        "errors",
        "warnings",
        "sources",
        "fingerprint",
        "run_id",
        "kept",
        "conflicts",
    ]
    assert data["dry_run"] is True and data["run_id"] is None and data["applied"] is False
    assert data["sources"] == [
        {
            "path": "base.csv",
            "sha256": load_path(input_dir / "base.csv").sha256,
            "source": "base.csv",
            "profile": None,
        }
    ]
    json.dumps(data)


def test_a_store_left_behind_by_a_crash_converges_on_the_next_apply(synced, input_dir, store):
    good = store.read_bytes()
    store.write_text('{"version": 1, "oems": [')  # torn by hand
    (store.parent / ".oems.json.abc123.tmp").write_text("partial")
    result = run_sync([input_dir / "base.csv"], apply=True)
    assert result.store_written
    assert store.read_bytes() == good
    assert os.listdir(store.parent) == ["oems.json"]


def test_a_confirm_of_a_stale_preview_is_refused_and_writes_nothing(synced, input_dir, store):
    path = write_csv(input_dir / "next.csv", [["Tech Solutions", "Gold", "N", "Nutanix", "", ""]])
    preview = run_sync([path])
    PartnerTier.objects.filter(name="Old Partner").update(tier="Silver")
    before = store.read_bytes()

    with pytest.raises(StaleState):
        run_sync([path], apply=True, expected_fingerprint=preview.fingerprint)

    assert PartnerTier.objects.get(name="Tech Solutions").tier == "Platinum"
    assert store.read_bytes() == before
    refused = SyncRun.objects.latest("started_at")
    assert not refused.applied and "changed since the preview" in refused.errors[0]


def test_a_confirm_of_a_current_preview_applies(synced, input_dir):
    path = write_csv(input_dir / "next.csv", [["Tech Solutions", "Gold", "N", "Nutanix", "", ""]])
    preview = run_sync([path])
    assert run_sync([path]).fingerprint == preview.fingerprint

    result = run_sync([path], apply=True, expected_fingerprint=preview.fingerprint)

    assert result.applied and PartnerTier.objects.get(name="Tech Solutions").tier == "Gold"


def test_the_fingerprint_changes_with_the_input_file(synced, input_dir):
    path = write_csv(input_dir / "next.csv", [["Tech Solutions", "Gold", "N", "Nutanix", "", ""]])
    first = run_sync([path]).fingerprint
    write_csv(path, [["Tech Solutions", "Silver", "N", "Nutanix", "", ""]])
    assert run_sync([path]).fingerprint != first


def test_a_single_record_is_checked_by_the_engine_rules(synced):
    cleaned, errors = check_record(
        {"name": " New  Co ", "tier": "gold", "program": "P", "oem": "cisco", "poc": " "}
    )
    assert errors == []
    assert (cleaned["name"], cleaned["tier"], cleaned["oem"], cleaned["poc"]) == (
        "New  Co",
        "Gold",
        "Cisco",
        None,
    )


def test_a_single_record_may_not_repeat_an_existing_name_at_an_oem(synced):
    existing = PartnerTier.objects.get(name="Old Partner")
    _, errors = check_record({"name": "old  PARTNER", "tier": "Gold", "program": "P", "oem": "hp"})
    assert errors == [("name", "'old  PARTNER' already has a tier at 'HP'")]
    _, errors = check_record(
        {"name": "old partner", "tier": "Gold", "program": "P", "oem": "HP"}, existing.pk
    )
    assert errors == []


def test_an_applying_sync_tells_which_sync_run_it_recorded(input_dir):
    write_csv(input_dir / "partners_a.csv", [["A", "Gold", "P", "Cisco", "", ""]])
    assert run_sync().run_id is None  # a dry run records nothing
    result = run_sync(apply=True)
    assert result.run_id == SyncRun.objects.get().pk
    assert result.to_dict()["run_id"] == result.run_id


def test_streamed_rows_make_the_rows_read_by_their_ids(synced):
    chunk = next(db.stream_rows())
    assert [db.row_of(values) for values in chunk] == db.read_rows_by_id([v[0] for v in chunk])
    assert db.row_of(chunk[0]).updated_at.endswith("Z")


def test_streamed_rows_come_by_id_and_leave_the_planner_as_it_was(synced):
    """On PostgreSQL, in a transaction, the table is read in its primary key's order
    (`db._index_order`: never sorted whole before the first row); its settings after the
    read are what they were."""
    ids = [values[0] for part in db.stream_rows(chunk=1) for values in part]
    assert ids == sorted(ids) and len(ids) == PartnerTier.objects.count()
    assert [row.id for row in db.read_rows(chunk=1)] == ids
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW enable_sort")
            assert cursor.fetchone()[0] == "on"


def test_an_oems_recent_changes_are_its_newest_tier_changes_first(input_dir, monkeypatch):
    """Each write puts its tier changes in front of the OEM's stored list, which keeps the
    newest RECENT_KEPT (on PostgreSQL the database joins and trims the lists)."""
    monkeypatch.setattr(ledger, "RECENT_KEPT", 3)
    path = input_dir / "partners_a.csv"
    for tier in ("Gold", "Silver", "Platinum"):
        write_csv(path, [["A", tier, "P", "Cisco", "", ""], ["B", "Gold", "P", "Cisco", "", ""]])
        assert run_sync([path], apply=True).applied
    changes = RecentChanges.objects.get(oem_key="cisco").changes
    assert [(c["name"], c["from"], c["to"], c["action"]) for c in changes] == [
        ("A", "Silver", "Platinum", "updated"),
        ("A", "Gold", "Silver", "updated"),
        ("B", None, "Gold", "added"),
    ]
    assert set(changes[0]) == {"at", "name", "program", "from", "to", "action"}


def test_updates_of_awkward_text_are_written_with_their_ledger_entries_in_order(input_dir):
    """Quotes, backslashes, line breaks, non-ASCII text and nulls come back as written, in the
    rows and in their ledger entries, the entries in the files' order (SQLite writes the
    updates and their entries many rows to a statement: `db.in_values`)."""
    rows = [[f"Name {n}", "Gold", "P", f"Oem{n % 3}", "poc", "notes"] for n in range(7)]
    path = write_csv(input_dir / "awk.csv", rows)
    assert run_sync([path], apply=True).applied
    rows[5][1:6] = ["Silver", "P", "Oem2", "", 'a "quoted" \\ back\\nslash\nline ☃']
    rows[1][1], rows[1][4] = "Bronze", "Müller \\"
    rows[3][5] = "“curly” \t tab"
    write_csv(path, rows)
    result = run_sync([path], apply=True)
    assert result.summary["updated"] == 3
    stored = {p.name: p for p in PartnerTier.objects.all()}
    for name, tier, program, oem, poc, notes in rows:
        row = stored[name]
        assert (row.tier, row.program, row.oem, row.poc, row.notes) == (
            tier,
            program,
            oem,
            poc or None,
            notes or None,
        )
    entries = list(LedgerEntry.objects.filter(run_id=result.run_id).order_by("id"))
    assert [e.name for e in entries] == ["Name 1", "Name 3", "Name 5"]
    assert [e.record_id for e in entries] == [stored[e.name].id for e in entries]
    assert [(e.tier_from, e.tier_to) for e in entries] == [
        ("Gold", "Bronze"),
        (None, None),
        ("Gold", "Silver"),
    ]
    old, new = [e.old or {} for e in entries], [e.new or {} for e in entries]
    assert old[0] == {"tier": "Gold", "poc": "poc", "updated_at": old[0]["updated_at"]}
    assert new[0]["poc"] == "Müller \\"
    assert new[2]["notes"] == 'a "quoted" \\ back\\nslash\nline ☃'
    assert new[2]["poc"] is None and old[2]["poc"] == "poc"
    assert new[1]["notes"] == "“curly” \t tab"


def test_bulk_writes_keep_within_the_parameters_sqlite_allows(input_dir):
    """SQLite may be built to take fewer parameters per statement than ROWS_PER_STATEMENT's
    rows need: the rows, their updates and ledger entries are then written in more statements,
    none lost (the last one short)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's limit of parameters")
    import sqlite3

    connection.ensure_connection()
    raw = connection.connection
    before = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)  # 3 records, 2 ledger entries
    try:
        rows = [[f"Name {n}", "Gold", "P", f"Oem{n % 4}", "", ""] for n in range(11)]
        path = write_csv(input_dir / "many.csv", rows)
        assert run_sync([path], apply=True).summary["added"] == 11
        for n in (0, 4, 5, 9, 10):
            rows[n][1] = "Silver"
        write_csv(path, rows)
        result = run_sync([path], apply=True)
    finally:
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
    assert result.summary["updated"] == 5
    tiers = dict(PartnerTier.objects.values_list("name", "tier"))
    assert tiers == {f"Name {n}": "Silver" if n in (0, 4, 5, 9, 10) else "Gold" for n in range(11)}
    entries = LedgerEntry.objects.filter(run_id=result.run_id)
    assert sorted(entries.values_list("name", "tier_to")) == sorted(
        (f"Name {n}", "Silver") for n in (0, 4, 5, 9, 10)
    )
    assert LedgerEntry.objects.filter(action="added").count() == 11


def test_copied_ledger_entries_hold_valid_json_and_the_ledger_still_checks_the_rest(input_dir):
    """Added and removed records' entries are copied with their JSON made by the database,
    which SQLite is not asked to check again (`db.made_json_unchecked`): awkward text comes
    back whole, and a write outside that block, even after it failed, is still refused
    invalid JSON."""
    notes = ['a "quoted" \\ back\\nslash\nline ☃', "“curly” \t tab", "Müller \\"]
    pocs = ['O"Brien \\', "Zoë “Z”", "Ngũgĩ"]
    rows = [[f"Name {n}", "Gold", "P", "Oem", pocs[n % 3], notes[-n % 3]] for n in range(5)]
    path = write_csv(input_dir / "awk.csv", rows)
    result = run_sync([path], apply=True)
    assert result.applied, [e.to_dict() for e in result.errors]
    write_csv(path, rows[:2])
    assert run_sync([path], apply=True, prune=True).summary["removed"] == 3
    entries = list(LedgerEntry.objects.order_by("id"))
    assert [e.action for e in entries] == ["added"] * 5 + ["removed"] * 3
    for entry in entries:
        values = (entry.new if entry.action == "added" else entry.old) or {}
        n = int(values["name"].split()[1])
        assert (values["poc"], values["notes"]) == (pocs[n % 3], notes[-n % 3])

    def write_invalid() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ledger.TABLE} SET new = %s WHERE id = %s", ["{not json", entries[0].pk]
            )

    with pytest.raises((IntegrityError, DataError)):
        write_invalid()
    with pytest.raises(RuntimeError), transaction.atomic(), db.made_json_unchecked():
        raise RuntimeError("a copy that failed")
    with pytest.raises((IntegrityError, DataError)):
        write_invalid()


def test_tier_changes_rewrite_rows_within_their_own_pages_on_postgresql(input_dir):
    """PostgreSQL leaves a tenth of each page of the table free (migration 0020), so that the
    usual update, a tier change here and there, rewrites its row in the same page without new
    index entries (a HOT update): every one of them here. With full pages none would be."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's HOT updates")

    def updates() -> tuple[int, int]:  # so far in this transaction: all, HOT
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                "WHERE relid = %s::regclass",
                [PartnerTier._meta.db_table],
            )
            return cursor.fetchone()

    rows = [
        [f"Partner {n:05d}", "Gold", "PTP", f"Oem{n % 7}", f"poc {n}", "a note"]
        for n in range(3000)
    ]
    path = write_csv(input_dir / "many.csv", rows)
    assert run_sync([path], apply=True).applied
    for row in rows[::20]:
        row[1] = "Silver"
    write_csv(path, rows)
    before = updates()
    assert run_sync([path], apply=True).summary["updated"] == 150
    after = updates()
    assert (after[0] - before[0], after[1] - before[1]) == (150, 150)


def test_a_bulk_write_that_meets_a_constraint_raises_and_its_transaction_keeps_nothing(input_dir):
    """A bulk insert or update stops at a row its constraints refuse (SQLite: `OR FAIL`,
    keeping the statement's earlier rows), and the write path's transaction rolls all of it
    back: the table is as before."""
    rows = [[f"Name {n}", "Gold", "P", "Oem", "", ""] for n in range(3)]
    assert run_sync([write_csv(input_dir / "a.csv", rows)], apply=True).applied
    before = sorted(PartnerTier.objects.values_list("id", "name", "tier", "name_key"))
    columns = ["name", "tier", "program", "oem", "name_key", "oem_key", "created_at", "updated_at"]
    now = "2026-01-01 00:00:00"
    fresh = ["New", "Gold", "P", "Oem", "new", "oem", now, now]
    taken = ["Name 1", "Gold", "P", "Oem", "name 1", "oem", now, now]  # an existing key
    with pytest.raises(IntegrityError), transaction.atomic():
        db.insert_rows(db.TABLE, columns, [fresh, taken])
    rows_now = {row.name: row for row in db.read_rows()}
    silver = Record.of({**rows_now["Name 0"].to_dict(), "tier": "Silver"})
    clash = Record.of({**rows_now["Name 2"].to_dict(), "name": "Name 1", "tier": "Silver"})
    changes: dict[str, Change] = {"tier": {"old": "Gold", "new": "Silver"}}
    with pytest.raises(IntegrityError), transaction.atomic():
        db.update(
            [
                Update(rows_now["Name 0"], silver, changes),
                Update(rows_now["Name 2"], clash, changes),
            ]
        )
    assert sorted(PartnerTier.objects.values_list("id", "name", "tier", "name_key")) == before
