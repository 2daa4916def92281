"""The admin's own CSV and XLSX exports import back unchanged: the formula escape the export
adds (a leading apostrophe) is exactly what the import removes, no more."""

from __future__ import annotations

import pytest
from django.urls import reverse

from partners.loaders import load_bytes
from partners.models import PartnerTier
from partners.sync import run_sync
from tests.helpers import write_json

pytestmark = pytest.mark.django_db

EXPORT_URL = reverse("admin:partners_partnertier_export")
HOSTILE = [
    # name, program, poc, notes
    ("=1+1", "-5", "@a", "'=x written by a person"),
    ("'=x", "+P", '=HYPERLINK("x")', "-"),
    ("''=y", "'plain", "@", "notes with = inside"),
    ("Plain Co", "@@", "'", "'-"),
]


@pytest.fixture
def hostile(input_dir):
    """The values as people typed them (JSON keeps every character; it is never escaped)."""
    records = [
        {"name": name, "tier": "Gold", "program": program, "oem": "Cisco", "poc": poc, "notes": n}
        for name, program, poc, n in HOSTILE
    ]
    assert run_sync([write_json(input_dir / "partners_hostile.json", records)], apply=True).applied
    stored = set(PartnerTier.objects.values_list("name", "program", "poc", "notes"))
    assert stored == set(HOSTILE)


def exported(client, fmt_index: str) -> bytes:
    form = client.get(EXPORT_URL).context["form"]
    fields = {name: "on" for name in form.fields if name.startswith("partnertierresource_")}
    response = client.post(EXPORT_URL, {"format": fmt_index, "resource": "0", **fields})
    assert response.status_code == 200
    return response.content


@pytest.mark.parametrize(("fmt_index", "name"), [("0", "export.csv"), ("2", "export.xlsx")])
def test_it_imports_its_own_export_back_unchanged(admin_client, hostile, fmt_index, name):
    data = exported(admin_client, fmt_index)
    result = run_sync(files=[load_bytes(data, name)])
    assert result.ok, result.errors
    assert result.summary == {
        "added": 0,
        "updated": 0,
        "unchanged": len(HOSTILE),
        "missing": 0,
        "removed": 0,
        "kept": 0,
        "conflicts": 0,
    }


def test_the_export_still_escapes_every_formula_start(admin_client, hostile):
    text = exported(admin_client, "0").decode()
    for escaped in ("'=1+1", "'-5", "'@a", "'+P", "''=x", "'''=y", "'@@", "''-"):
        assert escaped in text
    assert ",'plain," in text and ",'," in text  # an apostrophe before plain text stays as is


def test_it_keeps_an_apostrophe_that_the_export_would_not_add(input_dir):
    path = input_dir / "partners_typed.csv"
    path.write_text("name,tier,program,oem,notes\n'Quoted,Gold,'=P,Cisco,'\n")
    record = run_sync([path]).plan.added[0]
    assert (record.name, record.program, record.notes) == ("'Quoted", "=P", "'")
