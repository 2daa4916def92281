"""A spreadsheet's header: found among its first rows, its columns matched to fields, and its
rows turned into the columns of a `LoadedFile` (CSV and XLSX alike).

The header is the first of the first 20 non-blank rows whose cells name at least two fields
(by name or synonym, ignoring case, spaces and punctuation) or columns the file's profile maps;
the rows above it are skipped, each quoted in a warning. A profile's own header row wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from partners.exporting import unescape_column, unescape_formula
from partners.fields import FIELD_NAMES, RECORD_FIELDS, SYNONYM_FIELDS, header_key
from partners.profiles import IGNORE, Profile

if TYPE_CHECKING:
    from partners.loaders import LoadedFile

HEADER_SEARCH_ROWS = 20
# Rows turned into columns at a time: raw rows never pile up. Optimization: 500, not 10,000:
# a batch's rows (lists, which the garbage collector tracks) then die before its older
# generations walk them; 10,000 live rows made each gen-1 collection walk ~7,000 of them into
# gen 2, and gen 2 was collected too. Loading a 100,000-row CSV: collections 0.065 -> 0.014 s,
# the load (in process, alternating x12, min/median) 0.284/0.304 -> 0.215/0.249 s at 1,000
# rows, 0.206/0.224 -> 0.201/0.208 s from 1,000 to 500 (250: no better). A sync loads with the
# collector off (`bulk_allocation`), and a batch held in the CPU's caches still wins there:
# 0.248/0.263 -> 0.220/0.228 s (alternating x8).
CHUNK_ROWS = 500
QUOTED_CHARS = 200
SAMPLE_VALUES = 3  # values per column shown by the admin's mapping step

Row = tuple[int, Sequence[Any]]  # (the file's own line or row number, its cells)
# Rows below the header, up to CHUNK_ROWS at a time: their line or row numbers, their cells.
Batch = tuple[Sequence[int], Sequence[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class Mark:
    """A row that is wrong as a whole: `message` becomes its error; `alone` rows (not a
    record, a formula without a value) are not checked further."""

    message: str
    alone: bool = False


class HeaderError(Exception):
    """The header cannot be used: the loader raises it as a LoadError of the file."""


@dataclass
class Header:
    """What a file's header says: its cells, the row it is on and where each field is."""

    line: int
    labels: list[str]
    positions: dict[int, str]  # column index → field
    warnings: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return max(self.positions, default=-1) + 1


def matches(cells: Sequence[Any], mapped: Iterable[str] = ()) -> int:
    """How many cells name a field, a synonym or a column the profile maps."""
    known = set(mapped)
    count = 0
    for cell in cells:
        if cell is None or cell == "":
            continue
        key = header_key(cell)
        if key and (key in known or key in FIELD_NAMES or key in SYNONYM_FIELDS):
            count += 1
    return count


def find_header(
    rows: Iterator[Row], profile: Profile | None, position: str
) -> tuple[int, list[Row]]:
    """Read rows until the header: (its index in the rows read, the non-blank rows read).
    `rows` yields non-blank rows only; without a match the first row is the header."""
    head: list[Row] = []
    wanted = profile.header_row if profile else None
    mapped = profile.mapped() if profile else {}
    for row in rows:
        if wanted is not None:
            if row[0] > wanted:
                break
            head.append(row)
            if row[0] == wanted:
                return len(head) - 1, head
            continue
        head.append(row)
        if matches(row[1], mapped) >= 2:
            return len(head) - 1, head
        if len(head) >= HEADER_SEARCH_ROWS:
            break
    if wanted is not None and profile is not None:
        raise HeaderError(
            f"{position.lower()} {wanted} is blank or missing, and profile {profile.name!r} "
            "reads the header there"
        )
    return 0, head


def read_header(
    head: list[Row], index: int, name: str, position: str, profile: Profile | None
) -> Header:
    """The header at `head[index]`, its columns matched: a profile's mapping first, then the
    fields' own names, then synonyms (each named in a warning). The rows above it are quoted
    in warnings."""
    line, cells = head[index]
    labels = ["" if cell is None else str(cell).strip() for cell in cells]
    mapped = profile.mapped() if profile else {}
    constants = {f for f, _ in profile.constants} if profile else set()
    positions: dict[int, str] = {}
    unknown: list[str] = []
    exact: list[tuple[int, str, str]] = []
    synonyms: list[tuple[int, str, str]] = []
    for at, label in enumerate(labels):
        key = header_key(label)
        if key and key in mapped:
            if mapped[key] == IGNORE:
                continue
            if mapped[key] in positions.values():
                raise HeaderError(f"column {label!r} appears twice in the header")
            positions[at] = mapped[key]
        elif key in FIELD_NAMES:
            exact.append((at, label, FIELD_NAMES[key]))
        elif key in SYNONYM_FIELDS:
            synonyms.append((at, label, SYNONYM_FIELDS[key]))
        elif label:
            unknown.append(label)
    by_profile = set(positions.values())
    dropped: list[tuple[str, str]] = []
    warnings: list[str] = []
    for at, label, name_ in exact:
        if name_ in constants:
            dropped.append((label, name_))
        elif name_ in by_profile:
            unknown.append(label)
        elif name_ in positions.values():
            raise HeaderError(f"column {name_!r} appears twice in the header")
        else:
            positions[at] = name_
    for at, label, name_ in synonyms:
        if name_ in constants:
            dropped.append((label, name_))
        elif name_ in positions.values():
            unknown.append(label)
        else:
            positions[at] = name_
            warnings.append(f"{name}: read {label!r} as {name_}")
    if profile is not None:
        for label, name_ in dropped:
            warnings.append(
                f"{name}: ignored column {label!r}: profile {profile.name!r} gives {name_} "
                "as a constant"
            )
        present = {header_key(label) for label in labels}
        for column, target in profile.columns:
            if target != IGNORE and header_key(column) not in present:
                raise HeaderError(
                    f"has no column {column!r}, which profile {profile.name!r} maps to {target}"
                )
    if unknown:
        warnings.append(unknown_warning(name, unknown))
    ordered = dict(sorted(positions.items()))
    # Rows above a header found by its names are quoted; above a profile's header row they
    # are expected (a vendor's title), so not.
    above = head[:index] if not (profile and profile.header_row) else []
    skipped = [
        f"{name}: {position} {number}: above the header, skipped: {quote(row)}"
        for number, row in above
    ]
    return Header(line, labels, ordered, [*collapse_count(skipped[:10], len(skipped)), *warnings])


def unknown_warning(name: str, unknown: Iterable[str]) -> str:
    listed = ", ".join(repr(u) for u in unknown)
    return (
        f"{name}: ignored unknown columns {listed}; allowed columns are {', '.join(RECORD_FIELDS)}"
    )


def quote(cells: Sequence[Any]) -> str:
    """A skipped row as a person would recognize it: its non-empty cells."""
    text = ", ".join(str(cell).strip() for cell in cells if cell is not None and str(cell).strip())
    return repr(text if len(text) <= QUOTED_CHARS else text[:QUOTED_CHARS] + "…")


def collapse_count(first: list[str], count: int) -> list[str]:
    """`first` (some warnings of one kind) and a line for the rest of the `count`."""
    if count <= len(first):
        return first
    return [*first, f"… and {count - len(first):,} more like this"]


REPEATED = ("tier", "program", "oem", "poc")


def batched(rows: Iterable[Row], size: int = CHUNK_ROWS) -> Iterator[Batch]:
    """Rows as the batches `take_rows` reads, `size` at a time."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield [number for number, _ in chunk], [cells for _, cells in chunk]


def take_rows(
    loaded: LoadedFile,
    header: Header,
    batches: Iterable[Batch],
    *,
    text: bool,
    ragged: bool,
    escapes: bool = True,
    mark: Callable[[int, dict[int, str]], Mark | None] | None = None,
) -> None:
    """The rows below the header into `loaded`'s columns, a batch at a time. `text`: every
    cell is a string (CSV), so the formula escape is undone a column at a time; `escapes`
    False: the source holds no cell starting with its apostrophe, so none is. `ragged`: a
    row with more non-empty cells than the header is marked. `mark` may mark a row (an XLSX
    formula without a value)."""
    fields = list(header.positions.items())
    columns: dict[str, list[Any]] = {f: [] for _, f in fields}
    # Optimization: a value repeated down a column (a tier, an OEM, its program, a POC) is
    # kept once, not once per row: 20 MB less for 100,000 rows, and the same at every stage.
    shared: dict[str, dict[Any, Any]] = {f: {} for f in REPEATED if f in columns}
    lines = loaded.lines
    need = header.width
    width = len(header.labels)
    for numbers, cells in batches:
        start = len(lines)
        lines.extend(numbers)
        # Optimization: the batch's widths are looked at in C (min, max over map(len)), and
        # each column taken by itemgetter, not by a comprehension per row.
        widths = list(map(len, cells))
        whole = min(widths, default=need) >= need
        for at, name in fields:
            if whole:
                values = list(map(itemgetter(at), cells))
                if text:
                    read = unescape_column(values) if escapes else values
                else:
                    read = list(map(unescape_formula, values))
            else:
                read = [unescape_formula(_cell(row, at)) for row in cells]
            once = shared.get(name)
            columns[name].extend(read if once is None else map(once.setdefault, read, read))
        if ragged and max(widths, default=0) > width:
            for k, row in enumerate(cells):
                if len(row) > width and any(cell.strip() for cell in row[width:]):
                    message = f"has {len(row)} fields but the header has {width}"
                    loaded.marks[start + k] = Mark(message)
        if mark is not None:
            for k, number in enumerate(numbers):
                found = mark(number, header.positions)
                if found is not None:
                    loaded.marks[start + k] = found
    loaded.columns.update(columns)


def _cell(row: Sequence[Any], at: int) -> Any:
    return row[at] if at < len(row) else None


def samples(
    header: Header, batches: Iterable[Batch], count: int = SAMPLE_VALUES
) -> dict[str, list[Any]]:
    """The first `count` values of each labelled column (the admin's mapping step)."""
    taken = list(islice((row for _, cells in batches for row in cells), count))
    return {
        label: [unescape_formula(_cell(row, at)) for row in taken]
        for at, label in enumerate(header.labels)
        if label
    }
