"""The admin's other pages: editing through the engine's rules, the data-folder sync, exports
with formulas escaped, and the sync history."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from django.urls import reverse

from partners.models import PartnerTier, SyncRun
from partners.sync import run_sync
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:partners_partnertier_add")
CHANGELIST_URL = reverse("admin:partners_partnertier_changelist")
FOLDER_URL = reverse("admin:partners_partnertier_sync_folder")
EXPORT_URL = reverse("admin:partners_partnertier_export")

BASE = [
    ["Red River Technology", "Gold", "Cisco PTP", "Cisco", "John Doe", "Premier partner"],
    ["Old Partner", "Bronze", "HP Amplify", "HP", "", ""],
]


@pytest.fixture
def base(input_dir):
    assert run_sync([write_csv(input_dir / "partners_base.csv", BASE)], apply=True).applied


def form_data(**values: str) -> dict[str, str]:
    return {"name": "", "tier": "", "program": "", "oem": "", "poc": "", "notes": "", **values}


def test_adding_a_record_normalizes_it_as_the_engine_does_and_rewrites_the_store(
    admin_client, base, store, django_capture_on_commit_callbacks
):
    data = form_data(name="  Acme  ", tier="gold", program=" P ", oem="cisco", poc=" ")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD_URL, data)

    assert response.status_code == 302
    acme = PartnerTier.objects.get(name="Acme")
    assert (acme.tier, acme.program, acme.oem, acme.poc) == ("Gold", "P", "Cisco", None)
    stored = json.loads(store.read_text())
    cisco = next(oem for oem in stored["oems"] if oem["name"] == "Cisco")
    assert [p["name"] for p in cisco["partners"]] == ["Acme", "Red River Technology"]


def test_a_duplicate_name_at_an_oem_is_a_form_error(admin_client, base):
    response = admin_client.post(
        ADD_URL, form_data(name="red river  technology", tier="Gold", program="P", oem="CISCO")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["name"]
    assert errors == ["'red river  technology' already has a tier at 'Cisco'"]
    assert PartnerTier.objects.count() == 2


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"name": "Bad\x07Name"}, "name", "control character (U+0007)"),
        ({"tier": "x" * 101}, "tier", "at most 100 characters"),
        ({"program": "   "}, "program", "required"),
    ],
)
def test_a_bad_value_is_a_form_error_not_a_500(admin_client, base, values, field, message):
    data = form_data(name="Acme", tier="Gold", program="P", oem="Cisco")
    response = admin_client.post(ADD_URL, {**data, **values})
    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert not PartnerTier.objects.filter(name__startswith="Acme").exists()


def test_editing_normalizes_keeps_created_at_and_rewrites_the_store(
    admin_client, base, store, django_capture_on_commit_callbacks
):
    record = PartnerTier.objects.get(name="Old Partner")
    change_url = reverse("admin:partners_partnertier_change", args=[record.pk])
    data = form_data(name="Old Partner", tier="silver", program="HP Amplify", oem="hp")

    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(change_url, data).status_code == 302

    record.refresh_from_db()
    assert (record.tier, record.oem) == ("Silver", "HP")
    assert record.created_at <= record.updated_at
    assert '"tier": "Silver"' in store.read_text()


def test_deleting_rewrites_the_store(admin_client, base, store, django_capture_on_commit_callbacks):
    record = PartnerTier.objects.get(name="Old Partner")
    delete_url = reverse("admin:partners_partnertier_delete", args=[record.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(delete_url, {"post": "yes"}).status_code == 302
    assert "Old Partner" not in store.read_text()


def test_the_change_list_lists_filters_and_searches(admin_client, base):
    response = admin_client.get(CHANGELIST_URL, {"q": "premier"})
    assert [r.name for r in response.context["cl"].result_list] == ["Red River Technology"]
    response = admin_client.get(CHANGELIST_URL, {"oem": "HP"})
    assert [r.name for r in response.context["cl"].result_list] == ["Old Partner"]
    page = admin_client.get(CHANGELIST_URL).content.decode()
    assert "Sync from data folder" in page and "Import" in page


def test_the_folder_sync_previews_missing_records_and_prunes_only_when_asked(
    admin_client, base, input_dir
):
    (input_dir / "partners_base.csv").unlink()
    write_csv(input_dir / "partners_next.csv", [BASE[0]])

    preview = admin_client.get(FOLDER_URL)
    assert preview.context["summary"]["missing"] == 1
    assert [row.name for row in preview.context["missing"]] == ["Old Partner"]
    fingerprint = preview.context["confirm_form"].initial["fingerprint"]

    kept = admin_client.post(FOLDER_URL, {"fingerprint": fingerprint})
    assert kept.status_code == 302
    assert PartnerTier.objects.filter(name="Old Partner").exists()

    fingerprint = admin_client.get(FOLDER_URL).context["confirm_form"].initial["fingerprint"]
    pruned = admin_client.post(FOLDER_URL, {"fingerprint": fingerprint, "prune": "on"})
    assert pruned.status_code == 302
    assert not PartnerTier.objects.filter(name="Old Partner").exists()
    run = SyncRun.objects.latest("started_at")
    assert run.source == "admin" and run.counts["removed"] == 1


def test_a_folder_sync_confirm_is_refused_when_a_file_changed_since_the_preview(
    admin_client, base, input_dir
):
    fingerprint = admin_client.get(FOLDER_URL).context["confirm_form"].initial["fingerprint"]
    write_csv(input_dir / "partners_more.csv", [["Late Co", "Gold", "P", "Cisco", "", ""]])

    response = admin_client.post(FOLDER_URL, {"fingerprint": fingerprint}, follow=True)

    assert "changed since the preview" in response.content.decode()
    assert not PartnerTier.objects.filter(name="Late Co").exists()


def test_an_empty_data_folder_is_a_message_not_an_error_page(admin_client, input_dir):
    response = admin_client.get(FOLDER_URL, follow=True)
    assert response.status_code == 200
    assert "No input files" in response.content.decode()


@pytest.fixture
def hostile(base):
    PartnerTier.objects.create(
        name="=cmd|' /C calc'!A0", tier="Gold", program="+SUM(1)", oem="Cisco", poc="@me"
    )


def export(client, fmt_index: str):
    # The export form asks which fields; every field of the resource is ticked.
    form = client.get(EXPORT_URL).context["form"]
    fields = {name: "on" for name in form.fields if name.startswith("partnertierresource_")}
    return client.post(EXPORT_URL, {"format": fmt_index, "resource": "0", **fields})


def test_csv_exports_escape_spreadsheet_formulas(admin_client, hostile):
    response = export(admin_client, "0")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    row = next(r for r in rows if r["program"] == "'+SUM(1)")
    assert row["name"] == "'=cmd|' /C calc'!A0" and row["poc"] == "'@me"


def test_xlsx_exports_escape_spreadsheet_formulas(admin_client, hostile):
    response = export(admin_client, "2")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = [cell.value for row in sheet.iter_rows() for cell in row]
    assert "'=cmd|' /C calc'!A0" in values and "=cmd|' /C calc'!A0" not in values


def test_json_exports_keep_values_as_they_are(admin_client, hostile):
    response = export(admin_client, "1")
    assert "=cmd|' /C calc'!A0" in [r["name"] for r in json.loads(response.content)]


def test_the_sync_history_shows_who_what_and_the_changes(admin_client, admin_user, base):
    PartnerTier.objects.all().delete()
    run = SyncRun.objects.latest("started_at")
    listing = admin_client.get(reverse("admin:partners_syncrun_changelist"))
    assert listing.status_code == 200
    detail = admin_client.get(reverse("admin:partners_syncrun_change", args=[run.pk]))
    page = detail.content.decode()
    assert "Red River Technology" in page and "partners_base.csv" in page
    assert "ledger-added" in page
    assert run.files[0]["sha256"] in page
    assert admin_client.post(reverse("admin:partners_syncrun_delete", args=[run.pk])).status_code
    assert SyncRun.objects.filter(pk=run.pk).exists()


def test_start_up_checks_that_xlsx_uploads_are_parsed_with_defusedxml(monkeypatch):
    import openpyxl.xml

    from partners.apps import check_xlsx_parser_is_defused

    assert check_xlsx_parser_is_defused() == []
    monkeypatch.setattr(openpyxl.xml, "DEFUSEDXML", False)
    [error] = check_xlsx_parser_is_defused()
    assert error.id == "partners.E001"


OBSIDIAN_URL = reverse("admin:partners_partnertier_export_obsidian")


def test_the_obsidian_button_exports_the_vault(admin_client, base, tmp_path, settings):
    settings.VAULT_ROOT = tmp_path
    response = admin_client.post(OBSIDIAN_URL, follow=True)
    folder = tmp_path / "30 Hubs" / "OEMs"
    assert f"Exported 2 OEMs to Obsidian in {folder}: 3 notes written" in response.content.decode()
    assert (tmp_path / "30 Hubs" / "OEMs" / "Cisco.md").exists()
    assert "Export to Obsidian" in admin_client.get(CHANGELIST_URL).content.decode()


def export_selected(client, *names: str):
    pks = PartnerTier.objects.filter(name__in=names).values_list("pk", flat=True)
    return client.post(
        CHANGELIST_URL,
        {"action": "export_to_obsidian", "_selected_action": list(pks)},
        follow=True,
    )


def test_the_obsidian_action_exports_only_the_selected_rows_oems(
    admin_client, base, tmp_path, settings
):
    settings.VAULT_ROOT = tmp_path
    folder = tmp_path / "30 Hubs" / "OEMs"

    response = export_selected(admin_client, "Old Partner")

    assert f"Exported 1 OEM to Obsidian in {folder}: 2 notes written" in (response.content.decode())
    assert (folder / "HP.md").exists() and not (folder / "Cisco.md").exists()
    assert "[[Cisco]]" in (folder / "OEM Index.md").read_text()  # the index lists every OEM


def test_exporting_selected_oems_leaves_every_other_note_as_it_was(
    admin_client, base, tmp_path, settings
):
    settings.VAULT_ROOT = tmp_path
    folder = tmp_path / "30 Hubs" / "OEMs"
    admin_client.post(OBSIDIAN_URL)
    PartnerTier.objects.filter(oem="Cisco").delete()
    PartnerTier.objects.filter(oem="HP").update(tier="Gold")
    cisco = (folder / "Cisco.md").read_bytes()

    export_selected(admin_client, "Old Partner")

    assert (folder / "Cisco.md").read_bytes() == cisco  # not marked inactive by this export
    assert "Gold" in (folder / "HP.md").read_text()


def test_the_obsidian_button_says_when_no_vault_is_set(admin_client, base, settings):
    settings.VAULT_ROOT = None
    response = admin_client.post(OBSIDIAN_URL, follow=True)
    assert response.status_code == 200
    assert "VAULT_ROOT environment variable not set" in response.content.decode()


def test_exporting_to_obsidian_needs_the_sync_permission(base, tmp_path, settings, client):
    from django.contrib.auth.models import Permission, User

    settings.VAULT_ROOT = tmp_path
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_partnertier"))
    client.force_login(viewer)
    assert client.post(OBSIDIAN_URL).status_code == 403
    page = client.get(CHANGELIST_URL).content.decode()
    assert "Export to Obsidian" not in page
    assert not (tmp_path / "30 Hubs").exists()


def test_the_folder_sync_refuses_a_symlinked_input_and_applies_nothing(
    admin_client, base, input_dir, tmp_path
):
    outside = write_csv(tmp_path / "passwd.csv", [["Leaked", "Gold", "P", "Cisco", "", ""]])
    (input_dir / "partners_x.csv").symlink_to(outside)

    response = admin_client.get(FOLDER_URL, follow=True)

    page = response.content.decode()
    assert "Refusing partners_x.csv: it is a symbolic link" in page
    assert str(tmp_path) not in page
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None
    assert not PartnerTier.objects.filter(name="Leaked").exists()


def test_the_folder_preview_offers_no_changes_download_when_nothing_changes(admin_client, base):
    page = admin_client.get(FOLDER_URL).content.decode()
    assert "Download every change as CSV" not in page


def test_the_export_form_labels_oem_and_poc_as_people_write_them(admin_client, base):
    form = admin_client.get(EXPORT_URL).context["form"]
    labels = [form.fields[name].label for name in form.fields if name.startswith("partnertier")]
    assert labels == [
        "Name",
        "Tier",
        "Program",
        "OEM",
        "POC",
        "Notes",
        "Updated at",
        "Created at",
    ]


def test_the_folder_sync_names_its_folder_files_and_sources_and_what_prune_would_remove(
    admin_client, base, input_dir
):
    (input_dir / "partners_base.csv").unlink()
    write_csv(input_dir / "partners_next.csv", [BASE[0]])
    page = admin_client.get(FOLDER_URL)
    html = page.content.decode()
    assert "From the data folder" in html and "partners_next.csv" in html
    assert "(source <strong>partners_next.csv</strong>)" in html
    assert "Also remove the 1 missing records" in html
