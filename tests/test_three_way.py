"""The three-way sync: each source changes only what it changed since it last said it, a
field a file lacks is never changed, prune is scoped to a source and guarded."""

from __future__ import annotations

import json

import pytest

from partners.edits import save_record
from partners.models import PartnerTier
from partners.sync import run_sync
from tests.helpers import run, write_csv

pytestmark = pytest.mark.django_db

ROW = ["Red River", "Gold", "PTP", "Cisco", "Ana Ruiz", "first"]


def tier(name: str = "Red River") -> str:
    return PartnerTier.objects.get(name=name).tier


def edit(name: str, **values: str) -> None:
    record = PartnerTier.objects.get(name=name)
    fields = {f: getattr(record, f) for f in ("name", "tier", "program", "oem", "poc", "notes")}
    assert save_record({**fields, **values}, pk=record.pk, user=None).applied


@pytest.fixture
def synced(input_dir):
    path = write_csv(input_dir / "partners_a.csv", [ROW])
    assert run_sync([path], apply=True).applied
    return path


def resync(path, rows, **options):
    write_csv(path, rows)
    return run_sync([path], apply=True, **options)


def test_an_unchanged_file_changes_nothing_and_keeps_an_edit(synced):
    edit("Red River", tier="Platinum")
    result = run_sync([synced], apply=True)
    assert tier() == "Platinum"
    assert [k.fields for k in result.plan.kept] == [["tier"]]
    assert result.summary["updated"] == 0 and result.summary["kept"] == 1


def test_a_field_the_source_changed_is_updated_when_nobody_else_did(synced):
    result = resync(synced, [[*ROW[:1], "Silver", *ROW[2:]]])
    assert tier() == "Silver" and result.summary["updated"] == 1


def test_a_file_that_now_agrees_with_the_database_is_unchanged(synced):
    edit("Red River", tier="Silver")
    result = resync(synced, [[*ROW[:1], "Silver", *ROW[2:]]])
    assert tier() == "Silver" and result.summary["unchanged"] == 1
    assert not result.plan.conflicts


def test_both_changed_is_a_conflict_and_the_database_value_stays(synced):
    edit("Red River", tier="Platinum")
    result = resync(synced, [[*ROW[:1], "Silver", *ROW[2:]]])
    assert tier() == "Platinum"
    assert result.plan.conflicts == [
        {
            "name": "Red River",
            "oem": "Cisco",
            "field": "tier",
            "base": "Gold",
            "database": "Platinum",
            "file": "Silver",
        }
    ]


def test_overwrite_lets_every_field_the_file_states_win(synced):
    edit("Red River", tier="Platinum", poc="Someone")
    result = run_sync([synced], apply=True, overwrite=True)
    record = PartnerTier.objects.get()
    assert (record.tier, record.poc) == ("Gold", "Ana Ruiz") and result.summary["kept"] == 0


def test_a_column_the_file_does_not_have_is_never_changed(synced, input_dir):
    slim = write_csv(
        input_dir / "partners_a.csv", [ROW[:4]], header=["name", "tier", "program", "oem"]
    )
    result = run_sync([slim], apply=True, overwrite=True)
    record = PartnerTier.objects.get()
    assert (record.poc, record.notes) == ("Ana Ruiz", "first")
    assert result.summary["updated"] == 0


def test_a_json_record_without_a_key_states_nothing_about_it(synced, input_dir):
    path = input_dir / "partners_b.json"
    path.write_text(
        json.dumps([{"name": "Red River", "tier": "Gold", "program": "PTP", "oem": "Cisco"}])
    )
    run_sync([path], apply=True)
    assert PartnerTier.objects.get().poc == "Ana Ruiz"


def test_without_a_base_a_persons_edit_is_a_conflict_not_an_overwrite(synced, input_dir):
    edit("Red River", tier="Platinum")
    other = write_csv(input_dir / "partners_other.csv", [[*ROW[:1], "Silver", *ROW[2:]]])
    result = run_sync([other], apply=True)
    assert tier() == "Platinum"
    assert [(c["field"], c["base"]) for c in result.plan.conflicts] == [("tier", None)]


def test_without_a_base_a_syncs_change_is_overwritten_two_way(synced, input_dir):
    other = write_csv(input_dir / "partners_other.csv", [[*ROW[:1], "Silver", *ROW[2:]]])
    run_sync([other], apply=True)
    assert tier() == "Silver"


def test_a_source_name_makes_monthly_files_one_source(input_dir):
    november = write_csv(input_dir / "cisco_2026_11.csv", [ROW])
    run_sync([november], apply=True, source_name="cisco-portal")
    edit("Red River", tier="Platinum")
    december = write_csv(input_dir / "cisco_2026_12.csv", [ROW])
    result = run_sync([december], apply=True, source_name="cisco-portal")
    assert tier() == "Platinum"  # the portal still says Gold, as in November: the edit stays
    assert result.sources[0]["source"] == "cisco-portal"


def test_the_folder_sync_after_an_upload_does_not_undo_the_upload(synced, input_dir):
    from partners.loaders import load_bytes

    upload = load_bytes(b"name,tier,program,oem\nRed River,Platinum,PTP,Cisco\n", "portal.csv")
    run_sync(files=[upload], apply=True)
    assert tier() == "Platinum"
    run_sync(apply=True)  # the data folder still says Gold, as it did before the upload
    assert tier() == "Platinum"


def test_a_record_removed_by_a_person_stays_removed(synced):
    PartnerTier.objects.all().delete()
    result = run_sync([synced], apply=True)
    assert not PartnerTier.objects.exists()
    assert [k.deleted for k in result.plan.kept] == [True]


def test_a_removed_record_of_an_unchanged_source_stays_removed_beside_a_new_one(synced, input_dir):
    """Its source's files are what it last applied while another source of the run states a
    record new to it: only that one is added."""
    blue = ["Blue Lake", "Silver", "PTP", "Dell", "", ""]
    other = write_csv(input_dir / "partners_b.csv", [blue])
    assert run_sync([synced, other], apply=True).applied
    PartnerTier.objects.filter(name="Red River").delete()
    write_csv(other, [blue, ["Green Hill", "Gold", "PTP", "Dell", "", ""]])
    result = run_sync([synced, other], apply=True)
    assert sorted(PartnerTier.objects.values_list("name", flat=True)) == ["Blue Lake", "Green Hill"]
    assert [record.name for record in result.plan.added] == ["Green Hill"]
    assert [(kept.row.name, kept.deleted) for kept in result.plan.kept] == [("Red River", True)]


def test_prune_removes_only_what_this_source_stated_and_dropped(synced, input_dir):
    dell = write_csv(input_dir / "partners_dell.csv", [["Acme", "Gold", "P", "Dell", "", ""]])
    run_sync([dell], apply=True)
    cisco = [["Globex", "Gold", "PTP", "Cisco", "", ""]]
    result = resync(synced, cisco, prune=True)
    names = set(PartnerTier.objects.values_list("name", flat=True))
    assert names == {"Acme", "Globex"}  # Red River dropped by its source; Dell's untouched
    assert [r["name"] for r in result.to_dict()["removed"]] == ["Red River"]
    assert [r["name"] for r in result.to_dict()["missing"]] == ["Acme"]


def test_prune_leaves_a_record_changed_since_as_a_conflict(synced):
    edit("Red River", tier="Platinum")
    result = resync(synced, [["Globex", "Gold", "PTP", "Cisco", "", ""]], prune=True)
    assert PartnerTier.objects.filter(name="Red River").exists()
    assert result.plan.conflicts[0]["field"] == "tier"


def test_prune_all_removes_everything_missing_from_the_input(synced, input_dir):
    dell = write_csv(input_dir / "partners_dell.csv", [["Acme", "Gold", "P", "Dell", "", ""]])
    run_sync([dell], apply=True, prune_all=True)
    assert list(PartnerTier.objects.values_list("name", flat=True)) == ["Acme"]


def test_a_removal_past_the_guard_is_refused_whole_and_says_how_to_allow_it(input_dir):
    rows = [[f"P{i}", "Gold", "P", "Cisco", "", ""] for i in range(40)]
    path = write_csv(input_dir / "partners_a.csv", rows)
    run_sync([path], apply=True)
    write_csv(path, rows[:5])
    out, err, code = run("sync_partners", str(path), "--apply", "--prune", "--format", "json")
    data = json.loads(out)
    assert code == 1 and "Refusing to remove 35 records" in data["detail"]
    assert "--max-remove 35" in data["detail"] and data["applied"] is False
    assert PartnerTier.objects.count() == 40
    out, err, code = run("sync_partners", str(path), "--apply", "--prune", "--max-remove", "35")
    assert code == 0 and PartnerTier.objects.count() == 5


def test_the_command_reports_kept_conflicts_and_sources(synced):
    edit("Red River", poc="Someone")
    out, err, code = run("sync_partners", str(synced), "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["kept"][0]["fields"] == ["poc"] and data["kept"][0]["poc"] == "Someone"
    assert data["summary"]["kept"] == 1 and data["conflicts"] == []
    assert data["sources"][0]["source"] == "partners_a.csv"
    text, _, _ = run("sync_partners", str(synced))
    assert "Kept (changed here" in text and "= Cisco / Red River: poc" in text


def test_the_api_takes_source_overwrite_and_prune_all(synced, input_dir, django_user_model):
    from tests.test_api import token_client, user_with

    client = token_client(user_with(django_user_model, "s", "view_partnertier", "sync_partnertier"))
    edit("Red River", tier="Platinum")
    body = {"dry_run": False, "files": ["partners_a.csv"], "overwrite": True, "source": "feed"}
    response = client.post("/v1/partners/sync", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    assert tier() == "Gold" and response.json()["sources"][0]["source"] == "feed"


def test_the_api_refuses_a_removal_past_the_guard_with_a_400(input_dir, django_user_model):
    from tests.test_api import token_client, user_with

    rows = [[f"P{i}", "Gold", "P", "Cisco", "", ""] for i in range(40)]
    path = write_csv(input_dir / "partners_a.csv", rows)
    run_sync([path], apply=True)
    write_csv(path, rows[:5])
    client = token_client(user_with(django_user_model, "s", "view_partnertier", "sync_partnertier"))
    body: dict[str, object] = {"dry_run": False, "prune": True}
    response = client.post("/v1/partners/sync", json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and "Refusing to remove 35" in response.json()["detail"]
    assert PartnerTier.objects.count() == 40
    body["max_remove"] = 35
    response = client.post("/v1/partners/sync", json.dumps(body), content_type="application/json")
    assert response.status_code == 200 and PartnerTier.objects.count() == 5


def test_an_edit_that_renames_a_partner_moves_its_key_and_leaves_the_other_fields(synced):
    row = PartnerTier.objects.get()
    values = {"name": "Red  River LTD", "tier": "Gold", "program": "PTP", "oem": "Meraki"}
    assert save_record(
        {**values, "poc": "Ana Ruiz", "notes": "first"}, pk=row.pk, user=None
    ).applied
    row.refresh_from_db()
    assert (row.name, row.oem, row.name_key, row.oem_key) == (
        "Red  River LTD",
        "Meraki",
        "red river ltd",
        "meraki",
    )
    assert (row.tier, row.poc, row.notes) == ("Gold", "Ana Ruiz", "first")
    renamed = ["Red River Ltd", "Gold", "PTP", "meraki", "Ana Ruiz", "first"]
    result = run_sync([write_csv(synced, [renamed])], apply=True, prune=True)
    assert result.summary["added"] == 0 and PartnerTier.objects.count() == 1


def test_a_tier_change_leaves_the_fields_it_did_not_change(synced):
    resync(synced, [[*ROW[:1], "Silver", *ROW[2:]]])
    row = PartnerTier.objects.get()
    assert (row.name, row.tier, row.program, row.oem) == ("Red River", "Silver", "PTP", "Cisco")
    assert (row.poc, row.notes, row.name_key, row.oem_key) == (
        "Ana Ruiz",
        "first",
        "red river",
        "cisco",
    )
