"""`revert_sync`: a run undone from its ledger entries, conflicts refused unless a flag says
otherwise, and a revert that can itself be reverted."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection

from partners import db, ledger
from partners.models import LedgerEntry, PartnerTier, SyncRun
from partners.sync import run_sync
from tests.helpers import run, write_csv, write_json

pytestmark = pytest.mark.django_db

BASE = [
    ["Red River", "Gold", "Cisco Partner Program", "Cisco", "Ana Ruiz", ""],
    ["Acme", "Silver", "Partner Network", "AWS", "", "first"],
    ["Globex", "Bronze", "Elevate", "Nutanix", "", ""],
]
CHANGED = [
    ["Red River", "Platinum", "Cisco Partner Program", "Cisco", "Ana Ruiz", ""],
    ["Acme", "Silver", "Partner Network", "AWS", "", "first"],
    ["Initech", "Gold", "Elevate", "Nutanix", "", ""],
]


def table() -> list[tuple]:
    return sorted(
        PartnerTier.objects.values_list(
            "name", "tier", "program", "oem", "poc", "notes", "created_at", "updated_at"
        )
    )


@pytest.fixture
def two_runs(input_dir, store):
    base = write_csv(input_dir / "partners_a.csv", BASE)
    first = run_sync([base], apply=True)
    after_first = table(), store.read_bytes()
    changed = write_csv(input_dir / "partners_b.csv", CHANGED)
    second = run_sync([changed], apply=True, prune_all=True)
    return first, second, after_first


def revert(*args: str) -> tuple[dict, str, int]:
    out, err, code = run("revert_sync", *args, "--format", "json")
    return (json.loads(out) if out.strip() else {}), err, code


def test_a_dry_run_lists_what_the_revert_would_do_and_writes_nothing(two_runs):
    _, second, _ = two_runs
    before = table()
    data, _, code = revert(str(second.run_id))
    assert code == 0 and data["dry_run"] is True and data["applied"] is False
    assert data["reverts"] == second.run_id and data["run_id"] is None
    assert [r["name"] for r in data["removed"]] == ["Initech"]
    assert [r["name"] for r in data["added"]] == ["Globex"]
    assert data["updated"][0]["changes"]["tier"] == {
        "old": "Platinum",
        "new": "Gold",
        "direction": "down",
    }
    assert table() == before


def test_applying_the_revert_restores_the_database_and_the_store_byte_for_byte(two_runs, store):
    _, second, (rows, store_bytes) = two_runs
    data, _, code = revert(str(second.run_id), "--apply")
    assert code == 0 and data["applied"] is True
    assert table() == rows
    assert store.read_bytes() == store_bytes
    revert_run = SyncRun.objects.get(pk=data["run_id"])
    assert revert_run.source == "revert" and revert_run.reverts_id == second.run_id


def test_reverting_the_revert_redoes_the_run(two_runs, store):
    _, second, _ = two_runs
    after_second = table(), store.read_bytes()
    data, _, _ = revert(str(second.run_id), "--apply")
    again, _, code = revert(str(data["run_id"]), "--apply")
    assert code == 0 and again["applied"]
    assert (table(), store.read_bytes()) == after_second


def test_a_record_edited_after_the_run_is_a_conflict_and_nothing_is_written(two_runs):
    _, second, _ = two_runs
    PartnerTier.objects.filter(name="Red River").update(tier="Silver")
    before = table()
    preview, _, code = revert(str(second.run_id))
    assert code == 0
    assert preview["conflicts"] == [
        {
            "name": "Red River",
            "oem": "Cisco",
            "field": "tier",
            "database": "Silver",
            "revert": "Gold",
        }
    ]
    data, err, code = revert(str(second.run_id), "--apply")
    assert code == 1 and "changed since run" in err
    assert table() == before
    refused = SyncRun.objects.filter(reverts_id=second.run_id).get()
    assert refused.applied is False and "changed since run" in refused.errors[0]


def test_a_removed_record_back_again_and_an_updated_one_gone_are_record_conflicts(
    two_runs, input_dir
):
    _, second, _ = two_runs
    again = write_csv(input_dir / "partners_c.csv", [["Globex", "Silver", "Elevate", "Nutanix"]])
    run_sync([again], apply=True)
    PartnerTier.objects.filter(name="Red River").delete()
    preview, _, code = revert(str(second.run_id))
    assert code == 0
    assert preview["conflicts"] == [
        {
            "name": "Globex",
            "oem": "Nutanix",
            "field": None,
            "database": "Silver",
            "revert": "Bronze",
        },
        {"name": "Red River", "oem": "Cisco", "field": None, "database": None, "revert": "Gold"},
    ]


def test_skip_conflicts_reverts_the_rest_and_force_overwrites(two_runs):
    _, second, _ = two_runs
    PartnerTier.objects.filter(name="Red River").update(tier="Silver")
    data, _, code = revert(str(second.run_id), "--apply", "--skip-conflicts")
    assert code == 0 and data["applied"]
    assert PartnerTier.objects.get(name="Red River").tier == "Silver"
    assert not PartnerTier.objects.filter(name="Initech").exists()
    assert PartnerTier.objects.filter(name="Globex").exists()


def test_force_overwrites_a_record_changed_since_the_run(two_runs):
    _, second, _ = two_runs
    PartnerTier.objects.filter(name="Red River").update(tier="Silver")
    _, _, code = revert(str(second.run_id), "--apply", "--force")
    assert code == 0
    assert PartnerTier.objects.get(name="Red River").tier == "Gold"


def test_the_flags_exclude_each_other(two_runs):
    _, second, _ = two_runs
    data, err, code = revert(str(second.run_id), "--skip-conflicts", "--force")
    assert code == 2 and "exclude each other" in data["detail"]


@pytest.mark.parametrize("which", ["unknown", "no-op"])
def test_an_unknown_run_or_one_that_changed_nothing_is_exit_2(two_runs, input_dir, which):
    run_id: int | None = 999_999
    if which == "no-op":
        run_id = run_sync([input_dir / "partners_b.csv"], apply=True).run_id
        assert not LedgerEntry.objects.filter(run_id=run_id).exists()
    data, err, code = revert(str(run_id))
    assert code == 2 and str(run_id) in data["detail"]


def test_the_text_output_says_what_would_be_restored(two_runs):
    _, second, _ = two_runs
    out, _, code = run("revert_sync", str(second.run_id))
    assert code == 0
    assert "Dry run" in out and "Would remove: 1 record" in out
    assert "Nutanix / Initech (Gold)" in out and "tier Platinum → Gold" in out


@pytest.mark.parametrize("persons_text", [False, True])
def test_a_revert_retires_the_notes_its_run_created_unless_a_person_wrote_in_them(
    input_dir, tmp_path, settings, persons_text
):
    settings.VAULT_ROOT = tmp_path / "vault"
    settings.VAULT_ROOT.mkdir()
    settings.PARTNERS_AUTO_EXPORT = True
    notes = settings.VAULT_ROOT / "30 Hubs" / "OEMs"
    run_sync([write_csv(input_dir / "partners_a.csv", BASE)], apply=True)
    before = {p.name: p.read_bytes() for p in notes.iterdir()}
    extra = [["Umbrella", "Gold", "Partner", "Oracle", "", ""]]
    second = run_sync([write_csv(input_dir / "partners_b.csv", [*BASE, *extra])], apply=True)
    assert SyncRun.objects.get(pk=second.run_id or 0).notes_created == ["30 Hubs/OEMs/Oracle.md"]
    if persons_text:
        oracle = notes / "Oracle.md"
        oracle.write_text(oracle.read_text() + "\nMy own notes on Oracle.\n")
    data, _, code = revert(str(second.run_id), "--apply")
    assert code == 0
    after = {p.name: p.read_bytes() for p in notes.iterdir()}
    trash = settings.VAULT_ROOT / ".trash"
    if persons_text:
        assert "Oracle.md" in after and b"My own notes" in after["Oracle.md"]
        assert b'status: "inactive"' in after["Oracle.md"]
    else:
        assert after == before
        assert (trash / "Oracle.md").exists()


def test_added_and_removed_entries_hold_every_field_of_their_record(two_runs):
    first, second, (after_first, _) = two_runs
    # The record as the first run left it: the second run updates it (a second later or not).
    *_, created_at, updated_at = next(row for row in after_first if row[0] == "Red River")
    stamp = {
        name: value.strftime("%Y-%m-%dT%H:%M:%SZ")
        for name, value in (("created_at", created_at), ("updated_at", updated_at))
    }
    added = LedgerEntry.objects.get(run_id=first.run_id, name="Red River")
    assert added.old is None and added.new == {
        "name": "Red River",
        "tier": "Gold",
        "program": "Cisco Partner Program",
        "oem": "Cisco",
        "poc": "Ana Ruiz",
        "notes": None,
        **stamp,
    }
    removed = LedgerEntry.objects.get(run_id=second.run_id, action="removed")
    assert removed.new is None and removed.old is not None
    assert (removed.name, removed.old["name"], removed.old["notes"]) == ("Globex", "Globex", None)
    assert removed.old["poc"] is None and set(removed.old) == set(added.new)


def test_the_rows_a_revert_reads_chunk_by_chunk_are_every_row_by_id(two_runs):
    rows = db.read_rows(chunk=2)
    ids = [row.id for row in rows]
    assert len(ids) == 3 and ids == sorted(PartnerTier.objects.values_list("pk", flat=True))
    assert rows == db.read_rows_by_id(ids)


def test_a_revert_is_refused_as_stale_after_any_row_or_the_catalog_changed(two_runs):
    from partners.programs import Entry, save_entry
    from partners.revert import plan_revert, revert_run
    from partners.sync import StaleState

    first, second = (result.run_id or 0 for result in two_runs[:2])
    fingerprint = plan_revert(second).fingerprint
    assert plan_revert(second).fingerprint == fingerprint  # nothing changed: the same
    assert plan_revert(first).fingerprint != fingerprint  # another run's revert
    # A record the run did not touch, in a column the revert does not compare (its key):
    PartnerTier.objects.filter(pk=max(PartnerTier.objects.values_list("pk", flat=True))).update(
        name_key="renamed"
    )
    changed = plan_revert(second).fingerprint
    assert changed != fingerprint
    save_entry(Entry("Cisco", None, ("Select", "Premier", "Gold")))  # a ladder: directions
    assert plan_revert(second).fingerprint != changed
    with pytest.raises(StaleState):
        revert_run(second, apply=True, expected_fingerprint=changed)


def test_added_entries_hold_their_records_own_times_whether_the_file_gave_them_or_not(input_dir):
    given = {"created_at": "2024-01-02T03:04:05Z", "updated_at": "2025-06-07T08:09:10Z"}
    record = {"tier": "Gold", "program": "P", "oem": "Dell"}
    path = write_json(
        input_dir / "p.json",
        [
            {"name": "A", **record, **given},
            {"name": "B", **record},
            {"name": "C", **record, "created_at": "2020-01-01"},
        ],
    )
    result = run_sync([path], apply=True)
    records = {r["name"]: r for r in result.to_dict()["added"]}
    entries: dict[str, dict] = {
        e.name: e.new or {} for e in LedgerEntry.objects.filter(run_id=result.run_id)
    }
    now = records["B"]["updated_at"]
    assert records["B"]["created_at"] == now and records["C"]["updated_at"] == now
    assert {k: entries["A"][k] for k in given} == given
    assert (entries["B"]["created_at"], entries["B"]["updated_at"]) == (now, now)
    assert (entries["C"]["created_at"], entries["C"]["updated_at"]) == ("2020-01-01T00:00:00Z", now)
    for name, added in records.items():
        assert entries[name] == {k: added[k] for k in entries[name]}, name


def test_removed_entries_hold_their_records_own_times_however_many_share_one(input_dir):
    """Removed records' entries hold each record's own times, whether a record's are the
    usual ones of those removed (given to the database once) or not."""
    given = {"created_at": "2024-01-02T03:04:05Z", "updated_at": "2025-06-07T08:09:10Z"}
    record = {"tier": "Gold", "program": "P", "oem": "Dell"}
    rows = [{"name": "A", **record, **given}, {"name": "C", **record, "created_at": "2020-01-01"}]
    rows += [{"name": f"B{n}", **record} for n in range(3)]
    path = write_json(input_dir / "p.json", rows)
    added = {r["name"]: r for r in run_sync([path], apply=True).to_dict()["added"]}
    write_json(path, [{"name": "Z", **record}])
    pruned = run_sync([path], apply=True, prune_all=True)
    assert pruned.summary["removed"] == 5
    entries = LedgerEntry.objects.filter(run_id=pruned.run_id, action="removed")
    assert {e.name: e.old for e in entries} == added


def ledger_indexes(table: str = LedgerEntry._meta.db_table) -> dict[str, tuple[int, str]]:
    """A table's indexes (the ledger's by default): name -> (oid, definition)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.oid, pg_get_indexdef(c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
            [table],
        )
        return {name: (oid, definition) for name, oid, definition in cursor.fetchall()}


def record_indexes() -> dict[str, tuple[int, str]]:
    return ledger_indexes(PartnerTier._meta.db_table)


def record_constraints() -> set[tuple[str, str]]:
    """The partner-tier table's constraints: (name, definition)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass",
            [PartnerTier._meta.db_table],
        )
        return set(cursor.fetchall())


on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's indexes built after a first copy"
)


@on_postgresql
def test_a_large_first_apply_builds_the_ledgers_indexes_again_as_they_were(
    input_dir, store, monkeypatch
):
    monkeypatch.setattr(db, "BUILT_AFTER", 3)
    before, records_before, constraints = ledger_indexes(), record_indexes(), record_constraints()
    result = run_sync([write_csv(input_dir / "partners_a.csv", BASE)], apply=True)
    after, records_after = ledger_indexes(), record_indexes()
    assert {n: d for n, (_, d) in after.items()} == {n: d for n, (_, d) in before.items()}
    rebuilt = {n for n in after if after[n][0] != before[n][0]}
    assert rebuilt == set(before) and f"{LedgerEntry._meta.db_table}_pkey" in rebuilt
    assert LedgerEntry.objects.filter(run_id=result.run_id, action="added").count() == 3
    # The records' indexes too: their primary key's and the (OEM, name) unique constraint's.
    assert {n: d for n, (_, d) in records_after.items()} == {
        n: d for n, (_, d) in records_before.items()
    }
    assert {n for n in records_after if records_after[n][0] != records_before[n][0]} == set(
        records_before
    )
    assert record_constraints() == constraints and "partner_unique_per_oem" in records_after
    assert PartnerTier.objects.count() == 3
    # A later write copies into the indexes as they are.
    run_sync([write_csv(input_dir / "partners_b.csv", CHANGED)], apply=True)
    assert ledger_indexes() == after and record_indexes() == records_after


@on_postgresql
def test_a_failed_first_apply_leaves_the_ledgers_indexes_as_they_were(
    input_dir, store, monkeypatch
):
    monkeypatch.setattr(db, "BUILT_AFTER", 3)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("after the entries")

    monkeypatch.setattr(ledger, "record_recent", fail)
    before, records_before = ledger_indexes(), record_indexes()
    with pytest.raises(RuntimeError):
        run_sync([write_csv(input_dir / "partners_a.csv", BASE)], apply=True)
    assert ledger_indexes() == before and not LedgerEntry.objects.exists()
    assert record_indexes() == records_before and not PartnerTier.objects.exists()


@on_postgresql
def test_a_first_apply_does_not_wait_for_a_session_reading_the_ledger(
    input_dir, store, monkeypatch
):
    import psycopg

    monkeypatch.setattr(db, "BUILT_AFTER", 3)
    before = ledger_indexes()
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}) as other:
        other.execute(f"SELECT count(*) FROM {LedgerEntry._meta.db_table}")  # its lock held
        with connection.cursor() as cursor:
            # A wait for the reader's lock would end at this timeout (then the apply goes on
            # with the indexes as they are): the test would take it whole, and fail.
            cursor.execute("SET lock_timeout = '20s'")
        started = time.monotonic()
        result = run_sync([write_csv(input_dir / "partners_a.csv", BASE)], apply=True)
        assert time.monotonic() - started < 20  # the reader's lock was not waited for
    assert result.applied and ledger_indexes() == before  # not dropped, not built again
    assert LedgerEntry.objects.filter(run_id=result.run_id, action="added").count() == 3


@on_postgresql
def test_a_first_apply_does_not_wait_for_a_session_reading_the_partner_tiers(
    input_dir, store, monkeypatch
):
    import psycopg

    monkeypatch.setattr(db, "BUILT_AFTER", 3)
    before, ledger_before = record_indexes(), ledger_indexes()
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k != "cursor_factory"}) as other:
        other.execute(f"SELECT count(*) FROM {PartnerTier._meta.db_table}")  # its lock held
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '20s'")  # see the test above
        started = time.monotonic()
        result = run_sync([write_csv(input_dir / "partners_a.csv", BASE)], apply=True)
        assert time.monotonic() - started < 20  # the reader's lock was not waited for
    assert result.applied and record_indexes() == before  # not dropped, not built again
    assert PartnerTier.objects.count() == 3
    assert ledger_indexes() != ledger_before  # the ledger's, read by nobody, were built again
