"""Reading input files (CSV, JSON, XLSX, YAML, and the store itself) into raw rows.

Loading knows nothing of the rules: it only turns bytes into `(line, {column: value})` rows and
says where each row came from. Anything that makes a file unusable raises `LoadError`.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from partners.exporting import unescape_column, unescape_formula
from partners.fields import RECORD_FIELDS

FIELDS = RECORD_FIELDS
FORMATS = {".csv": "csv", ".json": "json", ".xlsx": "xlsx", ".yaml": "yaml", ".yml": "yaml"}
INPUT_GLOB = "partners_*"
# Marker keys a loader puts in a row so that validation reports the problem with its line.
RAGGED = "__ragged__"
NOT_A_RECORD = "__not_a_record__"

# How much work one input may cause, as multiples of PARTNERS_UPLOAD_MAX_BYTES (B, 10 MB by
# default): a file is refused for what it would expand to, not for its size on disk. A CSV or
# JSON file cannot hold more text than its bytes; XLSX cells, shared strings and YAML aliases
# can, so every input is held to the same bounds. See `Limits`.
TEXT_PER_BYTE = 5  # characters of text: decoded CSV/JSON/YAML, or the sheet's kept cells
BYTES_PER_RECORD = 32  # records ≤ B / 32 (327,680 by default; the sample rows are ~60 bytes)
BYTES_PER_CELL = 2  # XLSX cells read (rows × the header's columns) ≤ B / 2
INFLATED_PER_BYTE = 10  # all XLSX members together, inflated
# Any file read from disk, checked before it is read: nothing larger could pass the limits
# above (text is at most TEXT_PER_BYTE × B bytes, an XLSX is no bigger than it inflates to).
FILE_PER_BYTE = INFLATED_PER_BYTE
# A zip member inflating more than this (and past 1 MB) is a bomb whatever its neighbours: a
# whole-archive ratio can be diluted with an incompressible member. Real sheets are ~5–15:1.
XLSX_MAX_RATIO = 100
XLSX_RATIO_FLOOR = 1024 * 1024
SHARED_STRINGS = "xl/sharedStrings.xml"
SHEET_MAX_ROWS = 1_048_576  # Excel's last row; a row number past it is not a real sheet
WARNINGS_PER_KIND = 10  # then "… and N more like this"


class LoadError(Exception):
    """The file cannot be used at all (missing, unreadable, not the format it claims)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"Failed to load {path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """The bounds of one input file, all derived from PARTNERS_UPLOAD_MAX_BYTES so that one
    setting says how big an input may be, whichever door it comes through."""

    upload_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        from django.conf import settings

        return cls(settings.PARTNERS_UPLOAD_MAX_BYTES)

    @property
    def text(self) -> int:
        return TEXT_PER_BYTE * self.upload_bytes

    @property
    def records(self) -> int:
        return self.upload_bytes // BYTES_PER_RECORD

    @property
    def cells(self) -> int:
        return self.upload_bytes // BYTES_PER_CELL

    @property
    def inflated(self) -> int:
        return INFLATED_PER_BYTE * self.upload_bytes

    @property
    def file(self) -> int:
        return FILE_PER_BYTE * self.upload_bytes

    def exceeded(self, name: str, what: str, limit: int, factor: str) -> LoadError:
        return LoadError(
            name,
            f"{what}; the limit is {limit:,} ({factor} PARTNERS_UPLOAD_MAX_BYTES)",
        )


@dataclass(slots=True)
class RawRow:
    line: int
    values: dict[str, Any]


@dataclass
class LoadedFile:
    """One input file as rows. `position` says how `RawRow.line` counts: CSV physical lines
    (header is line 1), XLSX sheet rows, or the 0-based record index of JSON and YAML."""

    path: str
    sha256: str
    position: str  # "Line", "Row" or "Record"
    rows: list[RawRow] = field(default_factory=list)
    irregular: bool = False  # some row carries a RAGGED or NOT_A_RECORD marker
    warnings: list[str] = field(default_factory=list)
    # A regular CSV is kept as columns (field → values) with its line numbers instead of rows.
    table: dict[str, list[str]] | None = None
    table_lines: list[int] = field(default_factory=list)
    # The fields a spreadsheet's header has (None for JSON and YAML, where each record says
    # its own): a field the file does not have is never changed by it.
    header: tuple[str, ...] | None = None
    source: str = ""  # the source name: the file's name unless the caller names one

    def raw_rows(self) -> list[RawRow]:
        if self.table is not None and not self.rows:
            names = list(self.table)
            self.rows = [
                RawRow(line, dict(zip(names, values, strict=True)))
                for line, *values in zip(self.table_lines, *self.table.values(), strict=True)
            ]
        return self.rows

    def column(self, name: str) -> list[Any]:
        if self.table is not None:
            return self.table.get(name) or [None] * len(self.table_lines)
        return [row.values.get(name) for row in self.rows]

    def lines(self) -> list[int]:
        return self.table_lines if self.table is not None else [row.line for row in self.rows]


def default_inputs(input_dir: Path) -> list[Path]:
    if not input_dir.is_dir():
        return []
    return sorted(
        path
        for path in input_dir.glob(INPUT_GLOB)
        if path.suffix.lower() in FORMATS and path.is_file()
    )


def load_path(path: Path, display: str | None = None) -> LoadedFile:
    shown = display or str(path)
    limits = Limits.from_settings()
    try:
        size = path.stat().st_size
        if size > limits.file and path.is_file():
            what = f"the file is {size:,} bytes"
            raise limits.exceeded(shown, what, limits.file, f"{FILE_PER_BYTE} ×")
        data = path.read_bytes()
    except FileNotFoundError:
        raise LoadError(shown, "no such file") from None
    except IsADirectoryError:
        raise LoadError(shown, "is a directory") from None
    except OSError as exc:
        raise LoadError(shown, exc.strerror or str(exc)) from None
    return load_bytes(data, shown, limits=limits)


def load_bytes(
    data: bytes, name: str, fmt: str | None = None, limits: Limits | None = None
) -> LoadedFile:
    """Parse `data` by `fmt`, or by the extension of `name`, within `limits` (default: from
    PARTNERS_UPLOAD_MAX_BYTES)."""
    fmt = fmt or FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        allowed = ", ".join(sorted(FORMATS))
        raise LoadError(name, f"unsupported format (use one of {allowed})")
    limits = limits or Limits.from_settings()
    digest = hashlib.sha256(data).hexdigest()
    loaders = {"csv": _load_csv, "json": _load_json, "xlsx": _load_xlsx, "yaml": _load_yaml}
    try:
        if fmt in loaders:
            _check_kind(data, name, fmt)
            loaded = loaders[fmt](data, name, digest, limits)
            _check_records(loaded, name, limits)
            # An empty export (only a header, say) is a mistake, never "no partners left":
            # with --prune it would remove every record.
            if not loaded.rows and not loaded.table_lines:
                raise LoadError(name, "has no records")
            loaded.source = Path(name).name
            return loaded
    except LoadError:
        raise
    except (RecursionError, MemoryError):
        raise LoadError(name, "nested too deeply") from None
    except Exception as exc:  # a parser's own error: say it, never a traceback
        raise LoadError(name, f"not valid {fmt.upper()}: {_first_line(exc)}") from None
    raise LoadError(name, f"unsupported format {fmt!r}")


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def collapse(warnings: list[str], kept: int = WARNINGS_PER_KIND) -> list[str]:
    """The first `kept` warnings of one kind, then one line for the rest: a file with a
    million repeated rows gives a readable list, not a million lines."""
    return collapse_count(warnings[:kept], len(warnings))


def collapse_count(first: list[str], count: int) -> list[str]:
    """`first` (some warnings of one kind) and a line for the rest of the `count`."""
    if count <= len(first):
        return first
    return [*first, f"… and {count - len(first):,} more like this"]


def decode_text(data: bytes, name: str) -> tuple[str, list[str]]:
    """UTF-8 (BOM or not), UTF-16 with BOM, else line by line (see `_decode_lines`)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as exc:
            raise LoadError(name, f"not valid UTF-16: {exc.reason} at byte {exc.start}") from None
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        return _decode_lines(data, name)


def _decode_lines(data: bytes, name: str) -> tuple[str, list[str]]:
    """Each line as UTF-8 if it is, else as Windows-1252, each such line named in a warning.

    A file that is not UTF-8 as a whole is usually an Excel export (all Windows-1252), but
    can be UTF-8 with a few lines pasted in from such a file: decoding it all as Windows-1252
    would turn every "Café" of the UTF-8 lines into "CafÃ©". Lines split as the CSV reader
    splits them (\\n, \\r\\n, \\r), so the numbers are the physical lines the errors use.
    """
    parts: list[str] = []
    fallback: list[int] = []
    utf8_beyond_ascii = False
    offset = 0
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        try:
            parts.append(line.decode("utf-8"))
            utf8_beyond_ascii = utf8_beyond_ascii or not line.isascii()
        except UnicodeDecodeError:
            try:
                parts.append(line.decode("cp1252"))
            except UnicodeDecodeError as exc:
                where = f"line {number}, byte {offset + exc.start}"
                raise LoadError(name, f"not valid UTF-8 or Windows-1252 text ({where})") from None
            fallback.append(number)
        offset += len(line)
    text = "".join(parts).removeprefix("\ufeff")
    if not utf8_beyond_ascii:
        return text, [f"{name}: not valid UTF-8, read as Windows-1252"]
    warnings = [f"{name}: Line {n}: not valid UTF-8, read as Windows-1252" for n in fallback]
    return text, collapse(warnings)


# What a file's first bytes say it is, whatever it is called: (signature, what it is, format).
SIGNATURES = (
    (b"%PDF", "a PDF document", None),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an Excel 97–2003 workbook (.xls) or another old Office file",
        None,
    ),
    (b"\x89PNG\r\n\x1a\n", "a PNG image", None),
    (b"\xff\xd8\xff", "a JPEG image", None),
    (b"GIF8", "a GIF image", None),
    (b"\x1f\x8b", "a gzip archive", None),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", None),
    (b"Rar!\x1a\x07", "a RAR archive", None),
    (b"{\\rtf", "an RTF document", None),
)
DAMAGED_ZIP = "a damaged zip archive"
PLAIN_ZIP = "a zip archive"
ZIP_KINDS = (
    ("xl/workbook.xml", "an XLSX workbook", "xlsx"),
    ("word/document.xml", "a Word document", None),
    ("ppt/presentation.xml", "a PowerPoint presentation", None),
    ("content.xml", "an OpenDocument file", None),
)


def _kind(data: bytes) -> tuple[str, str | None] | None:
    """What the bytes are when their signature says so, with the format that reads them."""
    for signature, label, fmt in SIGNATURES:
        if data.startswith(signature):
            return label, fmt
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return DAMAGED_ZIP, None
    for member, label, fmt in ZIP_KINDS:
        if member in names:
            return label, fmt
    return PLAIN_ZIP, None


def _check_kind(data: bytes, name: str, fmt: str) -> None:
    """A file named (or chosen) as one format whose bytes are another is named for what it is,
    instead of failing to decode as text."""
    found = _kind(data)
    if found is None or found[1] == fmt:
        return
    if fmt == "xlsx" and found[0] in (DAMAGED_ZIP, PLAIN_ZIP):
        return  # the XLSX reader says what is wrong with it (after its bomb checks)
    label, real = found
    advice = f"choose {real.upper()}" if real else "save it as CSV or XLSX"
    raise LoadError(name, f"looks like {label}, not {fmt.upper()}; {advice}")


def _check_text(data: bytes, name: str, limits: Limits) -> None:
    """Checked on the bytes, before decoding: no encoding read here has fewer bytes than
    characters, so this bounds the decoded text too."""
    if len(data) > limits.text:
        what = f"the file is {len(data):,} bytes of text"
        raise limits.exceeded(name, what, limits.text, f"{TEXT_PER_BYTE} ×")


def _check_records(loaded: LoadedFile, name: str, limits: Limits) -> None:
    count = len(loaded.table_lines) or len(loaded.rows)
    if count > limits.records:
        what = f"the file has {count:,} records"
        raise limits.exceeded(name, what, limits.records, f"1/{BYTES_PER_RECORD} of")


def _header_index(headers: Sequence[object], name: str) -> tuple[dict[int, str], list[str]]:
    """Map column positions to known field names; unknown columns become one warning."""
    known: dict[int, str] = {}
    unknown: list[str] = []
    for position, header in enumerate(headers):
        label = "" if header is None else str(header).strip()
        key = label.casefold()
        if key in FIELDS:
            if key in known.values():
                raise LoadError(name, f"column {key!r} appears twice in the header")
            known[position] = key
        elif label:
            unknown.append(label)
    warnings = []
    if unknown:
        warnings.append(_unknown_warning(name, unknown))
    return known, warnings


def _unknown_warning(name: str, unknown: Iterable[str]) -> str:
    listed = ", ".join(repr(u) for u in unknown)
    return f"{name}: ignored unknown columns {listed}; allowed columns are {', '.join(FIELDS)}"


def _load_csv(data: bytes, name: str, digest: str, limits: Limits) -> LoadedFile:
    _check_text(data, name, limits)
    text, warnings = decode_text(data, name)
    if "\x00" in text:
        raise LoadError(name, "contains NUL bytes; is it a CSV file?")
    if text.lstrip()[:1] in ("{", "[") and _is_json(text):
        raise LoadError(name, "looks like JSON, not CSV; choose JSON")
    loaded = LoadedFile(name, digest, "Line", warnings=warnings)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        headers = next(reader, None)
        if headers is None:
            return loaded
        columns, header_warnings = _header_index(headers, name)
        loaded.warnings += header_warnings
        loaded.header = tuple(columns.values())
        width = len(headers)
        records = list(reader)
        if reader.line_num == len(records) + 1:
            # Optimization: no record spans lines, so record i is on line i + 2 and the file
            # can be kept as columns; parsing row by row costs twice as long.
            kept = [(i + 2, r) for i, r in enumerate(records) if any(r)]
            if all(len(r) == width for _, r in kept):
                loaded.table_lines = [line for line, _ in kept]
                loaded.table = {
                    col: unescape_column([r[i] for _, r in kept]) for i, col in columns.items()
                }
                return loaded
        _csv_rows(loaded, text, columns, width)
    except csv.Error as exc:
        raise LoadError(name, f"line {reader.line_num}: {exc}") from None
    return loaded


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _csv_rows(loaded: LoadedFile, text: str, columns: dict[int, str], width: int) -> None:
    """Row by row, following physical lines: for records that span lines or ragged rows."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    line = reader.line_num + 1
    for row in reader:
        if any(row):
            values = {col: unescape_formula(row[i]) for i, col in columns.items() if i < len(row)}
            if len(row) > width and any(cell.strip() for cell in row[width:]):
                values[RAGGED] = f"{len(row)} fields but the header has {width}"
                loaded.irregular = True
            loaded.rows.append(RawRow(line, values))
        line = reader.line_num + 1


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a JSON number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in one object")
        result[key] = value
    return result


def _load_json(data: bytes, name: str, digest: str, limits: Limits) -> LoadedFile:
    _check_text(data, name, limits)
    text, warnings = decode_text(data, name)
    if not text.strip():
        raise LoadError(name, "empty file")
    try:
        document = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
        )
    except json.JSONDecodeError:
        if _looks_like_csv(text):
            raise LoadError(name, "looks like CSV, not JSON; choose CSV") from None
        raise
    return _from_document(document, name, digest, warnings, limits)


def _looks_like_csv(text: str) -> bool:
    """A first line of comma-separated words naming at least one known column."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    cells = {cell.strip().strip('"').casefold() for cell in first.split(",")}
    return "," in first and bool(cells & set(FIELDS))


class AliasRefused(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(
            f"YAML aliases (*name) are not accepted (the anchor at line {line} is re-used); "
            "write each value out: an alias can make a small file expand without bound"
        )


def _refuse_aliases(root: Any) -> None:
    """Walk the composed YAML nodes once; a node reached twice is an alias (or a merge key,
    which is one). PyYAML's composer shares aliased nodes without copying, so this refuses
    before anything is expanded, as go-yaml bounds aliases since CVE-2019-11253."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise AliasRefused(node.start_mark.line + 1)
        seen.add(id(node))
        if isinstance(node.value, list):  # a sequence's nodes, a mapping's (key, value) pairs
            for item in node.value:
                if isinstance(item, tuple):
                    stack.extend(item)
                else:
                    stack.append(item)


@functools.cache
def _yaml_loader() -> type:
    """PyYAML's safe loader (the C one when built), refusing aliases."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class NoAliasLoader(base):  # type: ignore[valid-type, misc]
        check_aliases = True

        def construct_document(self, node: Any) -> Any:
            if self.check_aliases:
                _refuse_aliases(node)
            return super().construct_document(node)

    return NoAliasLoader


def _load_yaml(data: bytes, name: str, digest: str, limits: Limits) -> LoadedFile:
    _check_text(data, name, limits)
    text, warnings = decode_text(data, name)
    if not text.strip():
        raise LoadError(name, "empty file")
    loader = _yaml_loader()(text)
    # Optimization: an alias needs a `*`; without one the walk over every node is skipped.
    loader.check_aliases = "*" in text
    try:
        document = loader.get_single_data()
    except AliasRefused as exc:
        raise LoadError(name, str(exc)) from None
    finally:
        loader.dispose()
    return _from_document(document, name, digest, warnings, limits)


def _from_document(
    document: Any, name: str, digest: str, warnings: list[str], limits: Limits
) -> LoadedFile:
    """Records from `{"partners": [...]}`, a bare list, or the store's `{"version", "oems"}`."""
    if isinstance(document, dict) and "oems" in document and "version" in document:
        records = _store_records(document, name)
    elif isinstance(document, dict) and "partners" in document:
        records = document["partners"]
    elif isinstance(document, list):
        records = document
    else:
        raise LoadError(name, 'expected {"partners": [...]}, a list of records, or a store file')
    if not isinstance(records, list):
        raise LoadError(name, '"partners" must be a list of records')
    if len(records) > limits.records:
        what = f"the file has {len(records):,} records"
        raise limits.exceeded(name, what, limits.records, f"1/{BYTES_PER_RECORD} of")
    loaded = LoadedFile(name, digest, "Record", warnings=warnings)
    unknown: dict[str, None] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            loaded.rows.append(RawRow(index, {NOT_A_RECORD: _type_name(record)}))
            loaded.irregular = True
            continue
        values: dict[str, Any] = {}
        for key, value in record.items():
            folded = str(key).strip().casefold()
            if folded in FIELDS:
                values[folded] = value
            else:
                unknown[str(key)] = None
        loaded.rows.append(RawRow(index, values))
    if unknown:
        loaded.warnings.append(_unknown_warning(name, unknown))
    return loaded


def _store_records(document: dict[str, Any], name: str) -> list[Any]:
    if document.get("version") != 1:
        raise LoadError(name, f"unsupported store version {document.get('version')!r}")
    oems = document["oems"]
    if not isinstance(oems, list):
        raise LoadError(name, '"oems" must be a list')
    records: list[Any] = []
    for oem in oems:
        if not isinstance(oem, dict) or not isinstance(oem.get("partners"), list):
            raise LoadError(name, 'each entry of "oems" needs a "partners" list')
        records.extend(oem["partners"])
    return records


def _check_zip(data: bytes, name: str, limits: Limits) -> None:
    """Refuse an XLSX that would inflate too far before any XML is parsed. The sizes in the
    zip's directory bound what `zipfile` will inflate (it stops there and checks the CRC)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        hint = "; it looks like text: choose CSV, JSON or YAML" if _is_text(data) else ""
        raise LoadError(name, f"not a valid XLSX file (not a zip archive{hint})") from None
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.filename == SHARED_STRINGS and info.file_size > limits.text:
            # openpyxl holds the whole table in memory, before any cell is read.
            what = f"its shared strings would inflate to {info.file_size:,} bytes"
            raise limits.exceeded(name, what, limits.text, f"{TEXT_PER_BYTE} ×")
        ratio = info.file_size / (info.compress_size or 1)
        if info.file_size > XLSX_RATIO_FLOOR and ratio > XLSX_MAX_RATIO:
            raise LoadError(
                name,
                f"XLSX member {info.filename} has a compression ratio of {ratio:,.0f}:1 "
                f"({info.file_size:,} bytes inflated); the limit is {XLSX_MAX_RATIO}:1",
            )
    if total > limits.inflated:
        what = f"the XLSX would inflate to {total:,} bytes"
        raise limits.exceeded(name, what, limits.inflated, f"{INFLATED_PER_BYTE} ×")


def _is_text(data: bytes) -> bool:
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 4090  # a character cut at the end of the sample
    return bool(data.strip())


def _load_xlsx(data: bytes, name: str, digest: str, limits: Limits) -> LoadedFile:
    """The first sheet in workbook order (not the "active" one, which depends on where the
    last person clicked), streamed: nothing of the sheet is held but the rows read."""
    _check_zip(data, name, limits)
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        if not book.worksheets:
            raise LoadError(name, "has no worksheet")
        sheet = book.worksheets[0]
        # The file's <dimension> may claim any size; read what the sheet really holds.
        sheet.reset_dimensions()
        loaded = LoadedFile(name, digest, "Row")
        _read_sheet(sheet, loaded, limits)
    finally:
        book.close()
    if not loaded.rows:
        raise LoadError(name, f"sheet {sheet.title!r} has no records")
    return loaded


def _blank(row: tuple[Any, ...]) -> bool:
    return row.count(None) + row.count("") == len(row)


def _read_sheet(sheet: Any, loaded: LoadedFile, limits: Limits) -> None:
    """Rows after the header (the first row with a value), as far as the header's last known
    column, within the limits.

    openpyxl's read-only reader yields one shared tuple for every row missing from the file
    and pads each row it has to the requested width: missing rows are skipped by identity,
    the width is cut at the header's last known column, and every row read counts its width
    against the cell limit, so a sparse sheet costs what it holds.
    """
    name = loaded.path
    cells = 0
    header: tuple[Any, ...] | None = None
    start = 1
    for start, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells += len(row)
        if start > SHEET_MAX_ROWS or cells > limits.cells:
            _sheet_too_big(name, start, limits)
        if not _blank(row):
            header = row
            break
    if header is None:
        return
    columns, loaded.warnings = _header_index(header, name)
    loaded.header = tuple(columns.values())
    width = max(columns, default=0) + 1
    missing: Any = None
    text = 0
    rows = sheet.iter_rows(min_row=start + 1, max_col=width, values_only=True)
    for number, row in enumerate(rows, start=start + 1):
        if number > SHEET_MAX_ROWS:
            _sheet_too_big(name, number, limits)
        if row is missing:
            continue
        cells += width
        if cells > limits.cells:
            _sheet_too_big(name, number, limits)
        if _blank(row):
            missing = row
            continue
        values = {col: unescape_formula(row[i]) for i, col in columns.items()}
        text += sum(len(v) for v in values.values() if isinstance(v, str))
        if text > limits.text:
            what = f"too much text by row {number:,} (is a long value in every row?)"
            raise limits.exceeded(name, what, limits.text, f"{TEXT_PER_BYTE} ×")
        loaded.rows.append(RawRow(number, values))
        if len(loaded.rows) > limits.records:
            what = f"too many records by row {number:,}"
            raise limits.exceeded(name, what, limits.records, f"1/{BYTES_PER_RECORD} of")


def _sheet_too_big(name: str, row: int, limits: Limits) -> None:
    if row > SHEET_MAX_ROWS:
        raise LoadError(name, f"the sheet has rows past a sheet's last row ({SHEET_MAX_ROWS:,})")
    what = f"too many cells by row {row:,} (rows × the header's columns)"
    raise limits.exceeded(name, what, limits.cells, f"1/{BYTES_PER_CELL} of")
