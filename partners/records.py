"""Raw rows → normalized, validated records (all or nothing).

Every error names the file, the line (as the loader counted it) and the field, and every error
in the input is reported, not only the first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from partners.loaders import NOT_A_RECORD, RAGGED, LoadedFile, _type_name
from partners.normalize import (
    clean,
    format_timestamp,
    identity_key,
    normalize_notes,
    normalize_tier,
    parse_timestamp,
)

REQUIRED = ("name", "tier", "program", "oem")
OPTIONAL = ("poc", "notes")
COMPARED = ("name", "tier", "program", "oem", "poc", "notes")
MAX_LENGTH = {"name": 200, "tier": 100, "program": 200, "oem": 200, "poc": 200, "notes": 5000}


def record_dict(record: Any) -> dict[str, str | None]:
    """The seed's eight keys, in the seed's order."""
    return {
        "name": record.name,
        "tier": record.tier,
        "program": record.program,
        "oem": record.oem,
        "poc": record.poc,
        "notes": record.notes,
        "updated_at": record.updated_at,
        "created_at": record.created_at,
    }


@dataclass(slots=True)
class Record:
    name: str
    tier: str
    program: str
    oem: str
    poc: str | None
    notes: str | None
    created_at: str | None
    updated_at: str | None
    name_key: str
    oem_key: str
    source: str = ""
    position: str = "Line"
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.oem_key, self.name_key)

    @property
    def where(self) -> str:
        return f"{self.source}: {self.position} {self.line}"

    def compared(self) -> tuple[str | None, ...]:
        return (self.name, self.tier, self.program, self.oem, self.poc, self.notes)

    def to_dict(self) -> dict[str, str | None]:
        return record_dict(self)


@dataclass
class Problem:
    """One validation error, or a warning tied to a line."""

    file: str
    position: str
    line: int
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.position} {self.line}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": str(self)}


@dataclass
class Built:
    records: list[Record] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


FieldError = tuple[str | None, str]


def _text(value: Any, name: str, numbers_are_text: bool) -> str | None:
    """A field as text. Spreadsheet numbers are text the user typed; other types are errors."""
    if value is None or isinstance(value, str):
        return value
    if numbers_are_text and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    raise TypeError(f"{name} must be a string, not {_type_name(value)}")


def _control_character(value: str, allow_layout: bool) -> str | None:
    # Optimization: printable ASCII (the common case) holds no control character.
    if value.isascii() and value.isprintable():
        return None
    for char in value:
        if unicodedata.category(char) == "Cc" and not (allow_layout and char in "\n\t"):
            return f"U+{ord(char):04X}"
    return None


def normalize_row(
    values: Mapping[str, Any], numbers_are_text: bool = False
) -> tuple[dict[str, Any], list[FieldError]]:
    """Clean and check one row's fields: the cleaned values and `(field, message)` errors."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    for name in (*REQUIRED, *OPTIONAL):
        try:
            text = _text(values.get(name), name, numbers_are_text)
        except TypeError as exc:
            errors.append((name, str(exc)))
            continue
        value = normalize_notes(text) if name == "notes" else clean(text)
        out[name] = value
        if value is None:
            if name in REQUIRED:
                errors.append((name, f"missing {name}"))
            continue
        if len(value) > MAX_LENGTH[name]:
            limit = MAX_LENGTH[name]
            errors.append((name, f"{name} is longer than {limit} characters ({len(value):,})"))
        bad = _control_character(value, allow_layout=name == "notes")
        if bad:
            errors.append((name, f"{name} contains a control character ({bad})"))
        if name == "tier":
            out[name] = normalize_tier(value)
    for name in ("created_at", "updated_at"):
        try:
            out[name] = _timestamp(values.get(name), name)
        except (ValueError, OverflowError) as exc:
            errors.append((name, str(exc) or f"{name} is out of range"))
    return out, errors


def _timestamp(raw: Any, name: str) -> str | None:
    if isinstance(raw, datetime):
        return format_timestamp(raw)
    if isinstance(raw, date):
        return format_timestamp(datetime(raw.year, raw.month, raw.day))
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise ValueError(f"{name} must be an ISO 8601 time, not {_type_name(raw)}")
    try:
        return parse_timestamp(raw)
    except (ValueError, OverflowError):
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise ValueError(f"{name} is not an ISO 8601 time: {shown!r}") from None


def build_records(
    files: Iterable[LoadedFile],
    aliases: Mapping[str, str],
    known_oems: Mapping[str, str],
) -> Built:
    """Normalize and validate every row of every file.

    `aliases` maps OEM identity keys to their fixed spelling; `known_oems` maps the keys of
    OEMs already in the database to the spelling they have there. Any other OEM is spelled
    as it first appears in the input.
    """
    built = Built()
    first_spelling: dict[str, str] = {}
    seen: dict[tuple[str, str], Record] = {}
    for loaded in files:
        built.warnings += loaded.warnings
        numbers_are_text = loaded.position == "Row"  # spreadsheet cells
        for row in loaded.rows:
            values = row.values
            if NOT_A_RECORD in values:
                built.errors.append(
                    Problem(
                        loaded.path,
                        loaded.position,
                        row.line,
                        None,
                        f"expected an object, not {values[NOT_A_RECORD]}",
                    )
                )
                continue
            out, errors = normalize_row(values, numbers_are_text)
            if RAGGED in values:
                errors.append((None, f"has {values[RAGGED]}"))
            if errors:
                built.errors += [
                    Problem(loaded.path, loaded.position, row.line, f, m) for f, m in errors
                ]
                continue
            oem_key = identity_key(out["oem"])
            oem = aliases.get(oem_key) or known_oems.get(oem_key)
            if oem is None:
                oem = first_spelling.setdefault(oem_key, out["oem"])
            else:
                oem_key = identity_key(oem)
            record = Record(
                name=out["name"],
                tier=out["tier"],
                program=out["program"],
                oem=oem,
                poc=out["poc"],
                notes=out["notes"],
                created_at=out["created_at"],
                updated_at=out["updated_at"],
                name_key=identity_key(out["name"]),
                oem_key=oem_key,
                source=loaded.path,
                position=loaded.position,
                line=row.line,
            )
            earlier = seen.get(record.key)
            if earlier is None:
                seen[record.key] = record
                built.records.append(record)
            elif earlier.compared() == record.compared():
                built.warnings.append(
                    f"{record.where}: same record as {earlier.where}; counted once"
                )
            else:
                differing = [
                    f
                    for f, a, b in zip(COMPARED, earlier.compared(), record.compared(), strict=True)
                    if a != b
                ]
                built.errors.append(
                    Problem(
                        record.source,
                        record.position,
                        record.line,
                        differing[0],
                        f"{record.name!r} at {record.oem!r} is also at {earlier.where} "
                        f"with a different {', '.join(differing)}",
                    )
                )
    return built
