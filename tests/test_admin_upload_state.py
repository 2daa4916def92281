"""An upload's state between its steps lives on its stored row: the changes CSV and the
confirm read the original name, format, source and overwrite from there, whatever a link or
a form carries."""

from __future__ import annotations

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from partners.models import PartnerTier, SyncRun, Upload
from tests.test_admin_import import (
    CONFIRM_URL,
    FORMAT_INDEX,
    IMPORT_URL,
    UPLOAD,
    base,  # noqa: F401 (a fixture)
    csv_bytes,
    messages_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("base")]


def preview_of(client, name: str, **fields: str):
    file = SimpleUploadedFile(name, csv_bytes(UPLOAD))
    return client.post(IMPORT_URL, {"import_file": file, "format": FORMAT_INDEX["csv"], **fields})


def changes_link(response) -> str:
    link = re.search(r'href="([^"]+)" id="changes-csv"', response.content.decode())
    assert link is not None
    return html.unescape(link.group(1))


def downloaded(client, url: str, **query: str) -> list[str]:
    response = client.get(url, query)
    assert response.status_code == 200, messages_of(response)
    return b"".join(response.streaming_content).decode().splitlines()


def test_the_upload_row_holds_the_original_name_format_source_and_overwrite(admin_client):
    response = preview_of(admin_client, "portal.txt", source="cisco-portal", overwrite="on")

    row = Upload.objects.get(name=response.context["upload_name"])
    assert (row.original_name, row.format, row.source_name, row.overwrite) == (
        "portal.txt",
        "csv",
        "cisco-portal",
        True,
    )


def test_a_portal_txt_uploaded_as_csv_downloads_every_change_from_the_upload_alone(admin_client):
    response = preview_of(admin_client, "portal.txt")
    url = changes_link(response)

    assert url.endswith(f"?upload={response.context['upload_name']}")
    lines = downloaded(admin_client, url)
    assert lines[0] == "category,oem,name,field,old,new,where"
    assert "added,Cisco,Brand New Co,,,Silver,portal.txt: Line 2" in lines
    assert "updated,Cisco,Red River Technology,tier,Gold,Platinum,portal.txt: Line 3" in lines


def test_options_in_the_download_link_are_not_read(admin_client):
    response = preview_of(admin_client, "portal.txt")
    token = response.context["upload_name"]
    url = changes_link(response).split("?")[0]

    lines = downloaded(admin_client, url, upload=token, format="json", name="x.yaml", source="s")

    assert "added,Cisco,Brand New Co,,,Silver,portal.txt: Line 2" in lines


def test_a_portal_txt_is_confirmed_as_csv_under_the_source_its_row_names(admin_client):
    response = preview_of(admin_client, "portal.txt", source="cisco-portal")
    posted = {**response.context["confirm_form"].initial, "source": "forged", "format": "json"}

    done = admin_client.post(CONFIRM_URL, posted)

    assert done.status_code == 302, messages_of(done)
    assert PartnerTier.objects.get(name="Brand New Co").tier == "Silver"
    run = SyncRun.objects.get(source="admin")
    assert [(f["path"], f["source"]) for f in run.files] == [("portal.txt", "cisco-portal")]
    assert not Upload.objects.exists()


def test_the_confirm_form_carries_only_the_upload_and_what_the_preview_showed(admin_client):
    response = preview_of(admin_client, "portal.txt", source="cisco-portal")

    form = re.search(r'<form[^>]*id="confirm-form".*?</form>', response.content.decode(), re.S)
    assert form is not None
    names = set(re.findall(r'name="([^"]+)"', form.group(0)))
    assert names == {
        "csrfmiddlewaretoken",
        "import_file_name",
        "fingerprint",
        "revision",
        "confirm",
    }
