"""Reading input files (CSV, JSON, XLSX, YAML, and the store itself) into raw rows.

Loading knows nothing of the rules: it only turns bytes into `(line, {column: value})` rows and
says where each row came from. Anything that makes a file unusable raises `LoadError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELDS = ("name", "tier", "program", "oem", "poc", "notes", "updated_at", "created_at")
FORMATS = {".csv": "csv", ".json": "json", ".xlsx": "xlsx", ".yaml": "yaml", ".yml": "yaml"}
INPUT_GLOB = "partners_*"
# Marker keys a loader puts in a row so that validation reports the problem with its line.
RAGGED = "__ragged__"
NOT_A_RECORD = "__not_a_record__"

# An XLSX is a zip; refuse ones that would inflate past these before any XML is parsed.
XLSX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
XLSX_MAX_RATIO = 100


class LoadError(Exception):
    """The file cannot be used at all (missing, unreadable, not the format it claims)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"Failed to load {path}: {reason}")
        self.path = path
        self.reason = reason


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
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LoadError(shown, "no such file") from None
    except IsADirectoryError:
        raise LoadError(shown, "is a directory") from None
    except OSError as exc:
        raise LoadError(shown, exc.strerror or str(exc)) from None
    return load_bytes(data, shown)


def load_bytes(data: bytes, name: str, fmt: str | None = None) -> LoadedFile:
    """Parse `data` by `fmt`, or by the extension of `name`."""
    fmt = fmt or FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        allowed = ", ".join(sorted(FORMATS))
        raise LoadError(name, f"unsupported format (use one of {allowed})")
    digest = hashlib.sha256(data).hexdigest()
    loaders = {"csv": _load_csv, "json": _load_json, "xlsx": _load_xlsx, "yaml": _load_yaml}
    try:
        if fmt in loaders:
            loaded = loaders[fmt](data, name, digest)
            # An empty export (only a header, say) is a mistake, never "no partners left":
            # with --prune it would remove every record.
            if not loaded.rows and not loaded.table_lines:
                raise LoadError(name, "has no records")
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


def decode_text(data: bytes, name: str) -> tuple[str, list[str]]:
    """UTF-8 (BOM or not), UTF-16 with BOM, else Windows-1252 with a warning."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as exc:
            raise LoadError(name, f"not valid UTF-16: {exc.reason} at byte {exc.start}") from None
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise LoadError(name, f"not valid UTF-8 or Windows-1252 text (byte {exc.start})") from None
    return text, [f"{name}: not valid UTF-8, read as Windows-1252"]


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


def _load_csv(data: bytes, name: str, digest: str) -> LoadedFile:
    text, warnings = decode_text(data, name)
    if "\x00" in text:
        raise LoadError(name, "contains NUL bytes; is it a CSV file?")
    loaded = LoadedFile(name, digest, "Line", warnings=warnings)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        headers = next(reader, None)
        if headers is None:
            return loaded
        columns, header_warnings = _header_index(headers, name)
        loaded.warnings += header_warnings
        width = len(headers)
        records = list(reader)
        if reader.line_num == len(records) + 1:
            # Optimization: no record spans lines, so record i is on line i + 2 and the file
            # can be kept as columns; parsing row by row costs twice as long.
            kept = [(i + 2, r) for i, r in enumerate(records) if any(r)]
            if all(len(r) == width for _, r in kept):
                loaded.table_lines = [line for line, _ in kept]
                loaded.table = {col: [r[i] for _, r in kept] for i, col in columns.items()}
                return loaded
        _csv_rows(loaded, text, columns, width)
    except csv.Error as exc:
        raise LoadError(name, f"line {reader.line_num}: {exc}") from None
    return loaded


def _csv_rows(loaded: LoadedFile, text: str, columns: dict[int, str], width: int) -> None:
    """Row by row, following physical lines: for records that span lines or ragged rows."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    line = reader.line_num + 1
    for row in reader:
        if any(row):
            values = {col: row[i] for i, col in columns.items() if i < len(row)}
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


def _load_json(data: bytes, name: str, digest: str) -> LoadedFile:
    text, warnings = decode_text(data, name)
    if not text.strip():
        raise LoadError(name, "empty file")
    document = json.loads(
        text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
    )
    return _from_document(document, name, digest, warnings)


def _load_yaml(data: bytes, name: str, digest: str) -> LoadedFile:
    import yaml

    text, warnings = decode_text(data, name)
    if not text.strip():
        raise LoadError(name, "empty file")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    return _from_document(document, name, digest, warnings)


def _from_document(document: Any, name: str, digest: str, warnings: list[str]) -> LoadedFile:
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


def _check_zip(data: bytes, name: str) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise LoadError(name, "not a valid XLSX file (not a zip archive)") from None
    total = sum(info.file_size for info in archive.infolist())
    packed = sum(info.compress_size for info in archive.infolist()) or 1
    if total > XLSX_MAX_UNCOMPRESSED:
        raise LoadError(
            name, f"XLSX would inflate to {total:,} bytes; the limit is {XLSX_MAX_UNCOMPRESSED:,}"
        )
    if total / packed > XLSX_MAX_RATIO:
        raise LoadError(name, f"XLSX compression ratio {total // packed}:1 is suspicious")


def _load_xlsx(data: bytes, name: str, digest: str) -> LoadedFile:
    _check_zip(data, name)
    import tablib

    dataset = tablib.Dataset().load(io.BytesIO(data), format="xlsx")
    loaded = LoadedFile(name, digest, "Row")
    if not dataset.headers:
        return loaded
    columns, loaded.warnings = _header_index(dataset.headers, name)
    for index, row in enumerate(dataset):
        if any(cell not in (None, "") for cell in row):
            values = {col: row[i] for i, col in columns.items() if i < len(row)}
            loaded.rows.append(RawRow(index + 2, values))
    return loaded
