"""Reading one XLSX sheet: which sheet, its rows streamed within the limits, merged cells and
formulas without a cached value.

openpyxl's read-only reader streams rows but knows nothing of merged ranges, and in
`data_only` mode gives a formula without a cached value as an empty cell. Both are told from
the sheet's XML, read once more as a stream (`scan_sheet`): its `<mergeCell>` ranges and the
cells that hold an `<f>` without a `<v>`. That costs an inflate and a byte search, a few
hundredths of a second for 100,000 rows, and never holds the sheet.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from openpyxl.utils import column_index_from_string, get_column_letter

from partners.headers import CHUNK_ROWS, Batch, Mark, Row, batched
from partners.loaders import (
    BYTES_PER_CELL,
    BYTES_PER_RECORD,
    SHEET_MAX_ROWS,
    TEXT_PER_BYTE,
    Limits,
    LoadError,
    check_zip,
)

SCAN_CHUNK = 1024 * 1024
MAX_CELL_BYTES = 1024 * 1024  # one cell's XML; Excel's longest text is 32,767 characters
MAX_MERGES = 100_000
MAX_FORMULAS = 100_000
OTHER_SHEET_ROWS = 100  # how far another sheet is looked at for data (and 50 columns)
OTHER_SHEET_COLUMNS = 50
FORMULA_ADVICE = "open the file in Excel or LibreOffice and save it, so its formulas are calculated"
_REF = re.compile(rb'\br="([A-Z]{1,3})([0-9]{1,7})"')
_RANGE = re.compile(rb'\bref="([A-Z]{1,3})([0-9]{1,7})(?::([A-Z]{1,3})([0-9]{1,7}))?"')
_PREFIX = re.compile(rb"<(\w+:)?worksheet[\s>]")

Range = tuple[int, int, int, int]  # first row, first column, last row, last column (1-based)


def blank(row: Sequence[Any]) -> bool:
    return row.count(None) + row.count("") == len(row)


def sheet_ref(title: str, column: int, row: int) -> str:
    """A cell as Excel writes a reference to it: Sheet1!B7, 'My sheet'!B7."""
    shown = title if re.fullmatch(r"\w+", title) else "'" + title.replace("'", "''") + "'"
    return f"{shown}!{get_column_letter(column)}{row}"


@contextmanager
def open_sheet(
    data: bytes, name: str, limits: Limits, choice: str | int | None
) -> Iterator[SheetSource]:
    """The chosen sheet (a name or 1-based number; None: the first in workbook order, never
    the "active" one, which is wherever the last person clicked) as rows for `read_table`.
    Other sheets with data are named in a warning."""
    check_zip(data, name, limits)
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheets = book.worksheets
        if not sheets:
            raise LoadError(name, "has no worksheet")
        sheet = choose_sheet(sheets, name, choice)
        sheet.reset_dimensions()  # its <dimension> may claim any size
        ranges, formulas = scan_sheet(data, sheet._worksheet_path, name)
        source = SheetSource(sheet, name, limits, ranges, formulas)
        others = [s.title for s in sheets if s is not sheet and has_values(s)]
        if others:
            listed = ", ".join(repr(title) for title in others)
            which = "the first" if choice is None else "as chosen"
            verb = "has" if len(others) == 1 else "have"
            source.warnings.append(
                f"{name}: read sheet {sheet.title!r} ({which}); {listed} also {verb} data, "
                "not read (choose a sheet to read another)"
            )
        yield source
    finally:
        book.close()


def choose_sheet(sheets: list[Any], name: str, choice: str | int | None) -> Any:
    if choice is None:
        return sheets[0]
    titles = ", ".join(repr(s.title) for s in sheets)
    if isinstance(choice, int):
        if 1 <= choice <= len(sheets):
            return sheets[choice - 1]
        count = f"{len(sheets)} sheet{'s' if len(sheets) != 1 else ''}"
        raise LoadError(name, f"has no sheet {choice} (it has {count}: {titles})")
    for sheet in sheets:
        if sheet.title == choice:
            return sheet
    for sheet in sheets:
        if sheet.title.casefold() == choice.casefold():
            return sheet
    raise LoadError(name, f"has no sheet {choice!r} (its sheets: {titles})")


def has_values(sheet: Any) -> bool:
    """Whether a sheet not read has data in its first rows and columns (bounded: a sheet
    with cells only at its far corners is not looked through)."""
    sheet.reset_dimensions()
    rows = sheet.iter_rows(max_row=OTHER_SHEET_ROWS, max_col=OTHER_SHEET_COLUMNS, values_only=True)
    return any(not blank(row) for row in rows)


class SheetSource:
    """A sheet's rows for `read_table`: non-blank rows with their sheet row numbers, merged
    cells filled, every cell read counted against the limits.

    openpyxl's read-only reader yields one shared tuple for every row missing from the file
    and pads each row it has to the requested width: missing rows are skipped by identity,
    rows below the header are read only as far as its last known column, and every row read
    counts its width against the cell limit, so a sparse sheet costs what it holds.
    """

    position = "Row"
    text = False
    escapes = True

    def __init__(
        self, sheet: Any, name: str, limits: Limits, ranges: list[Range], formulas: set[Any]
    ) -> None:
        self.sheet, self.name, self.limits = sheet, name, limits
        self.title = sheet.title
        self.merged = Merged(ranges)
        self.formulas = formulas
        self.mark = self._formula_mark if formulas else None
        self.warnings: list[str] = []
        self.cells = self.chars = self.records = 0

    def rows(self) -> Iterator[Row]:
        """From the top, as wide as each row is: the rows the header is looked for in."""
        missing: Any = None
        for number, row in enumerate(self.sheet.iter_rows(values_only=True), start=1):
            self.cells += len(row)
            if number > SHEET_MAX_ROWS or self.cells > self.limits.cells:
                self._too_big(number)
            if row is missing:
                continue
            self.merged.capture(number, row)
            if blank(row):
                missing = row
                continue
            yield number, row

    def rest(self, after: int, width: int, size: int = CHUNK_ROWS) -> Iterator[Batch]:
        """The rows after row `after`, `width` cells wide, merged cells filled, `size` at a
        time."""
        return batched(self._below(after, width), size)

    def _below(self, after: int, width: int) -> Iterator[Row]:
        missing: Any = None
        limits = self.limits
        rows = self.sheet.iter_rows(min_row=after + 1, max_col=max(width, 1), values_only=True)
        for number, given in enumerate(rows, start=after + 1):
            if number > SHEET_MAX_ROWS:
                self._too_big(number)
            if given is missing:
                continue
            self.cells += width
            if self.cells > limits.cells:
                self._too_big(number)
            row = self.merged.fill(number, given)
            if blank(row):
                missing = given
                continue
            self.chars += sum(len(v) for v in row if isinstance(v, str))
            if self.chars > limits.text:
                what = f"too much text by row {number:,} (is a long value in every row?)"
                raise limits.exceeded(self.name, what, limits.text, f"{TEXT_PER_BYTE} ×")
            self.records += 1
            if self.records > limits.records:
                what = f"too many records by row {number:,}"
                raise limits.exceeded(self.name, what, limits.records, f"1/{BYTES_PER_RECORD} of")
            yield number, row

    def _formula_mark(self, number: int, positions: dict[int, str]) -> Mark | None:
        refs = [
            sheet_ref(self.title, at + 1, number)
            for at in positions
            if (number, at + 1) in self.formulas
        ]
        if not refs:
            return None
        which = "a formula" if len(refs) == 1 else "formulas"
        return Mark(f"{', '.join(refs)}: {which} without a cached value ({FORMULA_ADVICE})", True)

    def _too_big(self, row: int) -> None:
        if row > SHEET_MAX_ROWS:
            raise LoadError(
                self.name, f"the sheet has rows past a sheet's last row ({SHEET_MAX_ROWS:,})"
            )
        what = f"too many cells by row {row:,} (rows × the header's columns)"
        raise self.limits.exceeded(self.name, what, self.limits.cells, f"1/{BYTES_PER_CELL} of")


class Merged:
    """Merged ranges, filled as rows stream by: every cell a range covers reads as its
    top-left cell (an OEM merged over its partners' rows is each row's OEM)."""

    def __init__(self, ranges: list[Range]) -> None:
        self.starting: dict[int, list[Range]] = defaultdict(list)
        for found in ranges:
            if found[2] > found[0] or found[3] > found[1]:
                self.starting[found[0]].append(found)
        self.active: list[tuple[Range, Any]] = []

    def capture(self, number: int, row: Sequence[Any]) -> None:
        """Remember the top-left values of the ranges starting on this row."""
        for found in self.starting.pop(number, ()):
            column = found[1] - 1
            value = row[column] if column < len(row) else None
            if value is not None and value != "":
                self.active.append((found, value))

    def fill(self, number: int, row: Sequence[Any]) -> Sequence[Any]:
        if not self.starting and not self.active:
            return row  # Optimization: the usual sheet has no merged cells
        self.capture(number, row)
        self.active = [(found, value) for found, value in self.active if found[2] >= number]
        covering = [(found, value) for found, value in self.active if found[0] <= number]
        if not covering:
            return row
        cells = list(row)
        for (_, first, _, last), value in covering:
            for column in range(first - 1, min(last, len(cells))):
                cells[column] = value
        return tuple(cells)


def scan_sheet(data: bytes, member: str, name: str) -> tuple[list[Range], set[tuple[int, int]]]:
    """The sheet's merged ranges and its cells (row, column) with a formula and no cached
    value, from its XML read as a stream, 1 MB at a time. An unfinished cell at the end of a
    chunk is kept for the next; both sets are bounded."""
    ranges: set[Range] = set()
    formulas: set[tuple[int, int]] = set()
    with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(member) as stream:
        chunk = stream.read(SCAN_CHUNK)
        found = _PREFIX.search(chunk)
        prefix = found[1] if found and found[1] else b""
        tags = _Tags(prefix)
        carry = b""
        while chunk:
            buf = carry + chunk
            chunk = stream.read(SCAN_CHUNK)
            keep = len(buf) - 128 if chunk else len(buf)  # a tag cut at the end comes again
            last_cell = buf.rfind(tags.cell)
            if chunk and last_cell >= 0 and tags.cell_end(buf, last_cell) is None:
                keep = min(keep, last_cell)
            if tags.formula in buf:
                _formulas(buf, tags, formulas, name)
            if tags.merge in buf:
                _ranges(buf, tags, ranges, name)
            carry = buf[max(keep, 0) :]
            if len(carry) > MAX_CELL_BYTES:
                raise LoadError(name, f"a cell of sheet XML {member} is over 1 MB")
    return sorted(ranges), formulas


class _Tags:
    """The sheet XML's tags, with the namespace prefix the file uses (`<x:c>`), if any."""

    def __init__(self, prefix: bytes) -> None:
        self.cell = b"<" + prefix + b"c "
        self.close = b"</" + prefix + b"c>"
        self.formula = b"<" + prefix + b"f"
        self.merge = b"<" + prefix + b"mergeCell "
        # A cached value has text; `<v/>` (as openpyxl writes a formula) is none, but a
        # string result (t="str") may be the empty string.
        self.value = re.compile(b"<" + re.escape(prefix) + rb"v>[^<]")

    def cell_end(self, buf: bytes, start: int) -> int | None:
        """Where the cell starting at `start` ends, None when past the buffer."""
        tag_end = buf.find(b">", start)
        if tag_end < 0:
            return None
        if buf[tag_end - 1 : tag_end] == b"/":
            return tag_end + 1
        close = buf.find(self.close, tag_end)
        return None if close < 0 else close + len(self.close)


def _formulas(buf: bytes, tags: _Tags, found: set[tuple[int, int]], name: str) -> None:
    at = 0
    size = len(tags.formula)
    while (at := buf.find(tags.formula, at)) >= 0:
        if buf[at + size : at + size + 1] not in (b" ", b">", b"/"):
            at += size
            continue
        start = buf.rfind(tags.cell, 0, at)
        end = tags.cell_end(buf, start) if start >= 0 else None
        if start < 0 or end is None or end < at:
            at += size
            continue
        cell = buf[start:end]
        tag_end = cell.find(b">")
        if not tags.value.search(cell) and b't="str"' not in cell[:tag_end]:
            ref = _REF.search(cell, 0, tag_end)
            if ref:
                found.add((int(ref[2]), column_index_from_string(ref[1].decode())))
                if len(found) > MAX_FORMULAS:
                    raise LoadError(
                        name,
                        f"more than {MAX_FORMULAS:,} formulas without a cached value; "
                        + FORMULA_ADVICE,
                    )
        at = end


def _ranges(buf: bytes, tags: _Tags, found: set[Range], name: str) -> None:
    at = 0
    while (at := buf.find(tags.merge, at)) >= 0:
        end = buf.find(b">", at)
        if end < 0:
            return
        ref = _RANGE.search(buf, at, end)
        if ref:
            first_row, first_col = int(ref[2]), column_index_from_string(ref[1].decode())
            last_row = int(ref[4]) if ref[4] else first_row
            last_col = column_index_from_string(ref[3].decode()) if ref[3] else first_col
            found.add((first_row, first_col, last_row, last_col))
            if len(found) > MAX_MERGES:
                raise LoadError(name, f"more than {MAX_MERGES:,} merged ranges in the sheet")
        at = end
