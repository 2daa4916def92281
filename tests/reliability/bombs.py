"""Input bombs, generated at test time (never committed): small files that expand into far
more work than their size, each named `accept_*` (read for what it really holds) or `reject_*`
(refused, naming the file and the limit). Used by the hostile corpus, through every door, and
by the memory- and time-bounded runs of `tests/test_input_bounds.py`.
"""

from __future__ import annotations

import functools
import io
import os
import zipfile

import openpyxl

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
HEADER = ("name", "tier", "program", "oem")
LAST_ROW = 1_048_576


def inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def sheet_xml(rows: str, dimension: str = "A1:XFD1048576") -> bytes:
    """A worksheet whose <dimension> claims the whole grid, as a bomb's does."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<worksheet xmlns="{MAIN}"><dimension ref="{dimension}"/>'
        f"<sheetData>{rows}</sheetData></worksheet>"
    ).encode()


def header_row(far: str | None = "notes") -> str:
    cells = "".join(inline(f"{col}1", label) for col, label in zip("ABCD", HEADER, strict=True))
    return f'<row r="1">{cells}{inline("XFD1", far) if far else ""}</row>'


def record_row(number: int, far: str | None = None) -> str:
    values = (f"Partner {number}", "Gold", "P", "Cisco")
    cells = "".join(inline(f"{c}{number}", v) for c, v in zip("ABCD", values, strict=True))
    return f'<row r="{number}">{cells}{inline(f"XFD{number}", far) if far else ""}</row>'


@functools.cache
def _base_members() -> dict[str, bytes]:
    """A real workbook from openpyxl (with a shared string table) to put crafted parts into."""
    book = openpyxl.Workbook()
    book.active.append(list(HEADER))
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


SHARED_TYPE = (
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml" /></Types>'
)


def workbook(sheet: bytes, shared_strings: bytes | None = None) -> bytes:
    """The base workbook with its first sheet replaced (and a shared string table added)."""
    members = {**_base_members(), "xl/worksheets/sheet1.xml": sheet}
    if shared_strings is not None:
        types = members["[Content_Types].xml"].decode().replace("</Types>", SHARED_TYPE)
        members["[Content_Types].xml"] = types.encode()
        members["xl/sharedStrings.xml"] = shared_strings
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def with_member(data: bytes, name: str, member: bytes) -> bytes:
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
        archive.writestr(name, member)
    return buffer.getvalue()


def sparse_corners() -> bytes:
    """One header (a cell at XFD1) and one record at the sheet's last row: a 5 KB file that a
    reader padding every row to the widest column turns into 17 billion cells."""
    return workbook(sheet_xml(header_row() + record_row(LAST_ROW, far="far note")))


def wide_rows(count: int = 3_000) -> bytes:
    """Every row has a cell at XFD, under a known column there: 16,384 cells a row."""
    rows = "".join(record_row(n, far="x") for n in range(2, count + 2))
    return workbook(sheet_xml(header_row() + rows))


def past_the_last_row() -> bytes:
    return workbook(sheet_xml(header_row(None) + record_row(4_000_000_000)))


def diluted_zip_bomb(rows: int = 1_000_000) -> bytes:
    """A sheet of a million rows with a far-away cell (~40 MB of XML that deflates ~1000:1:
    rows without numbers repeat exactly) beside an incompressible member, so the archive as a
    whole looks like an ordinary ~70:1."""
    body = '<row><c r="XFD2"><v>1</v></c></row>' * rows
    data = workbook(sheet_xml(header_row(None) + body))
    return with_member(data, "xl/media/noise.bin", os.urandom(560_000))


def shared_string_amplification(rows: int = 100_000) -> bytes:
    """Every row's notes are one 5,000-character shared string: a ~1 MB file holding 500 MB
    of text, which became a 520 MB database, store and note."""
    strings = [*HEADER, "notes", "Gold", "P", "Cisco", "n" * 5000]
    table = "".join(f"<si><t>{s}</t></si>" for s in strings)
    shared = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="{MAIN}" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">{table}</sst>'
    ).encode()
    head = "".join(f'<c r="{c}1" t="s"><v>{i}</v></c>' for i, c in enumerate("ABCDE"))
    body = "".join(
        f'<row r="{n}"><c r="A{n}"><v>{n}</v></c><c r="B{n}" t="s"><v>5</v></c>'
        f'<c r="C{n}" t="s"><v>6</v></c><c r="D{n}" t="s"><v>7</v></c>'
        f'<c r="E{n}" t="s"><v>8</v></c></row>'
        for n in range(2, rows + 2)
    )
    sheet = sheet_xml(f'<row r="1">{head}</row>{body}', dimension=f"A1:E{rows + 1}")
    return workbook(sheet, shared)


def yaml_aliases(count: int = 400_000) -> bytes:
    """One record with long notes, then its alias over and over: 2 MB of YAML that a loader
    expanding aliases turns into 2 GB of records (and as many duplicate warnings)."""
    first = '- &r {name: Acme, tier: Gold, program: P, oem: Cisco, notes: "' + "n" * 5000 + '"}\n'
    return (first + "- *r\n" * count).encode()


@functools.cache
def files() -> dict[str, bytes]:
    return {
        "accept_bomb_sparse_corners.xlsx": sparse_corners(),
        "reject_bomb_wide_rows.xlsx": wide_rows(),
        "reject_bomb_past_the_last_row.xlsx": past_the_last_row(),
        "reject_bomb_diluted_zip.xlsx": diluted_zip_bomb(),
        "reject_bomb_shared_string.xlsx": shared_string_amplification(),
        "reject_bomb_yaml_aliases.yaml": yaml_aliases(),
    }


# Why each refused bomb is refused, as every door says it.
REASONS = {
    "reject_bomb_wide_rows.xlsx": "too many cells by row 321 (rows × the header's columns); "
    "the limit is 5,242,880 (1/2 of PARTNERS_UPLOAD_MAX_BYTES)",
    "reject_bomb_past_the_last_row.xlsx": "rows past a sheet's last row (1,048,576)",
    "reject_bomb_diluted_zip.xlsx": "xl/worksheets/sheet1.xml has a compression ratio of 343:1",
    "reject_bomb_shared_string.xlsx": "too much text by row 10,466 (is a long value in every "
    "row?); the limit is 52,428,800 (5 × PARTNERS_UPLOAD_MAX_BYTES)",
    "reject_bomb_yaml_aliases.yaml": "YAML aliases (*name) are not accepted",
}
