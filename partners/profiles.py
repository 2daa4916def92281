"""Import profiles: how one source's files map onto partner tiers.

A profile names the source, says which column holds which field (or is ignored), gives
constants for fields the files lack and value maps per field, and where to read (sheet, header
row, delimiter). The loader applies it (partners/loaders.py), so normalization and validation
stay the one path for every file. Profiles live in the database (`ImportProfile`) and travel as
YAML (`manage.py profiles export|import`); the rules about what a valid profile is are here.
"""

from __future__ import annotations

import fnmatch
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from partners.fields import (
    FIELD_NAMES,
    RECORD_FIELDS,
    REQUIRED,
    SYNONYM_FIELDS,
    header_key,
)

IGNORE = "ignore"
AUTO = "auto"
KEYS = ("name", "pattern", "sheet", "header_row", "delimiter", "columns", "constants", "values")
MAX_YAML_BYTES = 1024 * 1024  # a profile file is a few lines; anything this big is a mistake
NAME_LENGTH = 200


class ProfileError(Exception):
    """Profiles that cannot be saved: every problem, each naming the profile and its key."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass(frozen=True)
class Profile:
    name: str
    pattern: str = ""
    sheet: str | int | None = None  # a name, a 1-based number, or None for the first sheet
    header_row: int | None = None  # 1-based; None: found
    delimiter: str = ""  # "": detected
    columns: tuple[tuple[str, str], ...] = ()  # (the file's column, field or "ignore")
    constants: tuple[tuple[str, str], ...] = ()  # (field, value for every row)
    values: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = field(default=())

    def mapped(self) -> dict[str, str]:
        """header_key of each column the profile names → its field or "ignore"."""
        return {header_key(column): target for column, target in self.columns}

    def value_maps(self) -> dict[str, dict[str, str]]:
        """field → {value as compared: replacement} (see `value_key`)."""
        return {name: {value_key(a): b for a, b in pairs} for name, pairs in self.values}


def value_key(value: str) -> str:
    """A value as a value map compares it: spacing and case do not matter."""
    return " ".join(value.split()).casefold()


def parse_sheet(sheet: str | int | None) -> str | int | None:
    """`--sheet 2` is the second sheet, `--sheet Data` the sheet named so; empty is the first."""
    if sheet is None or sheet == "":
        return None
    if isinstance(sheet, int):
        return sheet
    return int(sheet) if sheet.isdigit() else sheet


def problems(profile: Profile) -> list[tuple[str, str]]:
    """What makes `profile` unusable, as (key, message): unknown fields, a field mapped twice,
    a required field neither mapped from a column nor given as a constant."""
    found: list[tuple[str, str]] = []
    allowed = f"fields are {', '.join(RECORD_FIELDS)}"
    if not profile.name.strip():
        found.append(("name", "a profile needs a name"))
    elif len(profile.name) > NAME_LENGTH:
        found.append(("name", f"the name is longer than {NAME_LENGTH} characters"))
    if "/" in profile.pattern or "\\" in profile.pattern:
        found.append(("pattern", "a pattern matches file names, without folders"))
    if profile.header_row is not None and profile.header_row < 1:
        found.append(("header_row", "the header row is a 1-based number or auto"))
    if isinstance(profile.sheet, int) and profile.sheet < 1:
        found.append(("sheet", "a sheet is a name or a 1-based number"))
    if profile.delimiter and (
        len(profile.delimiter) != 1 or profile.delimiter.isalnum() or profile.delimiter in '"\r\n'
    ):
        found.append(("delimiter", f"{profile.delimiter!r} cannot separate columns"))
    sources: dict[str, str] = {}
    columns_seen: set[str] = set()
    for column, target in profile.columns:
        if not column.strip():
            found.append(("columns", "a column needs a name"))
        elif header_key(column) in columns_seen:
            found.append(("columns", f"column {column!r} is listed twice"))
        columns_seen.add(header_key(column))
        if target == IGNORE:
            continue
        if target not in RECORD_FIELDS:
            found.append(
                (
                    "columns",
                    f"column {column!r} maps to unknown field {target!r}; {allowed}, or ignore",
                )
            )
        elif target in sources:
            found.append(
                ("columns", f"field {target!r} is mapped from {sources[target]!r} and {column!r}")
            )
        else:
            sources[target] = column
    for name, value in profile.constants:
        if name not in RECORD_FIELDS:
            found.append(("constants", f"unknown field {name!r}; {allowed}"))
        elif name in sources:
            found.append(
                (
                    "constants",
                    f"field {name!r} is both a constant and mapped from {sources[name]!r}",
                )
            )
        elif not value.strip():
            found.append(("constants", f"the constant for {name!r} is empty"))
    for name, _ in profile.values:
        if name not in RECORD_FIELDS:
            found.append(("values", f"unknown field {name!r}; {allowed}"))
    constant = {name for name, _ in profile.constants}
    for name in REQUIRED:
        if name not in sources and name not in constant:
            found.append(
                (
                    "columns",
                    f"required field {name!r} is neither mapped from a column nor a constant",
                )
            )
    return found


def check(profile: Profile) -> None:
    """Raise ProfileError naming the profile and key of every problem."""
    found = problems(profile)
    if found:
        shown = profile.name or "(unnamed)"
        raise ProfileError([f"profile {shown!r}: {key}: {message}" for key, message in found])


def from_model(row: Any) -> Profile:
    """An `ImportProfile` row as the engine reads it."""
    return Profile(
        name=row.name,
        pattern=row.pattern or "",
        sheet=parse_sheet(row.sheet),
        header_row=row.header_row,
        delimiter=row.delimiter or "",
        columns=tuple((str(a), str(b)) for a, b in row.columns or ()),
        constants=tuple((str(a), str(b)) for a, b in row.constants or ()),
        values=tuple(
            (str(name), tuple((str(a), str(b)) for a, b in pairs))
            for name, pairs in row.values or ()
        ),
    )


def model_fields(profile: Profile) -> dict[str, Any]:
    """The `ImportProfile` columns of `profile` (name excluded)."""
    return {
        "pattern": profile.pattern,
        "sheet": "" if profile.sheet is None else str(profile.sheet),
        "header_row": profile.header_row,
        "delimiter": profile.delimiter,
        "columns": [list(pair) for pair in profile.columns],
        "constants": [list(pair) for pair in profile.constants],
        "values": [[name, [list(pair) for pair in pairs]] for name, pairs in profile.values],
    }


def save(profile: Profile) -> Any:
    """Create or replace the profile of that name (checked first)."""
    from partners.models import ImportProfile

    check(profile)
    row, _ = ImportProfile.objects.update_or_create(
        name=profile.name, defaults=model_fields(profile)
    )
    return row


def get(name: str) -> Profile | None:
    from partners.models import ImportProfile

    row = ImportProfile.objects.filter(name=name).first()
    return None if row is None else from_model(row)


def all_profiles() -> list[Profile]:
    from partners.models import ImportProfile

    return [from_model(row) for row in ImportProfile.objects.order_by("name")]


def for_file(filename: str, profiles: Iterable[Profile]) -> Profile | None:
    """The first profile (by name) whose pattern matches the file's name, case-insensitively."""
    lowered = filename.casefold()
    for profile in sorted(profiles, key=lambda p: p.name):
        if profile.pattern and fnmatch.fnmatchcase(lowered, profile.pattern.casefold()):
            return profile
    return None


def match_profile(
    headers: Sequence[object], filename: str, profiles: Iterable[Profile] | None = None
) -> Profile | None:
    """The profile for a file: one whose pattern matches its name, else one that names every
    column the file has that is not already a field or a synonym (and every column it maps
    is there): the same headers as the file the profile was saved from."""
    known = list(all_profiles() if profiles is None else profiles)
    by_name = for_file(filename, known)
    if by_name is not None:
        return by_name
    keys = {header_key(h) for h in headers if h is not None and header_key(h)}
    for profile in sorted(known, key=lambda p: p.name):
        mapped = set(profile.mapped())
        if not mapped or not mapped <= keys:
            continue
        rest = keys - mapped
        if all(k in FIELD_NAMES or k in SYNONYM_FIELDS for k in rest):
            return profile
    return None


def suggest_mapping(headers: Sequence[object]) -> dict[str, str | None]:
    """Each column → the field its header names (a field's own name or a synonym), else None.
    A field is suggested for its first column only."""
    taken: set[str] = set()
    out: dict[str, str | None] = {}
    for header in headers:
        if header is None or not str(header).strip():
            continue
        label = str(header).strip()
        key = header_key(label)
        found = FIELD_NAMES.get(key) or SYNONYM_FIELDS.get(key)
        if found in taken:
            found = None
        if found:
            taken.add(found)
        out[label] = found
    return out


# YAML: the contract's shape (issue 13), written by ruamel.yaml so the maps are flow style.


def export_yaml(profiles: Sequence[Profile]) -> str:
    """`{"profiles": [...]}` in the documented shape: every key, in order, one line each."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString as Quoted

    def flow(pairs: Iterable[tuple[Any, Any]]) -> CommentedMap:
        mapping = CommentedMap(pairs)
        mapping.fa.set_flow_style()
        return mapping

    entries = CommentedSeq()
    for p in profiles:
        entry = CommentedMap()
        entry["name"] = p.name
        entry["pattern"] = Quoted(p.pattern) if p.pattern else None
        entry["sheet"] = p.sheet
        entry["header_row"] = AUTO if p.header_row is None else p.header_row
        entry["delimiter"] = AUTO if not p.delimiter else Quoted(p.delimiter)
        entry["columns"] = flow((Quoted(column), target) for column, target in p.columns)
        entry["constants"] = flow(p.constants)
        entry["values"] = flow(
            (name, flow((Quoted(a), b) for a, b in pairs)) for name, pairs in p.values
        )
        entries.append(entry)
    yaml = YAML()
    yaml.width = 4096  # one line per key, however long its map
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(type(None), _null)
    out = io.StringIO()
    yaml.dump({"profiles": entries}, out)
    return out.getvalue()


def _null(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def import_yaml(text: str, shown: str = "profiles") -> list[Profile]:
    """Profiles from YAML in the documented shape. ProfileError lists every problem, each
    naming the profile and key; nothing is returned unless every profile is valid."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if len(text) > MAX_YAML_BYTES:
        raise ProfileError([f"{shown}: larger than {MAX_YAML_BYTES:,} bytes"])
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        first = str(exc).strip().splitlines()
        raise ProfileError([f"{shown}: not valid YAML: {first[0] if first else exc}"]) from None
    if not isinstance(document, dict) or not isinstance(document.get("profiles"), list):
        raise ProfileError([f"{shown}: expected a mapping with a 'profiles' list"])
    messages: list[str] = []
    profiles: list[Profile] = []
    names: set[str] = set()
    for index, entry in enumerate(document["profiles"]):
        label = f"profile {index + 1}"
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            label = f"profile {entry['name']!r}"
        try:
            profile = _from_entry(entry, label)
            check(profile)
        except ProfileError as exc:
            messages += exc.messages
            continue
        if profile.name in names:
            messages.append(f"{label}: name: the name appears twice in the file")
        names.add(profile.name)
        profiles.append(profile)
    if messages:
        raise ProfileError(messages)
    return profiles


def _from_entry(entry: Any, label: str) -> Profile:
    if not isinstance(entry, dict):
        raise ProfileError([f"{label}: expected a mapping of {', '.join(KEYS)}"])
    errors: list[str] = []

    def bad(key: str, message: str) -> None:
        errors.append(f"{label}: {key}: {message}")

    for key in entry:
        if key not in KEYS:
            bad(str(key), f"unknown key; a profile has {', '.join(KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str):
        bad("name", "a profile needs a name (text)")
        name = ""
    pattern = entry.get("pattern") or ""
    if not isinstance(pattern, str):
        bad("pattern", 'a pattern is text, e.g. "cisco_*.xlsx"')
        pattern = ""
    sheet = entry.get("sheet")
    if sheet is not None and (isinstance(sheet, bool) or not isinstance(sheet, str | int)):
        bad("sheet", "a sheet is a name, a 1-based number or null")
        sheet = None
    header_row = entry.get("header_row", AUTO)
    if header_row == AUTO or header_row is None:
        header_row = None
    elif isinstance(header_row, bool) or not isinstance(header_row, int):
        bad("header_row", "the header row is auto or a 1-based number")
        header_row = None
    delimiter = entry.get("delimiter", AUTO)
    if delimiter == AUTO or delimiter is None:
        delimiter = ""
    elif not isinstance(delimiter, str):
        bad("delimiter", "the delimiter is auto or one character")
        delimiter = ""
    columns = _pairs(entry.get("columns"), "columns", bad)
    constants = _pairs(entry.get("constants"), "constants", bad)
    values: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    raw_values = entry.get("values") or {}
    if not isinstance(raw_values, dict):
        bad("values", "expected a mapping of field → {value: replacement}")
        raw_values = {}
    for name_, pairs in raw_values.items():
        values.append((str(name_), tuple(_pairs(pairs, f"values: {name_}", bad))))
    if errors:
        raise ProfileError(errors)
    return Profile(
        name=name,
        pattern=pattern,
        sheet=parse_sheet(sheet),
        header_row=header_row,
        delimiter=delimiter,
        columns=tuple(columns),
        constants=tuple(constants),
        values=tuple(values),
    )


def _pairs(raw: Any, key: str, bad: Any) -> list[tuple[str, str]]:
    """A YAML mapping of text to text (numbers are read as the text they are written as)."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        bad(key, "expected a mapping")
        return []
    out = []
    for a, b in raw.items():
        if not _scalar(a) or not _scalar(b):
            bad(key, f"{a!r}: expected text, not a list or a mapping")
            continue
        out.append((str(a), str(b)))
    return out


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)
