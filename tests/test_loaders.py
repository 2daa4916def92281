from __future__ import annotations

import io
import json
import zipfile

import openpyxl
import pytest

from partners.loaders import LoadError, default_inputs, load_bytes, load_path

CSV = "name,tier,program,oem,poc,notes\nRed River,Gold,Cisco PTP,Cisco,John Doe,Premier\n"


def rows(loaded):
    return [(row.line, row.values) for row in loaded.raw_rows()]


def test_csv_lines_count_physical_lines_with_the_header_as_line_1():
    data = (
        b"name,tier,program,oem,notes\n"
        b'A,Gold,P,Cisco,"two\nlines"\n'
        b"\n"
        b'B,Silver,"P, with comma",Dell,\n'
    )
    loaded = load_bytes(data, "x.csv")
    assert [line for line, _ in rows(loaded)] == [2, 5]
    assert loaded.raw_rows()[0].values["notes"] == "two\nlines"
    assert loaded.raw_rows()[1].values["program"] == "P, with comma"


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
    assert loaded.raw_rows()[0].values["name"] == "Société Générale"
    assert loaded.warnings == ["excel.csv: not valid UTF-8, read as Windows-1252"]


def test_bytes_that_no_encoding_explains_are_refused():
    with pytest.raises(LoadError, match=r"Failed to load bad.csv: not valid UTF-8 or Windows-1252"):
        load_bytes(b"name,tier\n\x81\x8d\x8f,x\n", "bad.csv")


def test_headers_match_ignoring_case_and_spaces_and_unknown_columns_warn():
    data = b" Name ,TIER,Program,OEM,Region,Partner ID\nA,Gold,P,Cisco,West,17\n"
    loaded = load_bytes(data, "portal.csv")
    assert loaded.raw_rows()[0].values == {
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


def xlsx_bytes(rows_: list[list[object]]) -> bytes:
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
