"""Writes tests/reliability/corpus/: hostile input files, named `reject_*` (must be refused
with a message and change nothing) or `accept_*` (odd but valid: must go through).

    .venv/bin/python tests/reliability/make_corpus.py
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import openpyxl

CORPUS = Path(__file__).resolve().parent / "corpus"
HEADER = "name,tier,program,oem,poc,notes\n"
ROW = "Acme,Gold,Partner Program,Cisco,Jane,Note\n"


def csv_files() -> dict[str, bytes]:
    files = {
        "reject_empty.csv": b"",
        "reject_only_bom.csv": b"\xef\xbb\xbf",
        "reject_header_only.csv": HEADER.encode(),
        "reject_missing_required_column.csv": b"name,tier,oem\nAcme,Gold,Cisco\n",
        "reject_misspelt_column.csv": b"nmae,tier,program,oem\nAcme,Gold,P,Cisco\n",
        "reject_unclosed_quote.csv": (HEADER + 'Acme,"Gold,P,Cisco,,\n').encode(),
        "reject_nul_bytes.csv": (HEADER + "Ac\x00me,Gold,P,Cisco,,\n").encode(),
        "reject_binary_junk.csv": bytes(range(256)) * 8,
        "reject_png_renamed.csv": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        "reject_ragged_row.csv": (HEADER + "Acme,Gold,P,Cisco,,,extra,more\n").encode(),
        "reject_missing_fields.csv": (HEADER + "Acme,Gold\n").encode(),
        "reject_empty_required.csv": (HEADER + ",Gold,P,Cisco,,\nAcme,,P,Cisco,,\n").encode(),
        "reject_whitespace_required.csv": (HEADER + "   ,Gold,P,Cisco,,\n").encode(),
        "reject_1mb_name.csv": (HEADER + "A" * 1_000_000 + ",Gold,P,Cisco,,\n").encode(),
        "reject_1mb_notes.csv": (HEADER + "Acme,Gold,P,Cisco,," + "n" * 1_000_000 + "\n").encode(),
        "reject_long_tier.csv": (HEADER + "Acme," + "T" * 101 + ",P,Cisco,,\n").encode(),
        "reject_notes_5001.csv": (HEADER + "Acme,Gold,P,Cisco,," + "n" * 5001 + "\n").encode(),
        "reject_control_char_name.csv": (HEADER + "Ac\x07me,Gold,P,Cisco,,\n").encode(),
        "reject_escape_sequence.csv": (HEADER + "\x1b[31mAcme,Gold,P,Cisco,,\n").encode(),
        "reject_conflicting_duplicate.csv": (
            HEADER + "Acme,Gold,P,Cisco,,\nacme,Silver,P,cisco,,\n"
        ).encode(),
        "reject_bad_timestamp.csv": (
            b"name,tier,program,oem,updated_at\nAcme,Gold,P,Cisco,yesterday\n"
        ),
        "reject_year_99999.csv": (
            b"name,tier,program,oem,created_at\nAcme,Gold,P,Cisco,99999-01-01T00:00:00Z\n"
        ),
        "reject_utf16_without_bom.csv": (HEADER + ROW).encode("utf-16-le"),
        "reject_many_errors.csv": (HEADER + ",,,,,\n" * 500).encode(),
        "reject_newline_in_name.csv": (HEADER + '"Ac\nme",Gold,P,Cisco,,\n').encode(),
        "reject_tab_in_oem.csv": (HEADER + "Acme,Gold,P,Cis\tco,,\n").encode(),
        "reject_control_in_poc.csv": (HEADER + "Acme,Gold,P,Cisco,Ja\x0bne,\n").encode(),
        "accept_trimmed_control_whitespace.csv": (
            HEADER + "Acme,Gold,P,Cisco,\x0bJane\x0c,\n"
        ).encode(),
        "reject_del_char.csv": (HEADER + "Acme\x7f,Gold,P,Cisco,,\n").encode(),
        "reject_c1_control.csv": (HEADER + "Acme\u0085x,Gold,P,Cisco,,\n").encode(),
        "reject_formfeed.csv": (HEADER + "Ac\x0cme,Gold,P,Cisco,,\n").encode(),
        "accept_crlf.csv": (HEADER + ROW).replace("\n", "\r\n").encode(),
        "accept_utf8_bom.csv": b"\xef\xbb\xbf" + (HEADER + ROW).encode(),
        "accept_utf16_le_bom.csv": (HEADER + ROW).encode("utf-16"),
        "accept_utf16_be_bom.csv": b"\xfe\xff" + (HEADER + ROW).encode("utf-16-be"),
        "accept_latin1.csv": (HEADER + "Café Réseaux,Gold,P,Cisco,,\n").encode("latin-1"),
        "accept_cp1252.csv": (HEADER + "Smart “Quotes” Ltd,Gold,P,Cisco,,€\n").encode("cp1252"),
        "reject_undecodable_bytes.csv": (HEADER + "Acme").encode()
        + b"\x81\x8d"
        + b",Gold,P,Cisco,,\n",
        "accept_formula_cells.csv": (
            HEADER + "=cmd|' /C calc'!A0,Gold,+SUM(1),@evil,-2+3,=HYPERLINK(\"x\")\n"
        ).encode(),
        "accept_script_values.csv": (
            HEADER + '<script>alert(1)</script>,Gold,"<img src=x onerror=alert(2)>",Cisco,,\n'
        ).encode(),
        "accept_path_like_oem.csv": (
            HEADER + "Acme,Gold,P,../../etc/passwd,,\nBeta,Gold,P,/absolute/oem,,\n"
            "Gamma,Gold,P,C:\\\\Windows,,\nDelta,Gold,P,CON,,\nEpsilon,Gold,P,nul.md,,\n"
        ).encode(),
        "accept_markdown_values.csv": (
            HEADER + "[[x]],Gold,#tag,Cisco,%% c %%,| a | b |\n"
        ).encode(),
        "accept_zero_width.csv": (HEADER + "Ac\u200bme,Gold,P,Cisco,,\n").encode(),
        "accept_bidi.csv": (HEADER + "Acme\u202egnp.exe,Gold,P,Cisco,,\n").encode(),
        "accept_emoji.csv": (HEADER + "Rocket 🚀 Partners,Gold,P,Cisco,,\n").encode(),
        "accept_identical_duplicate.csv": (HEADER + ROW + ROW).encode(),
        "accept_unknown_columns.csv": (
            b"name,tier,program,oem,region,revenue\nAcme,Gold,P,Cisco,EMEA,100\n"
        ),
        "accept_quoted_newline_notes.csv": (
            HEADER + 'Acme,Gold,P,Cisco,,"line 1\nline 2"\n'
        ).encode(),
        "accept_header_case_spaces.csv": (b" NAME , Tier,PROGRAM ,oem\nAcme,Gold,P,Cisco\n"),
        "accept_blank_lines.csv": (HEADER + "\n\n" + ROW + "\n").encode(),
        "accept_10k_columns.csv": (
            HEADER.strip()
            + ","
            + ",".join(f"c{i}" for i in range(10_000))
            + "\n"
            + ROW.strip()
            + "," * 10_000
            + "\n"
        ).encode(),
        "accept_lowercase_tier.csv": (HEADER + "Acme,platinum,P,nutanix,,\n").encode(),
        "reject_pdf_renamed.csv": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "reject_xls_renamed.csv": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504,
        "reject_json_renamed.csv": json.dumps([{"name": "Acme", "tier": "Gold"}]).encode(),
        "accept_mixed_utf8_and_cp1252.csv": (HEADER + "Café,Gold,P,Cisco,,\n").encode()
        + "Crème,Gold,P,Cisco,,\n".encode("cp1252"),
        "accept_numbers_as_text.csv": (HEADER + "12345,1,2,3,4,5\n").encode(),
    }
    return files


def json_files() -> dict[str, bytes]:
    record = {"name": "Acme", "tier": "Gold", "program": "P", "oem": "Cisco"}

    def dump(value: object) -> bytes:
        return json.dumps(value).encode()

    files = {
        "reject_empty.json": b"",
        "reject_truncated.json": b'{"partners": [{"name": "Acme"',
        "reject_trailing_garbage.json": dump([record]) + b" garbage",
        "reject_single_quotes.json": b"[{'name': 'Acme'}]",
        "reject_comments.json": b"// comment\n" + dump([record]),
        "reject_nan.json": b'[{"name": NaN, "tier": "Gold", "program": "P", "oem": "Cisco"}]',
        "reject_infinity.json": b'[{"name": "A", "tier": Infinity, "program": "P", "oem": "C"}]',
        "reject_negative_infinity.json": b'[{"name": -Infinity}]',
        "reject_huge_integer.json": b'[{"name": ' + b"9" * 5000 + b"}]",
        "reject_nesting_1000.json": b"[" * 1000 + b"]" * 1000,
        "reject_nesting_100000.json": b"[" * 100_000 + b"]" * 100_000,
        "reject_object_nesting.json": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "reject_duplicate_keys.json": b'[{"name": "A", "name": "B", "tier": "Gold", "program": "P", "oem": "C"}]',
        "reject_top_level_string.json": b'"partners"',
        "reject_top_level_number.json": b"42",
        "reject_top_level_null.json": b"null",
        "reject_top_level_true.json": b"true",
        "reject_partners_object.json": dump({"partners": {"name": "Acme"}}),
        "reject_partners_string.json": dump({"partners": "Acme"}),
        "reject_wrong_key.json": dump({"records": [record]}),
        "reject_records_strings.json": dump(["Acme", "Beta"]),
        "reject_records_lists.json": dump([["Acme", "Gold", "P", "Cisco"]]),
        "reject_name_number.json": dump([{**record, "name": 12345}]),
        "reject_name_list.json": dump([{**record, "name": ["A", "B"]}]),
        "reject_name_object.json": dump([{**record, "name": {"first": "A"}}]),
        "reject_name_bool.json": dump([{**record, "name": True}]),
        "reject_name_null.json": dump([{**record, "name": None}]),
        "reject_tier_float.json": dump([{**record, "tier": 1.5}]),
        "reject_oem_huge_int.json": b'[{"name": "A", "tier": "Gold", "program": "P", "oem": 1'
        + b"0" * 300
        + b"}]",
        "reject_timestamp_number.json": dump([{**record, "updated_at": 1700000000}]),
        "reject_store_bad_oems.json": dump({"version": 1, "oems": "nope"}),
        "reject_store_oem_without_partners.json": dump({"version": 1, "oems": [{"name": "X"}]}),
        "reject_utf16_no_bom.json": dump([record]).decode().encode("utf-16-le"),
        "reject_control_chars.json": dump([{**record, "name": "A\u0000B"}]),
        "reject_lone_surrogate.json": b'[{"name": "\\ud800", "tier": "Gold", "program": "P", "oem": "C"}]',
        "accept_bare_list.json": dump([record]),
        "accept_partners_key.json": dump({"partners": [record]}),
        "accept_bom.json": b"\xef\xbb\xbf" + dump([record]),
        "accept_utf16_bom.json": dump([record]).decode().encode("utf-16"),
        "reject_empty_list.json": b"[]",
        "reject_empty_store.json": dump({"version": 1, "oems": []}),
        "accept_store_format.json": dump(
            {"version": 1, "oems": [{"name": "Cisco", "partners": [record]}]}
        ),
        "accept_extra_keys.json": dump([{**record, "revenue": 10, "nested": {"a": [1, 2]}}]),
        "accept_unicode_escapes.json": b'[{"name": "Caf\\u00e9", "tier": "Gold", "program": "P", "oem": "C"}]',
        "accept_script_values.json": dump([{**record, "name": "<script>alert(1)</script>"}]),
        "accept_notes_newlines.json": dump([{**record, "notes": "a\nb\tc"}]),
    }
    return files


def yaml_files() -> dict[str, bytes]:
    laughs = ['lol0: &a0 ["lol"]'] + [
        f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)
    ]
    files = {
        "reject_billion_laughs.yaml": ("\n".join(laughs) + "\npartners: *a9\n").encode(),
        "reject_python_tag.yaml": b"- !!python/object/apply:os.system ['echo pwned']\n",
        "reject_invalid.yaml": b"partners: [\n  - name: Acme\n  tier: : :\n",
        "reject_tabs.yaml": b"partners:\n\t- name: Acme\n",
        "reject_scalar.yaml": b"just a string\n",
        "reject_wrong_types.yaml": b"- name: [1, 2]\n  tier: Gold\n  program: P\n  oem: C\n",
        "reject_deep_nesting.yaml": b"[" * 5000 + b"]" * 5000,
        "reject_binary.yaml": bytes(range(256)),
        "reject_yes_no_bool.yaml": b"- name: yes\n  tier: Gold\n  program: P\n  oem: C\n",
        "accept_list.yaml": b"- name: Acme\n  tier: gold\n  program: P\n  oem: cisco\n",
        "accept_partners_key.yaml": b"partners:\n  - {name: Acme, tier: Gold, program: P, oem: Cisco}\n",
        "accept_quoted_numbers.yaml": b"- name: '123'\n  tier: Gold\n  program: P\n  oem: C\n",
    }
    return files


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def xlsx_files() -> dict[str, bytes]:
    header = ["name", "tier", "program", "oem", "poc", "notes"]
    valid = xlsx([header, ["Acme", "Gold", "P", "Cisco", None, None]])
    with zipfile.ZipFile(io.BytesIO(valid)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    laughs = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b']>\n<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row><c t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData>'
        b"</worksheet>"
    )
    files = {
        "reject_zip_bomb.xlsx": zipped({**members, "xl/worksheets/sheet1.xml": b"0" * 60_000_000}),
        "reject_billion_laughs.xlsx": zipped({**members, "xl/worksheets/sheet1.xml": laughs}),
        "reject_not_a_zip.xlsx": b"name,tier\nAcme,Gold\n",
        "reject_corrupt_zip.xlsx": valid[: len(valid) // 2],
        "reject_zip_without_sheet.xlsx": zipped({"hello.txt": b"hi"}),
        "reject_empty.xlsx": b"",
        "reject_wrong_types.xlsx": xlsx([header, ["Acme", True, "P", "Cisco", None, None]]),
        "reject_missing_required.xlsx": xlsx([header, ["Acme", None, "P", "Cisco", None, None]]),
        "accept_valid.xlsx": valid,
        # openpyxl saves no computed values, so these cells read as empty: refused, "missing".
        "reject_formulas_without_values.xlsx": xlsx(
            [header, ["=1+2", "Gold", '=HYPERLINK("x")', "Cisco"]]
        ),
        "accept_numbers.xlsx": xlsx([header, [123, "Gold", 4.0, "Cisco", None, None]]),
        "reject_xlsx_renamed.csv": valid,
        "reject_docx_renamed.xlsx": zipped({"word/document.xml": b"<document/>"}),
    }
    return files


def main() -> None:
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    CORPUS.mkdir()
    files = {**csv_files(), **json_files(), **yaml_files(), **xlsx_files()}
    for name, data in sorted(files.items()):
        (CORPUS / name).write_bytes(data)
    print(f"{len(files)} files in {CORPUS}")


if __name__ == "__main__":
    main()
