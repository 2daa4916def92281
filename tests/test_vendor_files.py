"""Files as vendor portals and spreadsheets save them: delimiters, title rows, sheets, merged
cells, formulas, synonyms, and import profiles through every door."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from partners.loaders import LoadError, Reading, load_bytes, read_columns
from partners.models import ImportProfile, PartnerTier
from partners.profiles import Profile, save
from tests.helpers import run

pytestmark = pytest.mark.django_db

FIELDS_LIST = "name, tier, program, oem, poc, notes, updated_at, created_at"
CISCO = Profile(
    name="cisco-portal",
    pattern="cisco_*.xlsx",
    columns=(
        ("Partner Name", "name"),
        ("Partner Level", "tier"),
        ("Primary Contact", "poc"),
        ("Country", "ignore"),
    ),
    constants=(("oem", "Cisco"), ("program", "Cisco Partner Program")),
    values=(("tier", (("Gold Certified", "Gold"), ("Premier Integrator", "Premier"))),),
)
PORTAL_ROWS: list[list[Any]] = [
    ["Cisco Partner Report — exported 2026-11-30"],
    [],
    ["Partner Name", "Partner Level", "Primary Contact", "Country"],
    ["Trace3", "Gold Certified", "Hannah Lee", "United States"],
    ["Kyndryl", "Premier Integrator", None, "United States"],
]


def rows(loaded) -> list[tuple[int, dict[str, Any]]]:
    """(line, {field: value}) of each row, the fields its file states."""
    names = loaded.header
    return [
        (line, {name: loaded.columns[name][i] for name in names})
        for i, line in enumerate(loaded.lines)
    ]


def workbook(sheets: dict[str, list[list[Any]]], active: int = 0, merge: str = "") -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, content in sheets.items():
        sheet = book.create_sheet(title)
        for row in content:
            sheet.append(row)
    if merge:
        for cells in merge.split():
            book.worksheets[0].merge_cells(cells)
    book.active = active
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def with_cached_values(data: bytes, values: dict[str, str]) -> bytes:
    """The workbook with a cached value written for some formula cells, as Excel and
    LibreOffice save them (openpyxl writes formulas with an empty `<v />`)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                for ref, value in values.items():
                    content = re.sub(
                        rf'(<c r="{ref}")([^>]*>)(<f>[^<]*</f>)<v ?/>'.encode(),
                        rf'\1 t="str"\2\3<v>{value}</v>'.encode(),
                        content,
                    )
            target.writestr(info, content)
    return out.getvalue()


# CSV as Excel, LibreOffice and Google Sheets save it.

EXPECTED = (2, {"name": "Café Ltd", "tier": "Gold", "program": "P", "oem": "Cisco"})


@pytest.mark.parametrize(
    ("data", "warning"),
    [
        (b"name,tier,program,oem\r\nCaf\xc3\xa9 Ltd,Gold,P,Cisco\r\n", None),  # Google Sheets
        (
            b"\xef\xbb\xbfname;tier;program;oem\r\nCaf\xc3\xa9 Ltd;Gold;P;Cisco\r\n",  # Excel, EU
            "x.csv: read as semicolon-separated: its columns are separated by ';', not commas",
        ),
        (
            "name\ttier\tprogram\toem\r\nCafé Ltd\tGold\tP\tCisco\r\n".encode("utf-16"),
            "x.csv: read as tab-separated: its columns are separated by '\\t', not commas",
        ),  # Excel's "Unicode text"
        (
            b"name|tier|program|oem\nCaf\xc3\xa9 Ltd|Gold|P|Cisco\n",
            "x.csv: read as pipe-separated: its columns are separated by '|', not commas",
        ),
        (  # LibreOffice, Windows-1252, semicolons
            b"name;tier;program;oem\nCaf\xe9 Ltd;Gold;P;Cisco\n",
            "x.csv: read as semicolon-separated: its columns are separated by ';', not commas",
        ),
    ],
    ids=["comma-crlf", "semicolon-bom-crlf", "utf16-tab", "pipe", "cp1252-semicolon"],
)
def test_a_csv_is_read_whatever_its_delimiter_and_a_non_comma_one_is_named(data, warning):
    loaded = load_bytes(data, "x.csv")
    assert rows(loaded) == [EXPECTED]
    delimiter_warnings = [w for w in loaded.warnings if "separated" in w]
    assert delimiter_warnings == ([warning] if warning else [])


def test_a_semicolon_csv_with_commas_in_its_values_is_still_read_as_semicolons():
    data = b"name;tier;program;oem;notes\nA, B and C;Gold;P;Cisco;one, two\n"
    assert rows(load_bytes(data, "x.csv"))[0][1]["notes"] == "one, two"


def test_a_title_row_is_skipped_with_a_warning_and_lines_stay_the_files_own():
    data = (
        b"Cisco Partner Report \xe2\x80\x94 exported 2026-11-30,,,\n"
        b",,,\n"
        b"name,tier,program,oem\n"
        b"A,Gold,P,Cisco\n"
        b"B,,P,Cisco\n"
    )
    loaded = load_bytes(data, "report.csv")
    assert loaded.warnings == [
        "report.csv: Line 1: above the header, skipped: "
        "'Cisco Partner Report — exported 2026-11-30'"
    ]
    assert loaded.lines == [4, 5]


def test_validation_errors_name_the_files_own_line_below_a_title(tmp_path):
    path = tmp_path / "report.csv"
    path.write_bytes(b"Partner report\n\nname,tier,program,oem\nA,Gold,P,Cisco\nB,,P,Cisco\n")
    out, err, code = run("sync_partners", str(path))
    assert code == 1
    assert "report.csv: Line 5: missing tier" in err


def test_a_header_is_not_looked_for_past_the_first_20_rows():
    data = b"".join(f"note {n}\n".encode() for n in range(20)) + b"name,tier,program,oem\n"
    loaded = load_bytes(data + b"A,Gold,P,Cisco\n", "x.csv")
    assert loaded.lines[0] == 2  # no header found: the first row is the header, as before
    assert loaded.header == ()


# Headers: case, spaces and punctuation ignored; synonyms named.


def test_synonyms_are_read_and_each_is_named_in_a_warning():
    data = (
        b"Company,Partner Level,Partner Program,Manufacturer,Partner Manager,Comments,Region\n"
        b"A,Gold,P,Cisco,Ann,hello,West\n"
    )
    loaded = load_bytes(data, "portal.csv")
    assert rows(loaded) == [
        (
            2,
            {
                "name": "A",
                "tier": "Gold",
                "program": "P",
                "oem": "Cisco",
                "poc": "Ann",
                "notes": "hello",
            },
        )
    ]
    assert loaded.warnings == [
        "portal.csv: read 'Company' as name",
        "portal.csv: read 'Partner Level' as tier",
        "portal.csv: read 'Partner Program' as program",
        "portal.csv: read 'Manufacturer' as oem",
        "portal.csv: read 'Partner Manager' as poc",
        "portal.csv: read 'Comments' as notes",
        f"portal.csv: ignored unknown columns 'Region'; allowed columns are {FIELDS_LIST}",
    ]


def test_headers_ignore_punctuation_and_a_fields_own_name_wins_over_a_synonym():
    data = b"NAME.,Tier-,Program_,O.E.M.,Company\nA,Gold,P,Cisco,Other\n"
    loaded = load_bytes(data, "x.csv")
    assert rows(loaded)[0][1] == {"name": "A", "tier": "Gold", "program": "P", "oem": "Cisco"}
    assert loaded.warnings == [
        f"x.csv: ignored unknown columns 'Company'; allowed columns are {FIELDS_LIST}"
    ]


# XLSX as people save them.


def test_an_xlsx_title_row_and_merged_title_are_skipped_and_rows_keep_their_numbers():
    data = workbook({"Report": PORTAL_ROWS}, merge="A1:D1")
    loaded = load_bytes(data, "portal.xlsx")
    assert loaded.lines == [4, 5]
    assert loaded.warnings[0] == (
        "portal.xlsx: Row 1: above the header, skipped: "
        "'Cisco Partner Report — exported 2026-11-30'"
    )
    assert "portal.xlsx: read 'Partner Name' as name" in loaded.warnings


def test_merged_cells_count_in_every_cell_they_cover():
    data = workbook(
        {
            "Data": [
                ["name", "tier", "program", "oem"],
                ["A", "Gold", "Partner Program", "Cisco"],
                ["B", "Silver", None, None],
                ["C", "Gold", None, None],
                ["D", "Gold", "Other", "Dell"],
            ]
        },
        merge="C2:C4 D2:D4",
    )
    loaded = load_bytes(data, "merged.xlsx")
    assert loaded.columns["oem"] == ["Cisco", "Cisco", "Cisco", "Dell"]
    assert loaded.columns["program"] == ["Partner Program"] * 3 + ["Other"]


def test_the_first_sheet_is_read_whatever_tab_was_active_and_other_sheets_are_named():
    data = workbook(
        {
            "Current": [["name", "tier", "program", "oem"], ["Now", "Gold", "P", "Cisco"]],
            "Last year": [["name", "tier", "program", "oem"], ["Then", "Bronze", "P", "Cisco"]],
            "Empty": [],
        },
        active=1,
    )
    loaded = load_bytes(data, "two.xlsx")
    assert loaded.columns["name"] == ["Now"]
    assert loaded.warnings == [
        "two.xlsx: read sheet 'Current' (the first); 'Last year' also has data, not read "
        "(choose a sheet to read another)"
    ]


@pytest.mark.parametrize("sheet", ["Last year", "last YEAR", 2])
def test_a_sheet_is_chosen_by_name_or_number(sheet):
    data = workbook(
        {
            "Current": [["name", "tier", "program", "oem"], ["Now", "Gold", "P", "Cisco"]],
            "Last year": [["name", "tier", "program", "oem"], ["Then", "Bronze", "P", "Cisco"]],
        }
    )
    loaded = load_bytes(data, "two.xlsx", reading=Reading(sheet=sheet))
    assert loaded.columns["name"] == ["Then"]


def test_a_sheet_that_is_not_there_is_a_load_error_listing_the_sheets():
    data = workbook({"A": [["name"], ["x"]], "B": [["name"], ["y"]]})
    with pytest.raises(
        LoadError, match=r"^Failed to load w.xlsx: has no sheet 'C' \(its sheets: 'A', 'B'\)$"
    ):
        load_bytes(data, "w.xlsx", reading=Reading(sheet="C"))
    with pytest.raises(LoadError, match=r"has no sheet 3 \(it has 2 sheets: 'A', 'B'\)$"):
        load_bytes(data, "w.xlsx", reading=Reading(sheet=3))


def test_formula_cells_use_their_cached_value_and_one_without_is_an_error_naming_the_cell(
    tmp_path,
):
    data = workbook(
        {
            "Sheet1": [
                ["name", "tier", "program", "oem"],
                ["A", '=CONCAT("Go","ld")', "P", "Cisco"],
                ["B", '=CONCAT("Sil","ver")', "P", "Cisco"],
            ]
        }
    )
    cached = with_cached_values(data, {"B2": "Gold", "B3": "Silver"})
    assert load_bytes(cached, "f.xlsx").columns["tier"] == ["Gold", "Silver"]

    partly = with_cached_values(data, {"B2": "Gold"})
    path = tmp_path / "f.xlsx"
    path.write_bytes(partly)
    out, err, code = run("sync_partners", str(path))
    assert code == 1
    assert err.splitlines()[0] == (
        f"{path}: Row 3: Sheet1!B3: a formula without a cached value (open the file in Excel or "
        "LibreOffice and save it, so its formulas are calculated)"
    )
    assert "missing tier" not in err


# Profiles.


def portal_file(
    folder: Path, name: str = "cisco_2026_11.xlsx", rows_: list[list[Any]] | None = None
) -> Path:
    path = folder / name
    path.write_bytes(workbook({"Report": rows_ or PORTAL_ROWS}, merge="A1:D1"))
    return path


def test_a_vendor_export_without_an_oem_column_goes_in_through_a_profile(tmp_path):
    save(CISCO)
    path = portal_file(tmp_path)
    out, err, code = run(
        "sync_partners", str(path), "--profile", "cisco-portal", "--apply", "--format", "json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["sources"][0]["source"] == "cisco-portal"
    assert result["sources"][0]["profile"] == "cisco-portal"
    assert list(result["sources"][0]) == ["path", "sha256", "source", "profile"]
    stored = list(
        PartnerTier.objects.order_by("name").values_list("name", "tier", "program", "oem", "poc")
    )
    assert stored == [
        ("Kyndryl", "Premier", "Cisco Partner Program", "Cisco", None),
        ("Trace3", "Gold", "Cisco Partner Program", "Cisco", "Hannah Lee"),
    ]


def test_without_its_profile_the_same_file_fails_for_every_missing_field(tmp_path):
    path = portal_file(tmp_path)
    out, err, code = run("sync_partners", str(path))
    assert code == 1
    assert "cisco_2026_11.xlsx: Row 4: missing program" in err


def test_a_file_is_read_with_the_profile_its_name_matches(input_dir):
    save(CISCO)
    portal_file(input_dir, "CISCO_2026_12.xlsx")
    out, err, code = run("sync_partners", "--format", "json")
    assert code == 0, err
    (source,) = json.loads(out)["sources"]
    assert (source["path"], source["source"], source["profile"]) == (
        "CISCO_2026_12.xlsx",
        "cisco-portal",
        "cisco-portal",
    )


def test_an_unknown_profile_is_exit_2_naming_it(tmp_path):
    path = portal_file(tmp_path)
    assert run("sync_partners", str(path), "--profile", "nope") == (
        "",
        "CommandError: No profile named 'nope'\n",
        2,
    )


def test_a_file_lacking_a_column_its_profile_maps_is_an_error_naming_column_and_profile(tmp_path):
    save(CISCO)
    rows_ = [["Partner Name", "Primary Contact"], ["Trace3", "Hannah Lee"]]
    path = portal_file(tmp_path, rows_=rows_)
    out, err, code = run("sync_partners", str(path), "--profile", "cisco-portal")
    assert code == 2
    assert err == (
        f"CommandError: Failed to load {path}: has no column 'Partner Level', which profile "
        "'cisco-portal' maps to tier\n"
    )


def test_sheet_overrides_the_profiles_sheet_for_one_run(tmp_path):
    save(Profile(**{**CISCO.__dict__, "sheet": "Old"}))
    path = tmp_path / "cisco_x.xlsx"
    old = [PORTAL_ROWS[2], ["Old Co", "Gold Certified", None, "US"]]
    path.write_bytes(workbook({"New": PORTAL_ROWS, "Old": old}))
    out, err, code = run("sync_partners", str(path), "--format", "json")
    assert [r["name"] for r in json.loads(out)["added"]] == ["Old Co"]
    out, err, code = run("sync_partners", str(path), "--sheet", "1", "--format", "json")
    assert sorted(r["name"] for r in json.loads(out)["added"]) == ["Kyndryl", "Trace3"]


def test_a_profiles_constants_are_stated_so_changing_one_updates_the_records(tmp_path):
    save(CISCO)
    path = portal_file(tmp_path)
    run("sync_partners", str(path), "--apply")
    save(Profile(**{**CISCO.__dict__, "constants": (("oem", "Cisco"), ("program", "Cisco 360"))}))
    out, err, code = run("sync_partners", str(path), "--apply", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["summary"]["updated"] == 2
    assert set(PartnerTier.objects.values_list("program", flat=True)) == {"Cisco 360"}


def test_value_maps_compare_values_ignoring_case_and_spacing():
    profile = Profile(
        name="p",
        columns=(("Company", "name"), ("Level", "tier")),
        constants=(("oem", "Dell"), ("program", "DTPP")),
        values=(("tier", (("Gold Certified", "Gold"),)),),
    )
    data = b"Company;Level\nA;gold  certified\nB;Titanium\n"
    loaded = load_bytes(data, "dell.csv", reading=Reading(profile))
    assert loaded.columns["tier"] == ["Gold", "Titanium"]
    assert loaded.columns["oem"] == ["Dell", "Dell"]
    assert loaded.header == ("name", "tier", "oem", "program")


def test_a_profiles_header_row_and_delimiter_are_used_as_given():
    profile = Profile(
        name="p",
        header_row=2,
        delimiter="|",
        columns=(("Firm", "name"), ("Rank", "tier"), ("Prog", "program"), ("Maker", "oem")),
    )
    data = b"Firm|Rank|Prog|Maker\nFirm|Rank|Prog|Maker\nA|Gold|P|Cisco\n"
    loaded = load_bytes(data, "p.csv", reading=Reading(profile))
    assert loaded.lines == [3] and loaded.warnings == []


def test_the_api_sync_takes_a_profile_and_a_sheet(client, input_dir, django_user_model):
    from partners.tokens import create_token

    user = django_user_model.objects.create_superuser("api", "a@example.com", "pw")
    _, token = create_token(user, "t")
    save(CISCO)
    (input_dir / "portal.xlsx").write_bytes(workbook({"Old": [["x"]], "Report": PORTAL_ROWS}))
    body = {"files": ["portal.xlsx"], "profile": "cisco-portal", "sheet": "Report"}
    response = client.post(
        "/v1/partners/sync",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["sources"][0]["profile"] == "cisco-portal"
    assert sorted(r["name"] for r in result["added"]) == ["Kyndryl", "Trace3"]
    body["profile"] = "nope"
    response = client.post(
        "/v1/partners/sync",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (response.status_code, response.json()) == (400, {"detail": "No profile named 'nope'"})


def test_read_columns_gives_the_header_and_first_values_for_the_mapping_step():
    data = workbook(
        {
            "Report": [
                *PORTAL_ROWS,
                ["NTT", "Gold Certified", "Keiko", "Japan"],
                ["X", "Y", "Z", "W"],
            ]
        }
    )
    found = read_columns(data, "portal.xlsx")
    assert found.labels == ["Partner Name", "Partner Level", "Primary Contact", "Country"]
    assert found.line == 3 and found.position == "Row"
    assert found.samples["Partner Name"] == ["Trace3", "Kyndryl", "NTT"]
    assert found.samples["Primary Contact"] == ["Hannah Lee", None, "Keiko"]


def test_the_shipped_vendor_sample_loads_with_its_profile(settings):
    from partners.samples import load_samples

    folder = Path(settings.BASE_DIR) / "data" / "partners"
    result = load_samples([folder])
    assert result is not None and result.errors == []
    assert ImportProfile.objects.filter(name="cisco-portal").exists()
    profiled = [s for s in result.sources if s["profile"] == "cisco-portal"]
    assert [s["path"] for s in profiled] == ["data/partners/cisco_portal_2026-11.xlsx"]
