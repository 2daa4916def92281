"""Reading input files (CSV, JSON, XLSX, YAML, and the store itself) into raw rows.

Loading knows nothing of the rules: it only turns bytes into `(line, {column: value})` rows and
says where each row came from. Anything that makes a file unusable raises `LoadError`.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import functools
import hashlib
import io
import itertools
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AnyStr

from partners.fields import RECORD_FIELDS
from partners.headers import (
    CHUNK_ROWS,
    Batch,
    HeaderError,
    Mark,
    Row,
    batched,
    collapse_count,
    find_header,
    matches,
    read_header,
    samples,
    take_rows,
    unknown_warning,
)
from partners.profiles import Profile, value_key

FIELDS = RECORD_FIELDS
FORMATS = {".csv": "csv", ".json": "json", ".xlsx": "xlsx", ".yaml": "yaml", ".yml": "yaml"}
INPUT_GLOB = "partners_*"
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
SAMPLE_CHARS = 64 * 1024  # the text the delimiter is told from

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


@dataclass
class LoadedFile:
    """One input file as columns: each field's values in row order, beside the rows' line
    numbers. One representation for every format, which validation reads without asking
    the loader anything (partners/records.py).

    `position` says how `lines` count: CSV physical lines, XLSX sheet rows (both the file's
    own, whatever was skipped above the header), or the 0-based record index of JSON/YAML.
    """

    path: str
    sha256: str
    position: str  # "Line", "Row" or "Record"
    columns: dict[str, list[Any]] = field(default_factory=dict)  # field → a value per row
    lines: list[int] = field(default_factory=list)
    marks: dict[int, Mark] = field(default_factory=dict)  # row index → what is wrong with it
    # The fields a spreadsheet's header (and its profile's constants) give every row; None
    # for JSON and YAML, where `keys` says which fields each record has.
    header: tuple[str, ...] | None = None
    keys: list[frozenset[str]] | None = None
    warnings: list[str] = field(default_factory=list)
    source: str = ""  # the source name: the profile's, else the file's name, unless given
    profile: str | None = None  # the profile the file was read with
    # What else the rows depend on (the profile's rules, a chosen sheet): a sha256, or "".
    read_with: str = ""


def default_inputs(input_dir: Path, patterns: Sequence[str] = ()) -> list[Path]:
    """The folder's `partners_*` files and the files an import profile's pattern matches
    (case-insensitively), in sorted order."""
    if not input_dir.is_dir():
        return []
    lowered = [pattern.casefold() for pattern in patterns]
    return sorted(
        path
        for path in input_dir.iterdir()
        if path.suffix.lower() in FORMATS
        and path.is_file()
        and (
            fnmatch.fnmatchcase(path.name, INPUT_GLOB)
            or any(fnmatch.fnmatchcase(path.name.casefold(), p) for p in lowered)
        )
    )


@dataclass(frozen=True)
class Reading:
    """How to read one file beyond its format: the profile it is read with (its columns,
    constants, value maps, sheet, header row, delimiter) and a sheet chosen for this run."""

    profile: Profile | None = None
    sheet: str | int | None = None

    @property
    def chosen_sheet(self) -> str | int | None:
        if self.sheet is not None:
            return self.sheet
        return self.profile.sheet if self.profile else None

    @property
    def digest(self) -> str:
        """What else a file's rows depend on (a profile's rules, a chosen sheet), or ""."""
        return "" if self == Reading() else hashlib.sha256(repr(self).encode()).hexdigest()

    def source_of(self, name: str) -> str:
        """The source a file read this way belongs to: its profile's, else the file's name."""
        return self.profile.name if self.profile else Path(name).name


@dataclass
class InputFile:
    """A file read from disk, not parsed yet. What it is (its bytes' sha256, the rules it is
    read with, its source) is known before its rows are, so a sync can tell that a source's
    files are what it last applied without parsing them (`partners.sync`)."""

    path: str  # as shown
    data: bytes
    reading: Reading
    sha256: str
    source: str

    @property
    def profile(self) -> str | None:
        return self.reading.profile.name if self.reading.profile else None

    @property
    def read_with(self) -> str:
        return self.reading.digest

    def load(self) -> LoadedFile:
        loaded = load_bytes(self.data, self.path, reading=self.reading, digest=self.sha256)
        loaded.source = self.source
        return loaded


def load_path(path: Path, display: str | None = None, reading: Reading | None = None) -> LoadedFile:
    return read_input(path, display, reading).load()


def read_input(path: Path, display: str | None = None, reading: Reading | None = None) -> InputFile:
    """The file at `path`, read and hashed but not parsed (LoadError when it cannot be read
    or is larger than any input may be)."""
    shown = display or str(path)
    reading = reading or Reading()
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
    digest = hashlib.sha256(data).hexdigest()
    return InputFile(shown, data, reading, digest, reading.source_of(shown))


def load_bytes(
    data: bytes,
    name: str,
    fmt: str | None = None,
    limits: Limits | None = None,
    reading: Reading | None = None,
    digest: str | None = None,
) -> LoadedFile:
    """Parse `data` by `fmt`, or by the extension of `name`, within `limits` (default: from
    PARTNERS_UPLOAD_MAX_BYTES), read as `reading` says (default: no profile, first sheet).
    `digest` is the bytes' sha256 when the caller has it already."""
    fmt = _format(name, fmt)
    limits = limits or Limits.from_settings()
    reading = reading or Reading()
    digest = digest or hashlib.sha256(data).hexdigest()
    loaders = {"csv": _load_csv, "json": _load_json, "xlsx": _load_xlsx, "yaml": _load_yaml}
    try:
        _check_kind(data, name, fmt)
        loaded = loaders[fmt](data, name, digest, limits, reading)
        _check_records(loaded, name, limits)
        # An empty export (only a header, say) is a mistake, never "no partners left":
        # with --prune it would remove every record.
        if not loaded.lines:
            raise LoadError(name, "has no records")
        profile = reading.profile
        if profile is not None:
            _apply_profile(loaded, profile)
        loaded.source = reading.source_of(name)
        loaded.profile = profile.name if profile else None
        loaded.read_with = reading.digest
        return loaded
    except LoadError:
        raise
    except HeaderError as exc:
        raise LoadError(name, str(exc)) from None
    except (RecursionError, MemoryError):
        raise LoadError(name, "nested too deeply") from None
    except Exception as exc:  # a parser's own error: say it, never a traceback
        raise LoadError(name, f"not valid {fmt.upper()}: {_first_line(exc)}") from None


def _format(name: str, fmt: str | None) -> str:
    fmt = fmt or FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        allowed = ", ".join(sorted(FORMATS))
        raise LoadError(name, f"unsupported format (use one of {allowed})")
    if fmt not in FORMATS.values():
        raise LoadError(name, f"unsupported format {fmt!r}")
    return fmt


def _apply_profile(loaded: LoadedFile, profile: Profile) -> None:
    """A profile's constants (every row) and value maps (per field), applied before any
    rule, so normalization and validation stay the one path. A constant is stated by the
    file, as a column would be."""
    count = len(loaded.lines)
    for name, value in profile.constants:
        loaded.columns[name] = [value] * count
    if loaded.header is not None:
        extra = [n for n, _ in profile.constants if n not in loaded.header]
        loaded.header = (*loaded.header, *extra)
    elif loaded.keys is not None:
        added = frozenset(n for n, _ in profile.constants)
        interned: dict[frozenset[str], frozenset[str]] = {}
        loaded.keys = [interned.setdefault(k | added, k | added) for k in loaded.keys]
    for name, table in profile.value_maps().items():
        column = loaded.columns.get(name)
        if not column:
            continue
        # Optimization: each distinct value is looked up once, not each cell.
        found = dict.fromkeys(v for v in column if isinstance(v, str))
        replace = {v: table[value_key(v)] for v in found if value_key(v) in table}
        if replace:
            loaded.columns[name] = [replace.get(v, v) if isinstance(v, str) else v for v in column]


@dataclass
class Columns:
    """A spreadsheet's header as the admin's mapping step shows it: each column's label with
    its first values, the row the header is on, and the warnings reading it gave."""

    labels: list[str]
    samples: dict[str, list[Any]]
    line: int
    position: str
    warnings: list[str]


def read_columns(
    data: bytes, name: str, fmt: str | None = None, reading: Reading | None = None
) -> Columns:
    """The header and first values of a CSV or XLSX file, found as a sync finds them (the
    same search, sheet and delimiter), without reading the rest. LoadError when unusable."""
    fmt = _format(name, fmt)
    if fmt not in ("csv", "xlsx"):
        raise LoadError(name, f"{fmt.upper()} has no columns to map; each record names its fields")
    limits = Limits.from_settings()
    reading = reading or Reading()
    try:
        _check_kind(data, name, fmt)
        if fmt == "csv":
            try:
                source: Any = _csv_source(data, name, limits, reading.profile)
                return _columns(source, name, reading.profile)
            except UnicodeDecodeError:  # not UTF-8 after all, as in `_load_csv`
                source = _csv_source(data, name, limits, reading.profile, utf8=False)
                return _columns(source, name, reading.profile)
        from partners.sheets import open_sheet

        with open_sheet(data, name, limits, reading.chosen_sheet) as sheet_source:
            return _columns(sheet_source, name, reading.profile)
    except LoadError:
        raise
    except HeaderError as exc:
        raise LoadError(name, str(exc)) from None
    except Exception as exc:
        raise LoadError(name, f"not valid {fmt.upper()}: {_first_line(exc)}") from None


def _columns(source: Any, name: str, profile: Profile | None) -> Columns:
    index, head = find_header(source.rows(), profile, source.position)
    if not head:
        raise LoadError(name, "has no header")
    header = read_header(head, index, name, source.position, profile)
    # A row at a time: no more rows read than the samples need, as a sync would read them.
    after = head[-1][0]
    below = itertools.chain(batched(head[index + 1 :]), source.rest(after, len(header.labels), 1))
    first = samples(header, below)
    warnings = [*source.warnings, *header.warnings]
    return Columns(header.labels, first, header.line, source.position, warnings)


def read_table(loaded: LoadedFile, source: Any, profile: Profile | None) -> None:
    """A spreadsheet (`source`: CSV or XLSX rows) into `loaded`: its header found and its
    rows below turned into columns."""
    index, head = find_header(source.rows(), profile, source.position)
    loaded.warnings += source.warnings
    if not head:
        return
    header = read_header(head, index, loaded.path, source.position, profile)
    loaded.warnings += header.warnings
    loaded.header = tuple(header.positions.values())
    batches = itertools.chain(batched(head[index + 1 :]), source.rest(head[-1][0], header.width))
    take_rows(
        loaded,
        header,
        batches,
        text=source.text,
        ragged=source.text,
        escapes=source.escapes,
        mark=source.mark,
    )


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
    count = len(loaded.lines)
    if count > limits.records:
        what = f"the file has {count:,} records"
        raise limits.exceeded(name, what, limits.records, f"1/{BYTES_PER_RECORD} of")


class _CsvSource:
    """A CSV's rows for `read_table`: non-blank records with the physical line each starts
    on, read as the text is decoded (no list of raw rows, no second copy of the text)."""

    position = "Line"
    text = True
    mark = None

    def __init__(
        self, stream: Any, name: str, delimiter: str, warnings: list[str], escapes: bool
    ) -> None:
        self.name = name
        self.escapes = escapes  # whether a cell may start with the export's apostrophe
        self.reader = csv.reader(stream, delimiter=delimiter, strict=True)
        self.warnings = warnings

    def rows(self) -> Iterator[Row]:
        """One record at a time, for the header search."""
        reader = self.reader
        previous = reader.line_num
        try:
            for row in reader:
                if any(row):
                    yield previous + 1, row
                previous = reader.line_num
        except csv.Error as exc:
            raise self._error(exc) from None

    def rest(self, after: int, width: int, size: int = CHUNK_ROWS) -> Iterator[Batch]:
        """The records after the header, `size` at a time: one pass, the reader goes on from
        where the header search stopped.

        Optimization: a batch is read by islice in C, and when the reader went on by as many
        lines as it gave records (no quoted line break in them) their lines are a range; blank
        records are dropped by a mask made in C (map(any)). The per-record generator took
        0.15 s of a 100,000-row file's 0.4 s."""
        reader = self.reader
        previous = reader.line_num
        while True:
            try:
                batch = list(itertools.islice(reader, size))
            except csv.Error as exc:
                raise self._error(exc) from None
            if not batch:
                return
            lines: Sequence[int]
            if reader.line_num - previous == len(batch):
                lines = range(previous + 1, reader.line_num + 1)
            else:  # a record spans lines: each starts after the lines of those before it
                spans = map(_lines_of, batch[:-1])
                lines = list(itertools.accumulate(spans, initial=previous + 1))
            previous = reader.line_num
            kept = list(map(any, batch))
            if not all(kept):
                batch = list(itertools.compress(batch, kept))
                lines = list(itertools.compress(lines, kept))
            if batch:
                yield lines, batch

    def _error(self, exc: csv.Error) -> LoadError:
        return LoadError(self.name, f"line {self.reader.line_num}: {exc}")


def _lines_of(row: list[str]) -> int:
    """The physical lines a record took: its own, and one per line break in its quoted
    fields (kept as read: \r\n, \n or \r, each one line end, as the reader's lines split)."""
    text = "\x00".join(row)  # no NUL in a CSV read: a \r and a \n of two cells stay apart
    return 1 + text.count("\n") + text.count("\r") - text.count("\r\n")


def _load_csv(data: bytes, name: str, digest: str, limits: Limits, reading: Reading) -> LoadedFile:
    try:
        loaded = LoadedFile(name, digest, "Line")
        read_table(loaded, _csv_source(data, name, limits, reading.profile), reading.profile)
        return loaded
    except UnicodeDecodeError:
        # Not UTF-8 after all: read again line by line (see `decode_text`).
        loaded = LoadedFile(name, digest, "Line")
        source = _csv_source(data, name, limits, reading.profile, utf8=False)
        read_table(loaded, source, reading.profile)
        return loaded


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _csv_source(
    data: bytes, name: str, limits: Limits, profile: Profile | None, utf8: bool = True
) -> _CsvSource:
    """The file's text as a stream and its delimiter. UTF-8 is decoded as it is read (a
    UnicodeDecodeError on the way means: not UTF-8, try again with `utf8=False`); UTF-16 and
    text that is not UTF-8 are decoded whole (`decode_text`)."""
    _check_text(data, name, limits)
    warnings: list[str] = []
    stream: Any
    raw: str | bytes = data
    if utf8 and not data.startswith(UTF16_BOMS):
        if b"\x00" in data:
            raise LoadError(name, "contains NUL bytes; is it a CSV file?")
        sample = data[:SAMPLE_CHARS].decode("utf-8-sig", errors="ignore")
        if sample.lstrip()[:1] in ("{", "[") and _is_json(data.decode("utf-8-sig")):
            raise LoadError(name, "looks like JSON, not CSV; choose JSON")
        stream = utf8_lines(data)
        whole = len(data) <= SAMPLE_CHARS
    else:
        text, warnings = decode_text(data, name)
        if "\x00" in text:
            raise LoadError(name, "contains NUL bytes; is it a CSV file?")
        if text.lstrip()[:1] in ("{", "[") and _is_json(text):
            raise LoadError(name, "looks like JSON, not CSV; choose JSON")
        sample = text[:SAMPLE_CHARS]
        stream = io.StringIO(text, newline="")
        raw = text
        whole = len(text) <= SAMPLE_CHARS
    delimiter = profile.delimiter if profile and profile.delimiter else None
    if delimiter is None:
        delimiter = detect_delimiter(sample, profile, whole)
        if delimiter != ",":
            warnings.append(
                f"{name}: read as {DELIMITERS[delimiter]}-separated: its columns are "
                f"separated by {delimiter!r}, not commas"
            )
    return _CsvSource(stream, name, delimiter, warnings, _may_escape(raw, delimiter))


ESCAPE_LOOKS = 1000  # apostrophes looked at before any is taken for a cell's first character


def _may_escape(text: str | bytes, delimiter: str) -> bool:
    """Whether a cell below the header may start with an apostrophe, the export's formula
    escape: such a cell follows a line end, the delimiter or its opening quote (the text's
    first cell is in the header or above it).

    Optimization: the text's apostrophes are found by memchr, and a file without one at a
    cell's start is not looked through again column by column (`unescape_column`): loading a
    100,000-row CSV 0.03-0.05 s less (in process, alternating x16, min/median: 0.304/0.342 ->
    0.271/0.291 s)."""
    befores = ("\n", "\r", '"', delimiter)
    if isinstance(text, bytes):
        return _starts_a_cell(text, b"'", tuple(b.encode() for b in befores))
    return _starts_a_cell(text, "'", befores)


def _starts_a_cell(text: AnyStr, apostrophe: AnyStr, befores: tuple[AnyStr, ...]) -> bool:
    at = text.find(apostrophe)
    for _ in range(ESCAPE_LOOKS):
        if at < 0:
            return False
        if text.endswith(befores, 0, at):
            return True
        at = text.find(apostrophe, at + 1)
    return True  # too many to look at: each column is looked through


LINES_BLOCK = 1024 * 1024  # bytes split into lines at a time


def utf8_lines(data: bytes) -> Iterator[str]:
    """UTF-8 `data` (a BOM skipped) as the lines csv reads (`newline=""`: each line ends with
    its own \\n, \\r\\n or \\r), a block of bytes at a time. UnicodeDecodeError when not UTF-8.

    Optimization: each line is decoded on its own, so a line of ASCII takes the decoder's fast
    path whatever its neighbours hold; TextIOWrapper decoded 8 KB at a time, all of it the
    slow way once one name in it was "Müller" (5% of the rows: every block). Cut after a line
    end, a block never splits a line or a character."""
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    while start < len(data):
        after = start + LINES_BLOCK
        end = data.find(b"\n", after) + 1 or data.find(b"\r", after) + 1 or len(data)
        yield from map(bytes.decode, data[start:end].splitlines(keepends=True))
        start = end


def detect_delimiter(sample: str, profile: Profile | None = None, whole: bool = True) -> str:
    """The delimiter of the first rows: the one whose rows name the most fields, synonyms or
    profile columns (a comma on a tie); with no header to go by, the one that splits the
    first row into the most columns."""
    if not whole:
        sample = sample[: sample.rfind("\n") + 1] or sample  # whole lines only
    mapped = profile.mapped() if profile else {}
    best, best_score = ",", 0
    widths: dict[str, int] = {}
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, strict=True)
        try:
            rows = [row for row in itertools.islice(reader, 200) if any(row)][:20]
        except csv.Error:
            continue
        score = max((matches(row, mapped) for row in rows), default=0)
        if score > best_score:
            best, best_score = delimiter, score
        widths[delimiter] = len(rows[0]) if rows else 0
    if best_score or widths.get(",", 0) > 1:
        return best
    widest = max(widths, key=lambda d: widths[d], default=",")
    return widest if widths.get(widest, 0) > 1 else ","


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a JSON number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in one object")
        result[key] = value
    return result


def _load_json(data: bytes, name: str, digest: str, limits: Limits, reading: Reading) -> LoadedFile:
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


def _load_yaml(data: bytes, name: str, digest: str, limits: Limits, reading: Reading) -> LoadedFile:
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
    columns: dict[str, list[Any]] = {f: [] for f in FIELDS}
    keys: list[frozenset[str]] = []
    interned: dict[frozenset[str], frozenset[str]] = {}  # one object per distinct set of keys
    unknown: dict[str, None] = {}
    for index, record in enumerate(records):
        values: dict[str, Any] = {}
        if not isinstance(record, dict):
            message = f"expected an object, not {_type_name(record)}"
            loaded.marks[index] = Mark(message, alone=True)
        else:
            for key, value in record.items():
                folded = str(key).strip().casefold()
                if folded in FIELDS:
                    values[folded] = value
                else:
                    unknown[str(key)] = None
        for name_, column in columns.items():
            column.append(values.get(name_))
        found = frozenset(values)
        keys.append(interned.setdefault(found, found))
        loaded.lines.append(index)
    loaded.columns, loaded.keys = columns, keys
    if unknown:
        loaded.warnings.append(unknown_warning(name, unknown))
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


def check_zip(data: bytes, name: str, limits: Limits) -> None:
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


def _load_xlsx(data: bytes, name: str, digest: str, limits: Limits, reading: Reading) -> LoadedFile:
    from partners.sheets import open_sheet

    loaded = LoadedFile(name, digest, "Row")
    with open_sheet(data, name, limits, reading.chosen_sheet) as source:
        read_table(loaded, source, reading.profile)
    if not loaded.lines:
        raise LoadError(name, f"sheet {source.title!r} has no records")
    return loaded
