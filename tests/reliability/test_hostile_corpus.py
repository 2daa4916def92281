"""Every file of the hostile corpus through every door: the command, the admin upload and the
API. No traceback or 500 anywhere; a rejected file is named with its problem and changes
nothing in the database, the store or the vault; an accepted one goes through.

The corpus is the committed files plus the input bombs of `bombs.py`, generated at test time;
a bomb is refused (or read) within BOMB_SECONDS and leaves no stored upload behind."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from partners.models import PartnerTier, Upload
from partners.sync import run_sync
from partners.tokens import create_token
from tests.helpers import run, write_csv
from tests.reliability import bombs

CORPUS = Path(__file__).resolve().parent / "corpus"
FILES = sorted([*(p.name for p in CORPUS.iterdir()), *bombs.files()])
FORMAT_INDEX = {".csv": "0", ".json": "1", ".xlsx": "2", ".yaml": "3"}
REASONS = {
    **bombs.REASONS,
    "reject_xlsx_renamed.csv": "looks like an XLSX workbook, not CSV; choose XLSX",
    "reject_pdf_renamed.csv": "looks like a PDF document, not CSV",
    "reject_xls_renamed.csv": "looks like an Excel 97–2003 workbook (.xls)",
    "reject_json_renamed.csv": "looks like JSON, not CSV; choose JSON",
    "reject_docx_renamed.xlsx": "looks like a Word document, not XLSX",
    "reject_png_renamed.csv": "looks like a PNG image, not CSV",
}
BOMB_SECONDS = 10.0  # each takes well under a second; the margin is for a busy CI machine


def corpus_bytes(name: str) -> bytes:
    return bombs.files()[name] if name in bombs.files() else (CORPUS / name).read_bytes()


class Timed:
    """Wall time of one door's handling of a file; bombs must not take long."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Timed:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self.started
        if self.name in bombs.files():
            assert seconds <= BOMB_SECONDS, f"{self.name} took {seconds:.1f} s"


pytestmark = pytest.mark.django_db


def test_the_corpus_is_large_and_has_both_kinds():
    assert len(FILES) >= 100
    assert sum(f.startswith("reject_") for f in FILES) >= 60
    assert sum(f.startswith("accept_") for f in FILES) >= 20
    assert sum("_bomb_" in f for f in FILES) >= 6


@pytest.fixture
def world(input_dir, tmp_path, settings):
    """A database with records, its store, and a vault that every applied sync exports to."""
    settings.VAULT_ROOT = tmp_path / "vault"
    settings.VAULT_ROOT.mkdir()
    settings.PARTNERS_AUTO_EXPORT = True
    write_csv(input_dir / "partners_base.csv", [["Base Co", "Gold", "P", "Cisco", "", ""]])
    assert run_sync(apply=True).applied
    (input_dir / "partners_base.csv").unlink()
    return settings


def snapshot(settings) -> tuple:
    vault = Path(settings.VAULT_ROOT)
    notes = {p.relative_to(vault): p.read_bytes() for p in vault.rglob("*") if p.is_file()}
    rows = sorted(PartnerTier.objects.values_list("name", "tier", "program", "oem", "poc", "notes"))
    return rows, Path(settings.PARTNERS_STORE_PATH).read_bytes(), notes


def expect(name: str, rejected: bool, shown: str, before: tuple, settings) -> None:
    if name.startswith("reject_"):
        assert rejected, f"{name} was accepted"
        assert snapshot(settings) == before, f"{name} changed something"
        assert "Traceback" not in shown
        assert REASONS.get(name, "") in shown, shown[:300]
        if name in bombs.files():
            assert not Upload.objects.exists(), f"{name} left a stored upload"
    else:
        assert not rejected, f"{name} was refused: {shown[:300]}"


@pytest.mark.parametrize("name", FILES)
def test_the_command(name, world, tmp_path):
    path = tmp_path / name
    path.write_bytes(corpus_bytes(name))
    before = snapshot(world)
    with Timed(name):
        out, err, code = run("sync_partners", str(path), "--apply")
    assert code in (0, 1, 2), (code, err)
    if code:
        assert name in err and len(err.strip()) > len(name) + 10  # names the file and why
    expect(name, code != 0, err, before, world)


@pytest.mark.parametrize("name", FILES)
def test_the_admin_upload(name, world, admin_client):
    before = snapshot(world)
    data = corpus_bytes(name)
    with Timed(name):
        response = admin_client.post(
            "/admin/partners/partnertier/import/",
            {
                "import_file": SimpleUploadedFile(name, data),
                "format": FORMAT_INDEX[Path(name).suffix],
            },
        )
    if response.status_code == 302:
        # Columns that do not all map: the mapping step, naming the file; its suggestions
        # previewed as they are.
        assert "/import/mapping/?upload=" in response["Location"]
        step = admin_client.get(response["Location"])
        assert step.status_code == 200 and name in step.content.decode()
        form = step.context["mapping_form"]
        shown = {key: str(form[key].value() or "") for key in form.fields}
        response = admin_client.post(
            "/admin/partners/partnertier/import/mapping/",
            {**shown, "upload": step.context["upload"].name},
        )
        if response.context.get("mapping_form") and "summary" not in response.context:
            refused = " ".join(response.context["mapping_form"].non_field_errors())
            expect(name, True, refused, before, world)
            return
    assert response.status_code == 200
    context = response.context
    form_errors = " ".join(context["form"].errors.get("import_file", [])) if context["form"] else ""
    engine_errors = [str(e) for e in context.get("errors") or []]
    rejected = "confirm_form" not in context
    if rejected:
        message = form_errors or " ".join(engine_errors)
        assert name in message, message[:300]
    else:
        done = admin_client.post(
            "/admin/partners/partnertier/process_import/", context["confirm_form"].initial
        )
        assert done.status_code == 302
    expect(name, rejected, form_errors, before, world)


@pytest.mark.parametrize("name", FILES)
def test_the_api(name, world, input_dir, admin_user):
    (input_dir / name).write_bytes(corpus_bytes(name))
    before = snapshot(world)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {create_token(admin_user)[1]}")
    with Timed(name):
        response = client.post(
            "/v1/partners/sync",
            data=json.dumps({"dry_run": False, "files": [name]}),
            content_type="application/json",
        )
    assert response.status_code in (200, 400), response.content[:300]
    detail = response.json().get("detail", "")
    if response.status_code == 400:
        assert name in detail, detail[:300]
    expect(name, response.status_code == 400, detail, before, world)
