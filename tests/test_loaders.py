from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from typing import Any

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from partners import loaders
from partners.loaders import LoadError, default_inputs, load_bytes, load_path, utf8_lines
from tests.reliability import bombs

CSV = "name,tier,program,oem,poc,notes\nRed River,Gold,Cisco PTP,Cisco,John Doe,Premier\n"


def rows(loaded):
    """(line, {field: value}) of each row, the fields its file has, as a person reads it."""
    out = []
    for index, line in enumerate(loaded.lines):
        names = loaded.header if loaded.header is not None else loaded.keys[index]
        out.append((line, {name: loaded.columns[name][index] for name in names}))
    return out


def test_csv_lines_count_physical_lines_with_the_header_as_line_1():
    data = (
        b"name,tier,program,oem,notes\n"
        b'A,Gold,P,Cisco,"two\nlines"\n'
        b"\n"
        b'B,Silver,"P, with comma",Dell,\n'
    )
    loaded = load_bytes(data, "x.csv")
    assert [line for line, _ in rows(loaded)] == [2, 5]
    assert rows(loaded)[0][1]["notes"] == "two\nlines"
    assert rows(loaded)[1][1]["program"] == "P, with comma"


PIECES = st.sampled_from(["a", "é", "Ł", "☕", ",", '"', " ", "\n", "\r", "\r\n"])


@given(texts=st.lists(PIECES, max_size=30), bom=st.booleans(), block=st.integers(1, 12))
def test_utf8_lines_are_the_lines_csv_reads_from_text(texts, bom, block):
    data = (b"\xef\xbb\xbf" if bom else b"") + "".join(texts).encode()
    as_text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    original = loaders.LINES_BLOCK
    loaders.LINES_BLOCK = block  # blocks cut anywhere a line may end
    try:
        assert list(utf8_lines(data)) == list(as_text)
    finally:
        loaders.LINES_BLOCK = original


def test_a_csv_of_non_utf8_lines_past_the_first_block_is_read_as_cp1252(monkeypatch):
    monkeypatch.setattr(loaders, "LINES_BLOCK", 8)
    data = CSV.encode() + "Müller,Gold,P,Dell,,\n".encode("cp1252")
    assert rows(load_bytes(data, "x.csv"))[1][1]["name"] == "Müller"


def test_csv_reads_crlf_the_same_as_lf():
    crlf = load_bytes(CSV.replace("\n", "\r\n").encode(), "x.csv")
    lf = load_bytes(CSV.encode(), "x.csv")
    assert rows(crlf) == rows(lf)


@pytest.mark.parametrize(
    "encoded",
    [
        CSV.encode("utf-8"),
        b"\xef\xbb\xbf" + CSV.encode("utf-8"),
        CSV.encode("utf-16"),  # with BOM
        CSV.encode("utf-16-be").join([b"\xfe\xff", b""]),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom"],
)
def test_csv_encodings_read_alike(encoded):
    loaded = load_bytes(encoded, "x.csv")
    assert rows(loaded) == rows(load_bytes(CSV.encode(), "x.csv"))
    assert loaded.warnings == []


def test_text_that_is_not_utf8_is_read_as_windows_1252_with_a_warning():
    data = "name,tier,program,oem\nSociété Générale,Gold,P,Cisco\n".encode("cp1252")
    loaded = load_bytes(data, "excel.csv")
    assert rows(loaded)[0][1]["name"] == "Société Générale"
    assert loaded.warnings == ["excel.csv: not valid UTF-8, read as Windows-1252"]


def test_bytes_that_no_encoding_explains_are_refused():
    with pytest.raises(LoadError, match=r"Failed to load bad.csv: not valid UTF-8 or Windows-1252"):
        load_bytes(b"name,tier\n\x81\x8d\x8f,x\n", "bad.csv")


def test_headers_match_ignoring_case_and_spaces_and_unknown_columns_warn():
    data = b" Name ,TIER,Program,OEM,Region,Partner ID\nA,Gold,P,Cisco,West,17\n"
    loaded = load_bytes(data, "portal.csv")
    assert rows(loaded)[0][1] == {
        "name": "A",
        "tier": "Gold",
        "program": "P",
        "oem": "Cisco",
    }
    assert loaded.warnings == [
        "portal.csv: ignored unknown columns 'Region', 'Partner ID'; allowed columns are "
        "name, tier, program, oem, poc, notes, updated_at, created_at"
    ]


def test_json_accepts_the_partners_object_and_a_bare_list():
    record = {"name": "A", "tier": "Gold", "program": "P", "oem": "Cisco"}
    wrapped = load_bytes(json.dumps({"partners": [record]}).encode(), "a.json")
    bare = load_bytes(json.dumps([record]).encode(), "b.json")
    assert rows(wrapped) == rows(bare) == [(0, record)]
    assert wrapped.position == "Record"


def test_the_store_format_is_recognized_by_its_keys():
    store = {
        "version": 1,
        "oems": [
            {
                "name": "Cisco",
                "partners": [{"name": "A", "tier": "Gold", "program": "P", "oem": "Cisco"}],
            },
            {
                "name": "Dell",
                "partners": [{"name": "B", "tier": "Gold", "program": "P", "oem": "Dell"}],
            },
        ],
    }
    loaded = load_bytes(json.dumps(store).encode(), "oems.json")
    assert [(line, v["name"]) for line, v in rows(loaded)] == [(0, "A"), (1, "B")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty file"),
        (b'{"something": 1}', 'expected {"partners": [...]}'),
        (b'[{"name": NaN}]', "NaN is not a JSON number"),
        (b'[{"name": "a", "name": "b"}]', "duplicate key 'name'"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"partners": {"name": "x"}}', '"partners" must be a list'),
    ],
)
def test_unusable_json_is_a_load_error_that_says_why(data, reason):
    with pytest.raises(LoadError) as caught:
        load_bytes(data, "bad.json")
    assert str(caught.value).startswith("Failed to load bad.json: ")
    assert reason in str(caught.value)


def test_yaml_is_read_like_json():
    data = b"partners:\n  - name: A\n    tier: gold\n    program: P\n    oem: cisco\n"
    assert rows(load_bytes(data, "x.yaml")) == [
        (0, {"name": "A", "tier": "gold", "program": "P", "oem": "cisco"})
    ]


def xlsx_bytes(rows_: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows_:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_rows_are_numbered_as_in_the_sheet():
    data = xlsx_bytes(
        [
            ["Name", "Tier", "Program", "OEM"],
            ["A", "Gold", "P", "Cisco"],
            [None, None, None, None],
            ["3M", 7, "P", "Dell"],
        ]
    )
    loaded = load_bytes(data, "x.xlsx")
    assert [line for line, _ in rows(loaded)] == [2, 4]
    assert loaded.position == "Row"


def test_an_xlsx_that_would_inflate_too_far_is_refused_before_parsing():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * 50_000_000 + b"</a>")
    with pytest.raises(LoadError, match="compression ratio"):
        load_bytes(buffer.getvalue(), "bomb.xlsx")


def test_a_file_that_is_not_an_xlsx_is_refused():
    with pytest.raises(LoadError, match="not a zip archive"):
        load_bytes(b"hello", "fake.xlsx")


def test_unknown_extensions_and_missing_files_are_load_errors(tmp_path):
    with pytest.raises(LoadError, match="unsupported format"):
        load_bytes(b"x", "notes.txt")
    with pytest.raises(LoadError, match=r"Failed to load .*nope.csv: no such file"):
        load_path(tmp_path / "nope.csv")


def test_default_inputs_are_partners_files_in_sorted_order(tmp_path):
    for name in [
        "partners_b.json",
        "partners_a.csv",
        "other.csv",
        "partners_c.txt",
        "partners_d.yml",
        "partners_e.xlsx",
    ]:
        (tmp_path / name).write_text("")
    assert [p.name for p in default_inputs(tmp_path)] == [
        "partners_a.csv",
        "partners_b.json",
        "partners_d.yml",
        "partners_e.xlsx",
    ]


def test_blank_lines_keep_line_numbers_when_every_record_is_one_line():
    data = b"name,tier,program,oem\nA,Gold,P,Cisco\n\n,,,\nB,Gold,P,Dell\n"
    assert [line for line, _ in rows(load_bytes(data, "x.csv"))] == [2, 5]


CELLS = st.sampled_from(["a", "é", "", " ", '"q\nr"', '"q\r\nr"', '"q\rr"', '"\n\n"', '"x,y"'])
ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@given(
    records=st.lists(st.tuples(st.lists(CELLS, max_size=4), ENDS), max_size=12),
    size=st.integers(1, 5),
)
def test_records_read_in_batches_start_on_the_lines_the_reader_counts(records, size):
    data = "".join(",".join(cells) + end for cells, end in records).encode()
    reader = csv.reader(utf8_lines(data), strict=True)
    expected, previous = [], 0
    for row in reader:
        if any(row):
            expected.append((previous + 1, row))
        previous = reader.line_num
    source = loaders._csv_source(data, "x.csv", loaders.Limits(10**6), None)
    got = [
        (line, row)
        for lines, cells in source.rest(0, 0, size)
        for line, row in zip(lines, cells, strict=True)
    ]
    assert got == expected


def test_quoted_line_breaks_past_the_first_batch_keep_every_later_line_number(tmp_path):
    # Rows are read in batches (of 500): these breaks are in later ones, one near the end.
    records = [f"P{i},Gold,P,Cisco,,n\n" for i in range(25_000)]
    records[15_000] = 'P15000,Gold,P,Cisco,,"two\nlines"\n'
    records[15_001] = 'P15001,Gold,P,Cisco,"a\r\nb","c\rd"\r\n'
    records[15_002] = "\n"
    records[22_000] = '"P\n\n22000",Gold,P,Cisco,,\n'
    path = tmp_path / "partners_breaks.csv"
    path.write_bytes(("name,tier,program,oem,poc,notes\n" + "".join(records)).encode())
    loaded = load_path(path)
    numbered = dict(zip(loaded.columns["name"], loaded.lines, strict=True))
    assert [numbered[f"P{i}"] for i in (0, 14_999, 15_000, 15_001)] == [2, 15_001, 15_002, 15_004]
    assert [numbered[f"P{i}"] for i in (15_003, 21_999)] == [15_008, 22_004]
    assert [numbered["P\n\n22000"], numbered["P22001"], numbered["P24999"]] == [
        22_005,
        22_008,
        25_006,
    ]
    assert loaded.columns["poc"][15_001] == "a\r\nb" and loaded.columns["notes"][15_001] == "c\rd"


# Reading XLSX: the first sheet, streamed, bounded.


def workbook_bytes(sheets: dict[str, list[list[Any]]], active: int = 0) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows_ in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows_:
            sheet.append(row)
    book.active = active
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


HEADER_ROW: list[object] = ["name", "tier", "program", "oem"]


def test_it_reads_the_first_sheet_in_workbook_order_not_the_active_one():
    data = workbook_bytes(
        {"Data": [HEADER_ROW, ["First", "Gold", "P", "Cisco"]], "Notes": [["scratch"]]}, active=1
    )
    assert [values["name"] for _, values in rows(load_bytes(data, "x.xlsx"))] == ["First"]


def test_it_names_the_sheet_that_had_no_records():
    data = workbook_bytes({"Data": [HEADER_ROW], "More": [HEADER_ROW, ["A", "Gold", "P", "C"]]})
    with pytest.raises(LoadError, match=r"^Failed to load p.xlsx: sheet 'Data' has no records$"):
        load_bytes(data, "p.xlsx")


# Limits: all relative to PARTNERS_UPLOAD_MAX_BYTES.


def test_it_refuses_more_text_than_five_times_the_upload_limit(settings):
    settings.PARTNERS_UPLOAD_MAX_BYTES = 1_000
    data = ("name,tier,program,oem,notes\n" + "A,Gold,P,Cisco," + "n" * 5_000 + "\n").encode()
    with pytest.raises(LoadError) as caught:
        load_bytes(data, "big.csv")
    assert str(caught.value) == (
        "Failed to load big.csv: the file is 5,044 bytes of text; the limit is 5,000 "
        "(5 × PARTNERS_UPLOAD_MAX_BYTES)"
    )


def test_it_refuses_more_records_than_a_32nd_of_the_upload_limit(settings):
    settings.PARTNERS_UPLOAD_MAX_BYTES = 320
    record = {"name": "A", "tier": "Gold", "program": "P", "oem": "C"}
    with pytest.raises(LoadError, match=r"11 records; the limit is 10 \(1/32 of PARTNERS_UP"):
        load_bytes(json.dumps([record] * 11).encode(), "many.json")
    assert len(load_bytes(json.dumps([record] * 10).encode(), "ok.json").lines) == 10


def test_it_refuses_a_file_ten_times_the_upload_limit_before_reading_it(settings, tmp_path):
    settings.PARTNERS_UPLOAD_MAX_BYTES = 100
    path = tmp_path / "huge.csv"
    path.write_bytes(b"x" * 1_001)
    with pytest.raises(LoadError, match=r"the file is 1,001 bytes; the limit is 1,000 \(10 ×"):
        load_path(path)


def test_a_zip_member_past_the_ratio_is_refused_even_beside_incompressible_ones():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * 5_000_000 + b"</a>")
        archive.writestr("xl/media/noise.bin", os.urandom(60_000), zipfile.ZIP_STORED)
    with pytest.raises(LoadError, match=r"xl/worksheets/sheet1.xml has a compression ratio of"):
        load_bytes(buffer.getvalue(), "diluted.xlsx")


def test_it_refuses_a_shared_string_table_larger_than_the_text_limit(settings):
    settings.PARTNERS_UPLOAD_MAX_BYTES = 1_000
    table = "".join(f"<si><t>s{n}</t></si>" for n in range(1_000))
    shared = f'<sst xmlns="{bombs.MAIN}">{table}</sst>'.encode()
    data = bombs.workbook(bombs.sheet_xml(bombs.header_row(None)), shared)
    with pytest.raises(LoadError, match=r"its shared strings would inflate to [\d,]+ bytes; the"):
        load_bytes(data, "strings.xlsx")


# YAML aliases.


@pytest.mark.parametrize(
    "text",
    [
        "- &r {name: A, tier: Gold, program: P, oem: C}\n- *r\n",
        "- &t Gold\n- {name: A, tier: *t, program: P, oem: C}\n",
        "base: &b {tier: Gold}\npartners:\n  - {<<: *b, name: A, program: P, oem: C}\n",
        "partners: &p [*p]\n",
    ],
    ids=["record", "scalar", "merge-key", "recursive"],
)
def test_it_refuses_yaml_aliases_before_expanding_them(text):
    with pytest.raises(LoadError, match=r"YAML aliases \(\*name\) are not accepted \(the anchor"):
        load_bytes(text.encode(), "a.yaml")


# A file that is another format than it says.

XLSX_BYTES = workbook_bytes({"Data": [HEADER_ROW, ["A", "Gold", "P", "C"]]})


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "fmt", "message"),
    [
        (XLSX_BYTES, "partners.csv", "csv", "looks like an XLSX workbook, not CSV; choose XLSX"),
        (XLSX_BYTES, "partners.yaml", None, "looks like an XLSX workbook, not YAML; choose XLSX"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "p.csv", None, "looks like a PDF document, not CSV"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,
            "p.csv",
            None,
            "looks like an Excel 97–2003 workbook (.xls) or another old Office file, not CSV; "
            "save it as CSV or XLSX",
        ),
        (docx_bytes(), "p.xlsx", None, "looks like a Word document, not XLSX"),
        (b'[{"name": "A", "tier": "Gold"}]', "p.csv", None, "looks like JSON, not CSV; choose"),
        (b"name,tier,program,oem\nA,Gold,P,C\n", "p.json", None, "looks like CSV, not JSON"),
        (b"name,tier\nA,Gold\n", "p.xlsx", None, "not a zip archive; it looks like text"),
    ],
    ids=[
        "xlsx-as-csv",
        "xlsx-as-yaml",
        "pdf",
        "ole2-xls",
        "docx",
        "json-as-csv",
        "csv-as-json",
        "csv-as-xlsx",
    ],
)
def test_it_names_the_format_the_bytes_really_are(data, name, fmt, message):
    with pytest.raises(LoadError) as caught:
        load_bytes(data, name, fmt)
    assert str(caught.value).startswith(f"Failed to load {name}: ")
    assert message in str(caught.value)


# Mixed encodings.


def test_a_mostly_utf8_file_with_one_windows_1252_line_is_decoded_line_by_line():
    data = (
        "name,tier,program,oem\nCafé Networks,Gold,P,Cisco\n".encode()
        + "Crème Systems,Gold,P,Cisco\n".encode("cp1252")
        + "Straße AG,Gold,P,Cisco\n".encode()
    )
    loaded = load_bytes(data, "mixed.csv")
    names = [values["name"] for _, values in rows(loaded)]
    assert names == ["Café Networks", "Crème Systems", "Straße AG"]
    assert loaded.warnings == ["mixed.csv: Line 3: not valid UTF-8, read as Windows-1252"]


def test_windows_1252_line_warnings_are_collapsed_after_ten():
    lines = ["name,tier,program,oem", "Café,Gold,P,Cisco"]
    data = (
        "\n".join(lines).encode()
        + b"\n"
        + b"".join(f"Cr\xe8me {n},Gold,P,Cisco\n".encode("latin-1") for n in range(25))
    )
    warnings = load_bytes(data, "mixed.csv").warnings
    assert len(warnings) == 11 and warnings[0].startswith("mixed.csv: Line 3: ")
    assert warnings[-1] == "… and 15 more like this"


def test_a_byte_no_encoding_explains_is_refused_with_its_line():
    with pytest.raises(
        LoadError, match=r"not valid UTF-8 or Windows-1252 text \(line 2, byte 10\)"
    ):
        load_bytes(b"name,tier\n\x81\x8d\x8f,x\n", "bad.csv")


# The admin's formula escape, undone.


def test_csv_and_xlsx_cells_lose_exactly_the_exports_apostrophe():
    header = ["name", "tier", "program", "oem", "poc", "notes"]
    values = ["'=1+1", "Gold", "'-5", "Cisco", "''@a", "'plain"]
    expected = {"name": "=1+1", "program": "-5", "poc": "'@a", "notes": "'plain"}
    text = ",".join(header) + "\n" + ",".join(values) + "\n"
    for loaded in (
        load_bytes(text.encode(), "x.csv"),
        load_bytes(xlsx_bytes([header, values]), "x.xlsx"),
    ):
        got = rows(loaded)[0][1]
        assert {key: got[key] for key in expected} == expected
    as_json = load_bytes(json.dumps([dict(zip(header, values, strict=True))]).encode(), "x.json")
    assert rows(as_json)[0][1]["name"] == "'=1+1"  # JSON is never escaped, so kept


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbfname,tier,program,oem\n'=1,Gold,P,Cisco\n",  # after a line end
        b"name,tier,program,oem\r'=1,Gold,P,Cisco\r",
        b"name,tier,program,oem\r\n'=1,Gold,P,Cisco\r\n",
        b'name,tier,program,oem\n"\'=1",Gold,P,Cisco\n',  # after its opening quote
        b"name;tier;program;oem\nA;Gold;P;'=1\n",  # after the delimiter
        b"name\ttier\tprogram\toem\nA\tGold\tP\t'=1\n",
        "name,tier,program,oem\nA,Gold,Caf\u00e9,'=1\n".encode("cp1252"),  # not UTF-8
    ],
)
def test_a_csv_cell_loses_the_exports_apostrophe_wherever_it_starts(data):
    loaded = load_bytes(data, "x.csv")
    assert "'=1" not in [value for column in loaded.columns.values() for value in column]
    assert "=1" in loaded.columns["name"] + loaded.columns["oem"]


def test_a_csv_cell_loses_the_exports_apostrophe_after_more_apostrophes_than_are_looked_at(
    monkeypatch,
):
    monkeypatch.setattr(loaders, "ESCAPE_LOOKS", 2)
    data = (
        b"name,tier,program,oem,notes\nA,Gold,P,Cisco,it's\nB,Gold,P,Cisco,O'Neil\nC,Gold,P,'=1,\n"
    )
    assert load_bytes(data, "x.csv").columns["oem"] == ["Cisco", "Cisco", "=1"]
