"""The admin upload's mapping step: a vendor's file whose columns do not all map is mapped
column by column (suggested from the synonyms), given constants for what it lacks, previewed
and confirmed; saved as a profile, next month's file goes straight to its preview."""

from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from partners.mapping import MAX_COLUMNS
from partners.models import ImportProfile, PartnerTier, SyncRun, Upload
from tests.test_admin_import import CONFIRM_URL, FORMAT_INDEX, IMPORT_URL, messages_of

pytestmark = pytest.mark.django_db

MAPPING_URL = reverse("admin:partners_partnertier_import_mapping")
PORTAL_HEADER = ["Partner Name", "Partner Level", "Program", "Primary Contact", "Country"]
NOVEMBER = [
    ["Red River Technology", "Gold", "Cisco PTP", "John Doe", "US"],
    ["Brand New Co", "Silver", "Cisco PTP", "", "DE"],
    ["Tech Solutions", "Premier", "Cisco PTP", "Jane Smith", "FR"],
    ["Fourth Partner", "Select", "Cisco PTP", "", "UK"],
]
DECEMBER = [
    ["Red River Technology", "Premier", "Cisco PTP", "John Doe", "US"],
    ["Brand New Co", "Silver", "Cisco PTP", "", "DE"],
]
# The file's columns as the step lists them, and the field each one is suggested as.
SUGGESTED = {
    "Partner Name": "name",
    "Partner Level": "tier",
    "Program": "program",
    "Primary Contact": "poc",
    "Country": "ignore",
}


def portal_csv(rows: list[list[str]], header: list[str] = PORTAL_HEADER) -> bytes:
    return "\n".join(",".join(row) for row in [header, *rows]).encode() + b"\n"


def upload(client: Client, data: bytes, name: str, fmt: str = "csv", **fields: str) -> Any:
    file = SimpleUploadedFile(name, data)
    return client.post(IMPORT_URL, {"import_file": file, "format": FORMAT_INDEX[fmt], **fields})


def token_of(response) -> str:
    assert response.status_code == 302, messages_of(response)
    assert response["Location"].startswith(MAPPING_URL + "?upload=")
    return response["Location"].split("=", 1)[1]


def mapping_post(step, **changes: str) -> dict[str, str]:
    """What the mapping page posts: its form as shown, with `changes`."""
    form = step.context["mapping_form"]
    data = {name: str(form[name].value() or "") for name in form.fields}
    return {**data, "upload": step.context["upload"].name, **changes}


def column_key(step, label: str) -> str:
    return next(f.name for f, _ in step.context["mapping_form"].columns if f.label == label)


def test_a_file_without_an_oem_column_is_mapped_first_with_suggestions_and_first_values(
    admin_client,
):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))

    step = admin_client.get(MAPPING_URL, {"upload": token})

    assert step.status_code == 200
    form = step.context["mapping_form"]
    shown = {field.label: (field.value(), values) for field, values in form.columns}
    assert {label: value for label, (value, _) in shown.items()} == SUGGESTED
    assert shown["Partner Name"][1] == ["Red River Technology", "Brand New Co", "Tech Solutions"]
    assert shown["Country"][1] == ["US", "DE", "FR"]
    assert [field.name for field in form.constants] == ["constant_oem", "constant_notes"]
    assert Upload.objects.get(name=token).mapping is None
    assert not PartnerTier.objects.exists()


def test_a_mapping_with_a_constant_is_previewed_then_confirmed(admin_client):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})

    preview = admin_client.post(MAPPING_URL, mapping_post(step, constant_oem="Cisco"))

    assert preview.status_code == 200
    assert preview.context["summary"]["added"] == 4
    assert 'id="profile-used"' in preview.content.decode()
    assert not PartnerTier.objects.exists()
    done = admin_client.post(CONFIRM_URL, preview.context["confirm_form"].initial)
    assert done.status_code == 302, messages_of(done)
    assert sorted(PartnerTier.objects.values_list("name", "oem", "tier")) == [
        ("Brand New Co", "Cisco", "Silver"),
        ("Fourth Partner", "Cisco", "Select"),
        ("Red River Technology", "Cisco", "Gold"),
        ("Tech Solutions", "Cisco", "Premier"),
    ]
    assert PartnerTier.objects.get(name="Red River Technology").poc == "John Doe"


def test_a_mapping_leaving_the_oem_unmapped_is_refused_naming_the_field(admin_client):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})

    refused = admin_client.post(MAPPING_URL, mapping_post(step))

    assert refused.status_code == 200
    errors = list(refused.context["mapping_form"].non_field_errors())
    assert errors == ["required field 'oem' is neither mapped from a column nor a constant"]
    assert "confirm_form" not in refused.context
    assert Upload.objects.get(name=token).mapping is None


def test_a_field_mapped_from_two_columns_is_refused_naming_both(admin_client):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})
    data = mapping_post(step, constant_oem="Cisco", **{column_key(step, "Country"): "name"})

    refused = admin_client.post(MAPPING_URL, data)

    errors = list(refused.context["mapping_form"].non_field_errors())
    assert errors == ["field 'name' is mapped from 'Partner Name' and 'Country'"]


def test_saved_as_a_profile_next_months_file_goes_straight_to_its_preview(admin_client):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})
    saved = admin_client.post(
        MAPPING_URL,
        mapping_post(step, constant_oem="Cisco", profile_name="cisco-portal", save="1"),
    )
    assert saved.status_code == 200 and saved.context["summary"]["added"] == 4
    profile = ImportProfile.objects.get()
    assert (profile.name, profile.pattern) == ("cisco-portal", "")
    assert profile.columns == [[label, field] for label, field in SUGGESTED.items()]
    assert profile.constants == [["oem", "Cisco"]]
    admin_client.post(CONFIRM_URL, saved.context["confirm_form"].initial)

    december = upload(admin_client, portal_csv(DECEMBER), "cisco_2026_12.csv")

    assert december.status_code == 200
    assert december.context["summary"]["updated"] == 1
    assert december.context["summary"]["unchanged"] == 1
    text = december.content.decode()
    assert "Read with the profile <strong>cisco-portal</strong>" in text
    assert 'id="mapping-form"' not in text
    done = admin_client.post(CONFIRM_URL, december.context["confirm_form"].initial)
    assert done.status_code == 302, messages_of(done)
    assert PartnerTier.objects.get(name="Red River Technology").tier == "Premier"
    run = SyncRun.objects.filter(source="admin").latest("id")
    assert [f["source"] for f in run.files] == ["cisco-portal"]


def test_a_file_named_as_a_profiles_pattern_uses_it_whatever_other_columns_it_has(
    admin_client,
):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})
    admin_client.post(
        MAPPING_URL,
        mapping_post(
            step, constant_oem="Cisco", profile_name="cisco", pattern="cisco_*.csv", save="1"
        ),
    )
    header = [*PORTAL_HEADER, "Region"]
    rows = [[*row, "EMEA"] for row in DECEMBER]

    december = upload(admin_client, portal_csv(rows, header), "cisco_2026_12.csv")

    assert december.status_code == 200, messages_of(december)
    assert "Read with the profile <strong>cisco</strong>" in december.content.decode()
    assert december.context["summary"]["added"] == 2


def test_the_changes_download_and_the_confirm_read_the_mapping_from_the_upload(admin_client):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})
    preview = admin_client.post(MAPPING_URL, mapping_post(step, constant_oem="Cisco"))
    link = re.search(r'href="([^"]+)" id="changes-csv"', preview.content.decode())
    assert link is not None

    download = admin_client.get(link.group(1).replace("&amp;", "&"))

    lines = b"".join(download.streaming_content).decode().splitlines()
    assert "added,Cisco,Red River Technology,,,Gold,cisco_2026_11.csv: Line 2" in lines


def test_a_confirm_of_a_preview_mapped_again_since_is_refused(admin_client):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})
    first = admin_client.post(MAPPING_URL, mapping_post(step, constant_oem="Cisco"))
    admin_client.post(MAPPING_URL, mapping_post(step, constant_oem="Dell"))

    stale = admin_client.post(CONFIRM_URL, first.context["confirm_form"].initial)

    assert stale.status_code == 302
    assert any("mapped again" in m for m in messages_of(stale))
    assert not PartnerTier.objects.exists()


def test_showing_the_mapping_step_writes_nothing(admin_client):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})

    admin_client.get(MAPPING_URL, mapping_post(step, constant_oem="Cisco", save="1"))

    assert Upload.objects.get(name=token).mapping is None
    assert not ImportProfile.objects.exists()


def test_a_profile_name_already_taken_is_refused(admin_client):
    ImportProfile.objects.create(name="cisco-portal", constants=[["oem", "Cisco"]])
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = admin_client.get(MAPPING_URL, {"upload": token})

    refused = admin_client.post(
        MAPPING_URL,
        mapping_post(step, constant_oem="Cisco", profile_name="cisco-portal", save="1"),
    )

    errors = refused.context["mapping_form"].errors["profile_name"]
    assert errors == [
        "A profile named 'cisco-portal' exists; choose another name, or edit it "
        "under Import profiles."
    ]
    assert ImportProfile.objects.get().columns == []


def user_with(django_user_model, *codenames: str) -> Client:
    user = django_user_model.objects.create_user("pm", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_saving_a_profile_needs_the_profile_add_permission(django_user_model):
    client = user_with(django_user_model, "view_partnertier", "sync_partnertier")
    token = token_of(upload(client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    step = client.get(MAPPING_URL, {"upload": token})
    assert 'id="mapping-save"' not in step.content.decode()

    refused = client.post(
        MAPPING_URL, mapping_post(step, constant_oem="Cisco", profile_name="x", save="1")
    )
    previewed = client.post(MAPPING_URL, mapping_post(step, constant_oem="Cisco"))

    assert refused.status_code == 403 and not ImportProfile.objects.exists()
    assert previewed.status_code == 200 and previewed.context["summary"]["added"] == 4


def test_the_mapping_step_needs_the_import_permission(admin_client, django_user_model):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    viewer = user_with(django_user_model, "view_partnertier", "add_importprofile")

    assert viewer.get(MAPPING_URL, {"upload": token}).status_code == 403
    assert viewer.post(MAPPING_URL, {"upload": token, "save": "1"}).status_code == 403


def test_another_users_upload_cannot_be_mapped(admin_client, django_user_model):
    token = token_of(upload(admin_client, portal_csv(NOVEMBER), "cisco_2026_11.csv"))
    other = user_with(django_user_model, "view_partnertier", "sync_partnertier")

    response = other.get(MAPPING_URL, {"upload": token})

    assert response.status_code == 302
    assert any("expired or was already confirmed" in m for m in messages_of(response))


def workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_sheet_chosen_on_upload_is_the_one_mapped_and_previewed(admin_client):
    data = workbook(
        {"Summary": [["Report"], ["4 partners"]], "Partners": [PORTAL_HEADER, *NOVEMBER]}
    )
    token = token_of(upload(admin_client, data, "cisco.xlsx", fmt="xlsx", sheet="Partners"))
    step = admin_client.get(MAPPING_URL, {"upload": token})
    assert [field.label for field, _ in step.context["mapping_form"].columns] == PORTAL_HEADER

    preview = admin_client.post(MAPPING_URL, mapping_post(step, constant_oem="Cisco"))

    assert preview.context["summary"]["added"] == 4
    assert Upload.objects.get(name=token).sheet == "Partners"


def test_a_file_wider_than_the_mapping_step_is_previewed_as_it_is(admin_client):
    header = ["name", "tier", "program", "oem", *(f"extra {i}" for i in range(MAX_COLUMNS))]
    row = ["Acme", "Gold", "P", "Cisco", *("x" for _ in range(MAX_COLUMNS))]

    response = upload(admin_client, portal_csv([row], header), "wide.csv")

    assert response.status_code == 200
    assert response.context["summary"]["added"] == 1
    assert any("ignored unknown columns 'extra 0'" in w for w in response.context["warnings"])
