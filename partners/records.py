"""Raw rows → normalized, validated records (all or nothing).

Every error names the file, the line (as the loader counted it) and the field, and every error
in the input is reported, not only the first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import compress, repeat
from operator import attrgetter, is_, itemgetter, not_
from typing import Any
from unicodedata import is_normalized

from partners.fields import (
    COMPARED,
    MAX_LENGTH,
    OPTIONAL,
    RECORD_FIELDS,
    REQUIRED,
    TIMES,
)
from partners.headers import collapse_count
from partners.loaders import WARNINGS_PER_KIND, LoadedFile, _type_name
from partners.normalize import (
    clean,
    format_timestamp,
    identity_key,
    key_parts,
    normalize_notes,
    normalize_tier,
    parse_timestamp,
    record_key,
)
from partners.programs import (
    EMPTY,
    NEAR_COMPARED,
    Catalog,
    near_warning,
)

ALL_FIELDS = (*COMPARED, *TIMES)
EVERY_FIELD = frozenset(COMPARED)
# A file of a million bad rows gives the first errors and a count, not a million-entry
# response, page or SyncRun; repeated warnings likewise (see `collapse`).
ERRORS_KEPT = 1000
PLAIN_CHUNK = 10_000  # values checked at once by the column-wise fast path


_record_values = attrgetter(*RECORD_FIELDS)
COMPARED_OF = attrgetter(*COMPARED)  # a record's compared values, as `Record.compared`


def sharing(record: Any, values: Iterable[Any], seen: dict[Any, Any]) -> list[Any]:
    """Compared values (a row's, a base entry's) as the record's own objects where they
    equal its values, else one object per distinct value (`seen`). Optimization: what is
    held beside a record costs only the values that differ from it (a 10%-changed apply
    of 1,000,000 records: ~100 MB less)."""
    same = seen.setdefault
    return [
        mine if mine == theirs else same(theirs, theirs)
        for mine, theirs in zip(COMPARED_OF(record), values, strict=True)
    ]


def record_dict(record: Any) -> dict[str, str | None]:
    """The seed's eight keys, in the seed's order."""
    return dict(zip(RECORD_FIELDS, _record_values(record), strict=True))


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a record comes from, one object for all the records of a file that state the
    same fields. Optimization: one slot of each record, not four (23 MiB less at 1,000,000
    records, in every run that reads them)."""

    source: str = ""  # the file, as shown in messages
    position: str = "Line"
    origin: str = ""  # the source name (see `LoadedFile.source`)
    stated: frozenset[str] = EVERY_FIELD  # the fields its file has: no other is changed


NOWHERE = Provenance()


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
    # `record_key((oem_key, name_key))`: the very string the run's records are looked up by.
    # Optimization: one object for both, not two fields (72 MB less at 1,000,000 records),
    # nor a tuple of two (`normalize.record_key`: ~60 MB less again).
    key: str
    line: int = 0
    provenance: Provenance = NOWHERE

    @property
    def source(self) -> str:
        return self.provenance.source

    @property
    def position(self) -> str:
        return self.provenance.position

    @property
    def origin(self) -> str:
        return self.provenance.origin

    @property
    def stated(self) -> frozenset[str]:
        return self.provenance.stated

    @classmethod
    def of(cls, values: Mapping[str, Any], **extra: Any) -> Record:
        """A record from already-normalized values (the eight fields), its keys computed."""
        fields = {name: values[name] for name in (*COMPARED, *TIMES)}
        key = record_key((identity_key(values["oem"]), identity_key(values["name"])))
        return cls(**fields, key=key, **extra)

    @property
    def name_key(self) -> str:
        return key_parts(self.key)[1]

    @property
    def oem_key(self) -> str:
        return key_parts(self.key)[0]

    @property
    def where(self) -> str:
        return f"{self.source}: {self.position} {self.line}"

    def compared(self) -> tuple[str | None, ...]:
        return COMPARED_OF(self)

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
    more: int = 0  # the final entry standing for this many errors not listed

    def __str__(self) -> str:
        return f"{self.file}: {self.position} {self.line}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": str(self)}


@dataclass
class Built:
    records: list[Record] = field(default_factory=list)
    # The same records by identity key, as the merge looks them up (it takes them out).
    by_key: dict[str, Record] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    omitted: list[Problem] = field(default_factory=list)  # the first error not kept
    omitted_count: int = 0
    duplicates: list[str] = field(default_factory=list)
    duplicate_count: int = 0
    # The near-duplicate spellings behind the warnings, for the admin's "add as alias":
    # {"kind": "oem" | "program", "oem", "spelling", "known"}.
    near: list[dict[str, str]] = field(default_factory=list)

    def error(self, problem: Problem) -> None:
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(problem)
            return
        if not self.omitted:
            self.omitted.append(problem)
        self.omitted_count += 1

    def duplicate(self, warning: str) -> None:
        if len(self.duplicates) < WARNINGS_PER_KIND:
            self.duplicates.append(warning)
        self.duplicate_count += 1

    def close(self) -> None:
        """The counts of what was left out, as the last error and the last warning."""
        self.warnings += collapse_count(self.duplicates, self.duplicate_count)
        if self.omitted:
            first = self.omitted[0]
            message = (
                f"… and {self.omitted_count:,} more errors from here on "
                f"(the first {ERRORS_KEPT:,} are listed)"
            )
            self.errors.append(
                Problem(first.file, first.position, first.line, None, message, self.omitted_count)
            )


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
        category = unicodedata.category(char)
        if category == "Cs":  # a lone surrogate from JSON's \ud800: not storable text
            return f"U+{ord(char):04X}, a lone surrogate"
        if category == "Cc" and not (allow_layout and char in "\n\t"):
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


Columns = tuple[list[Any], ...]  # name, tier, program, oem, poc, notes, created_at, updated_at


def _plain_columns(loaded: LoadedFile) -> Columns | None:
    """Optimization: check a whole file at once when every value is printable NFC text.

    Column-wise builtins (join, map, max, `unicodedata.is_normalized`) run at C speed, for
    "Müller" as for "Miller": the rules only differ per character class, and a printable NFC
    text holds nothing they change but surrounding space. A file with anything else (a missing
    field, a line break in notes, a control or format character, text not in NFC, a number)
    returns None and goes row by row through `normalize_row`, which applies the same rules
    with messages.
    """
    required: list[list[Any]] = [_column(loaded, f) for f in REQUIRED]
    optional: list[list[Any]] = [_column(loaded, f) for f in OPTIONAL]
    if not _printable_nfc(required, optional):
        return None
    required = [_stripped(col) for col in required]
    optional = [[x.strip() or None if x else None for x in col] for col in optional]
    for col, name in zip([*required, *optional], [*REQUIRED, *OPTIONAL], strict=True):
        if name in REQUIRED and not all(col):
            return None
        if max(map(len, filter(None, col)), default=0) > MAX_LENGTH[name]:
            return None
    times: list[list[Any]] = []
    nothing: list[Any] | None = None  # one list of None for both times when the file has neither
    for label in ("created_at", "updated_at"):
        given = loaded.columns.get(label)
        if given is None:
            nothing = [None] * len(loaded.lines) if nothing is None else nothing
            times.append(nothing)
            continue
        if all(x is None for x in given):
            times.append(given)
            continue
        try:
            times.append([_timestamp(x, label) for x in given])
        except (ValueError, OverflowError):
            return None
    names, tiers, programs, oems = required
    # Optimization: each distinct tier spelled once, then looked up per row in C (100,000
    # rows of five tiers: 13 ms through the cached function, 8 ms).
    spelled = {tier: normalize_tier(tier) for tier in set(tiers)}
    return (names, list(map(spelled.__getitem__, tiers)), programs, oems, *optional, *times)


def _stripped(column: list[str]) -> list[str]:
    """The values stripped: the column itself when none has surrounding space (the usual
    case: no second list of a whole file beside it)."""
    out = list(map(str.strip, column))
    return column if all(map(is_, out, column)) else out


def _printable_nfc(required: list[list[Any]], optional: list[list[Any]]) -> bool:
    """Whether every value is printable NFC text (None allowed in optional fields), joined
    PLAIN_CHUNK values at a time: one string of a whole file's text would be the peak of a
    large run (twice the file's size once a single name is not Latin-1)."""
    for col, may_lack in [*zip(required, repeat(False)), *zip(optional, repeat(True))]:
        for start in range(0, len(col), PLAIN_CHUNK):
            part = col[start : start + PLAIN_CHUNK]
            if may_lack:
                part = ["" if x is None else x for x in part]
            try:
                text = "".join(part)
            except TypeError:  # a number, or a required field missing
                return False
            if not (_printable(text) and (text.isascii() or _all_nfc([part]))):
                return False
    return True


PRINTABLE_ASCII = bytes(range(0x20, 0x7F))  # the ASCII `str.isprintable` accepts


def _printable(text: str) -> bool:
    """`text.isprintable()`. Optimization: ASCII text is printable when deleting its printable
    bytes leaves nothing, a C loop five times as fast as looking each character up (the text
    of 100,000 rows: 34 -> 6 ms)."""
    if text.isascii():
        return not text.encode().translate(None, PRINTABLE_ASCII)
    return text.isprintable()


def _column(loaded: LoadedFile, name: str) -> list[Any]:
    """A field's values, None in every row for a field the file does not have."""
    found = loaded.columns.get(name)
    return [None] * len(loaded.lines) if found is None else found


def _all_nfc(columns: list[list[Any]]) -> bool:
    """Whether every value is NFC, checked on the non-ASCII ones (ASCII is NFC) joined: a
    substring of NFC text is NFC (nothing composes or reorders across the cut when the whole
    does not), so one C call stands for them all."""
    values = [list(filter(None, col)) for col in columns]  # optional fields may be None
    text = "".join("".join(compress(col, map(not_, map(str.isascii, col)))) for col in values)
    return is_normalized("NFC", text)


def _shared_fields(loaded: LoadedFile) -> frozenset[str] | None:
    """The fields every record of the file has: its header's, or, for JSON and YAML, the keys
    when every record has the same ones (None when they differ: then record by record)."""
    if loaded.header is not None:
        return EVERY_FIELD & frozenset(loaded.header)
    keys = set(loaded.keys or ())
    return EVERY_FIELD & keys.pop() if len(keys) == 1 else None


def _checked_rows(loaded: LoadedFile, built: Built) -> Columns:
    """Row by row: every problem becomes an error; valid rows come back as columns."""
    kept: list[list[Any]] = [[] for _ in range(10)]
    numbers_are_text = loaded.position == "Row"  # spreadsheet cells
    header = None if loaded.header is None else EVERY_FIELD & frozenset(loaded.header)
    names = list(loaded.columns)
    stated_sets: dict[frozenset[str], frozenset[str]] = {}  # one object per distinct set
    where = loaded.path, loaded.position
    for index, (line, *cells) in enumerate(
        zip(loaded.lines, *loaded.columns.values(), strict=True)
    ):
        mark = loaded.marks.get(index)
        if mark is not None and mark.alone:
            built.error(Problem(*where, line, None, mark.message))
            continue
        out, problems = normalize_row(dict(zip(names, cells, strict=True)), numbers_are_text)
        if mark is not None:
            problems.append((None, mark.message))
        if problems:
            for name, message in problems:
                built.error(Problem(*where, line, name, message))
            continue
        stated = header
        if stated is None:  # a JSON or YAML record states the keys it has
            found = EVERY_FIELD & loaded.keys[index] if loaded.keys else EVERY_FIELD
            stated = stated_sets.setdefault(found, found)
        for column, value in zip(kept, [*(out[f] for f in ALL_FIELDS), line, stated], strict=True):
            column.append(value)
    return tuple(kept)


def oem_spelling(
    raw: str,
    aliases: Mapping[str, str],
    known_oems: Mapping[str, str],
    first_spelling: dict[str, str] | None = None,
) -> str:
    """How an OEM is written: its alias, else its spelling in the database, else the first
    spelling seen (recorded in `first_spelling`), so `fortinet` and `Fortinet` are one OEM."""
    key = identity_key(raw)
    spelling = aliases.get(key) or known_oems.get(key)
    if spelling is None:
        spelling = raw if first_spelling is None else first_spelling.setdefault(key, raw)
    return spelling


def build_records(
    files: Iterable[LoadedFile],
    aliases: Mapping[str, str],
    known_oems: Callable[[list[str]], Mapping[str, str]],
    catalog: Catalog = EMPTY,
    *,
    strict: bool = False,
    oem_names: Callable[[], Iterable[str]] = lambda: (),
) -> Built:
    """Normalize and validate every row of every file.

    `aliases` maps OEM identity keys to their fixed spelling; `known_oems` tells, for some OEM
    keys, the spelling those already in the database have there (`db.spellings`: asked once
    per file for its new OEMs). Any other OEM is spelled as it first appears in the input.
    Tiers are spelled as their ladder in `catalog` spells them; a tier off its ladder is a
    warning, or with `strict` an error. A new OEM spelling close to a known one (the
    catalog's, or `oem_names`: the database's) is a warning.
    """
    built = Built()
    flags = _Flags()
    first_spelling: dict[str, str] = {}
    resolved: dict[str, tuple[str, str]] = {}  # OEM as written → (spelling, key)
    spelled_oem: dict[str, str] = {}  # OEM as written → spelling
    for loaded in files:
        built.warnings += loaded.warnings
        shared = _shared_fields(loaded)
        plain = None if loaded.marks or shared is None else _plain_columns(loaded)
        provenances: Iterable[Provenance]
        if plain is not None and shared is not None:
            plain_file = True  # every value printable: not looked at again for the keys
            columns = (*plain, loaded.lines)
            provenances = repeat(Provenance(loaded.path, loaded.position, loaded.source, shared))
        else:
            plain_file = False
            *checked, said = _checked_rows(loaded, built)
            columns = tuple(checked)
            one = {
                fields: Provenance(loaded.path, loaded.position, loaded.source, fields)
                for fields in set(said)
            }
            provenances = map(one.__getitem__, said)
            del checked, said
        names, tiers, programs, oems, pocs, notes, created, updated, lines = columns
        del plain, columns  # Optimization: each column is let go of as soon as it can be
        new = [raw for raw in dict.fromkeys(oems) if raw not in resolved]
        known = known_oems(list(dict.fromkeys(map(identity_key, new))))
        for raw in new:
            spelling = oem_spelling(raw, aliases, known, first_spelling)
            resolved[raw] = (spelling, identity_key(spelling))
            spelled_oem[raw] = spelling
        # Each row's OEM as spelled and keyed: two lookups in C per row, no third list.
        oem_keys = list(map(itemgetter(1), map(resolved.__getitem__, oems)))
        if catalog:
            tiers = catalog.spell_column(oem_keys, programs, tiers)
            _flag_tiers(catalog, loaded, (oem_keys, programs, tiers), lines, strict, built, flags)
        firsts = [raw for raw in new if first_spelling.get(identity_key(raw)) == raw]
        _flag_spellings(catalog, firsts, oem_keys, programs, oem_names, flags)
        # The file itself goes (when the caller let go of it: `sync._handed_over`) before
        # the records are made, with its columns this build does not use (the tiers, POCs
        # and notes as read): making the records was the build's peak (1,000,000 records:
        # 639 -> 628 MB).
        del loaded
        keys: list[str] = []
        # Each part's name keys go once joined into its records' keys: no list of them all.
        for start in range(0, len(names), PLAIN_CHUNK):
            part = slice(start, start + PLAIN_CHUNK)
            name_keys = identity_keys(names[part], printable=plain_file)
            keys += map(record_key, zip(oem_keys[part], name_keys, strict=True))
        del oem_keys
        records = list(
            map(
                Record,
                names,
                tiers,
                programs,
                map(spelled_oem.__getitem__, oems),
                pocs,
                notes,
                created,
                updated,
                keys,
                lines,
                provenances,
            )
        )
        # The working columns go before the records are indexed (the index's growth was the
        # build's peak: 722 -> 702 MB at 1,000,000 records, 702 -> 656 with the file gone).
        del names, tiers, programs, oems, pocs, notes, created, updated, lines, provenances
        _add_unique(records, keys, built)
    built.warnings += flags.warnings()
    built.near = flags.pairs[: WARNINGS_PER_KIND * 2]
    built.close()
    return built


@dataclass
class _Flags:
    """Off-ladder tiers and near-duplicate spellings, each said once, ten of a kind at most."""

    tiers: list[str] = field(default_factory=list)
    near: list[str] = field(default_factory=list)
    pairs: list[dict[str, str]] = field(default_factory=list)  # `near` as data
    compared: int = 0  # new spellings compared: at most NEAR_COMPARED a run
    seen: set[tuple[str, str]] = field(default_factory=set)  # (OEM key, program) compared

    def warnings(self) -> list[str]:
        return [
            *collapse_count(self.tiers[:WARNINGS_PER_KIND], len(self.tiers)),
            *collapse_count(self.near[:WARNINGS_PER_KIND], len(self.near)),
        ]


def _flag_tiers(
    catalog: Catalog,
    loaded: LoadedFile,
    columns: tuple[list[str], list[str], list[str]],  # OEM keys, programs, tiers
    lines: list[int],
    strict: bool,
    built: Built,
    flags: _Flags,
) -> None:
    """Tiers their ladder does not know: an error each (`strict`), else one warning per tier
    and file at its first line. Optimization: checked once per distinct (OEM, program, tier);
    the rows are walked only for a file that has such a tier."""
    if catalog.all_on_ladders(*columns):
        return
    off = {
        triple: message
        for triple in set(zip(*columns, strict=True))
        if (message := catalog.off_ladder(*triple)) is not None
    }
    if not off:
        return
    first: dict[tuple[str, str, str], int] = {}
    counts: dict[tuple[str, str, str], int] = {}
    for line, triple in zip(lines, zip(*columns, strict=True), strict=True):
        message = off.get(triple)
        if message is None:
            continue
        if strict:
            built.error(Problem(loaded.path, loaded.position, line, "tier", message))
            continue
        first.setdefault(triple, line)
        counts[triple] = counts.get(triple, 0) + 1
    for triple, count in counts.items():
        more = f" ({count:,} records)" if count > 1 else ""
        flags.tiers.append(f"{loaded.path}: {loaded.position} {first[triple]}: {off[triple]}{more}")


def _flag_spellings(
    catalog: Catalog,
    new_oems: list[str],
    oem_keys: list[str],
    programs: list[str],
    oem_names: Callable[[], Iterable[str]],
    flags: _Flags,
) -> None:
    """New OEM spellings (in neither the database, the aliases nor the catalog) and programs
    not in their OEM's catalog that look like known ones. Only new spellings are compared, at
    most NEAR_COMPARED a run."""
    fresh = [oem for oem in new_oems if identity_key(oem) not in catalog.oems]
    if fresh:
        known = list(oem_names())
        for oem in fresh[: max(NEAR_COMPARED - flags.compared, 0)]:
            if (near := catalog.near_oem(oem, known)) is not None:
                flags.near.append(near_warning(oem, near))
                flags.pairs.append({"kind": "oem", "oem": near, "spelling": oem, "known": near})
        flags.compared += len(fresh)
    if not catalog.programs:
        return
    pairs = {
        pair
        for pair in set(zip(oem_keys, programs, strict=True)).difference(flags.seen)
        if pair[0] in catalog.programs
    }
    flags.seen.update(pairs)
    for oem_key, program in sorted(pairs)[: max(NEAR_COMPARED - flags.compared, 0)]:
        if (near := catalog.near_program(oem_key, program)) is not None:
            flags.near.append(near_warning(program, near))
            oem = catalog.oems.get(oem_key, oem_key)
            flags.pairs.append({"kind": "program", "oem": oem, "spelling": program, "known": near})
    flags.compared += len(pairs)


def _single_spaced(part: list[str], joined: str, printable: bool) -> bool:
    """Whether `identity_key` would collapse no whitespace in these values (`joined` by NUL):
    all printable (every whitespace character but the space is not, nor is NUL; known when
    `printable`), no double, leading or trailing space. Optimization: C scans, a third faster
    than a regular expression looking for the same."""
    if not printable and not all(map(str.isprintable, part)):
        return False
    spaced = "  " in joined or "\x00 " in joined or " \x00" in joined
    return not (spaced or joined.startswith(" ") or joined.endswith(" "))


def identity_keys(values: list[str], printable: bool = False) -> list[str]:
    """`identity_key` of each value, PLAIN_CHUNK values at a time (never one string of a
    whole column). Optimization: a part with single inner spaces is lowered in one C call (a
    tenth of the time of 100,000 calls); its few non-ASCII values, which casefold and
    normalize, are then keyed one by one. `printable`: the values are known to be (a file's
    plain columns), not looked at again (100,000 names: 13 ms)."""
    keys: list[str] = []
    for start in range(0, len(values), PLAIN_CHUNK):
        part = values[start : start + PLAIN_CHUNK]
        joined = "\x00".join(part)
        if not _single_spaced(part, joined, printable):
            keys += map(identity_key, part)
            continue
        if joined.isascii():
            keys += joined.lower().split("\x00")
            continue
        # Optimization: lowering text that is not ASCII looks every character up; the values
        # that are not ASCII are left out (empty) and keyed one by one, so the rest is lowered
        # on the ASCII path (100,000 names, 5% of them "Müller", "Dvořák", …: 42 -> 30 ms).
        others = list(compress(range(len(part)), map(not_, map(str.isascii, part))))
        plain = part.copy()
        for i in others:
            plain[i] = ""
        lowered = "\x00".join(plain).lower().split("\x00")
        for i in others:
            lowered[i] = identity_key(part[i])
        keys += lowered
    return keys


def _add_unique(records: list[Record], keys: list[str], built: Built) -> None:
    """Collapse identical duplicates (with a warning); conflicting ones are errors. `keys`
    are the records' keys."""
    seen = built.by_key
    if seen.keys().isdisjoint(keys):
        # Optimization: the usual case, no key twice, needs no per-record bookkeeping, and
        # the dict itself tells it (a set of the keys beside it was 40 MB at 1,000,000).
        before = len(seen)
        seen.update(zip(keys, records, strict=True))
        if len(seen) == before + len(keys):
            if built.records:
                built.records += records
            else:  # the first file's: taken, not copied
                built.records = records
            return
        for key in keys:  # undone: record by record below
            seen.pop(key, None)
    for record, key in zip(records, keys, strict=True):
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = record
            built.records.append(record)
        elif earlier.compared() == record.compared():
            built.duplicate(f"{record.where}: same record as {earlier.where}; counted once")
        else:
            differing = [
                f
                for f, a, b in zip(COMPARED, earlier.compared(), record.compared(), strict=True)
                if a != b
            ]
            built.error(
                Problem(
                    record.source,
                    record.position,
                    record.line,
                    differing[0],
                    f"{record.name!r} at {record.oem!r} is also at {earlier.where} "
                    f"with a different {', '.join(differing)}",
                )
            )
