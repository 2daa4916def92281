"""The Obsidian export: one note per OEM in `<vault>/30 Hubs/OEMs/`, plus an index note.

The vault is shared with a person (and Obsidian Sync, iCloud or git), so: a note is written
only when its bytes change; only the block between the markers and the exporter's own
properties are ever changed; a note that cannot be updated safely is reported, not touched,
and anything but a regular file where a note goes (a FIFO, a folder) is never even opened;
notes are found again by their `oem_id` and never renamed; nothing is written outside the
OEM folder (or `.trash/`), whatever symlinks the vault holds; nothing is ever deleted.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter
from pathlib import Path
from typing import Any, cast

import jinja2
import orjson
from django.conf import settings
from django.template import engines
from django.template.backends.jinja2 import Jinja2
from django.utils import timezone

from partners import db
from partners.allocation import bulk_allocation
from partners.atomic import fsync_dir, replacing_many, sweep_temp_files, write_atomic
from partners.filenames import fold, note_name, oem_id
from partners.ledger import RECENT_KEPT
from partners.locking import sync_lock
from partners.models import ExportState
from partners.normalize import identity_key
from partners.notes import (
    NoteConflict,
    compose,
    escape,
    is_current,
    needs_escaping,
    read_frontmatter,
    split_frontmatter,
    untouched,
)
from partners.programs import EMPTY, Catalog, Ladder, load_catalog
from partners.report import recent_changes
from partners.store import ledger_head

OEM_FOLDER = Path("30 Hubs") / "OEMs"
TEMPLATES = ("oem_note.md", "oem_index.md")
INDEX_NAME = "OEM Index"
TRASH = ".trash"
OWNED = {
    "oem",
    "oem_id",
    "type",
    "status",
    "partner_count",
    "tiers",
    "programs",
    "updated",
    "ranks",  # only for an OEM with a ladder (see notes.SOMETIMES_OWNED)
}
OWNED_INACTIVE = OWNED | {"inactive_since"}
MAIN_TIERS = ["Platinum", "Gold", "Silver", "Bronze"]
# A note's "Recent changes" line per direction (values arrive escaped).
RECENT_LINES = {
    "up": "↑ {name}: {old} → {new}",
    "down": "↓ {name}: {old} → {new}",
    "changed": "{name}: {old} → {new}",
    "new": "new: {name}, {new}",
    "removed": "removed: {name} (was {old})",
}
# The modules whose code turns rows into a note's text: a new version of any of them renders
# every note again, as the templates do (see `_rules`).
RENDERING = ("obsidian.py", "notes.py", "filenames.py", "normalize.py", "programs.py", "report.py")


class VaultError(Exception):
    """The vault cannot be used: not set, not a folder, or a path in it leads outside."""


@dataclass
class ExportResult:
    dry_run: bool = False
    files_written: list[str] = field(default_factory=list)
    files_unchanged: list[str] = field(default_factory=list)
    conflicts: list[dict[str, str]] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    trashed: list[str] = field(default_factory=list)
    oems_count: int = 0
    created: list[str] = field(default_factory=list)  # new notes (not in the JSON shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "success",
            "files_written": self.files_written,
            "files_unchanged": self.files_unchanged,
            "conflicts": self.conflicts,
            "inactive": self.inactive,
            "oems_count": self.oems_count,
            "dry_run": self.dry_run,
            "trashed": self.trashed,
        }


@dataclass(slots=True)
class NotePartner:
    """One partner as the note template sees it: every value escaped for Markdown."""

    name: str
    tier: str
    program: str
    poc: str
    notes: str
    updated_at: str


_HINT = re.compile(r'^(oem_id|type):[ \t]*"?([A-Za-z0-9_-]*)"?[ \t]*$', re.M)


@dataclass
class Note:
    """A note found in the OEM folder. Its frontmatter is only scanned for `oem_id` and
    `type` up front; it is parsed in full when the note has to be changed."""

    path: Path
    text: str
    hints: dict[str, str] = field(default_factory=dict)
    conflict: str | None = None
    digest: str = ""  # sha256 of the file's bytes
    _parsed: dict[str, Any] | None = None

    @classmethod
    def read(cls, path: Path) -> Note:
        try:
            data = read_regular(path)
            text = data.decode("utf-8")
            source = split_frontmatter(text)[0] or ""
        except (UnicodeDecodeError, OSError) as exc:
            return cls(path, "", conflict=f"cannot be read: {exc}")
        except NoteConflict as exc:
            return cls(path, "", conflict=str(exc))
        return cls(path, text, dict(_HINT.findall(source)), digest=_sha256(data))

    @property
    def frontmatter(self) -> dict[str, Any]:
        """The whole frontmatter; NoteConflict when it does not parse."""
        if self._parsed is None:
            self._parsed = read_frontmatter(split_frontmatter(self.text)[0])
        return self._parsed


def not_regular(mode: int) -> str | None:
    """Why a file of this mode is no note (None for a regular file). Like rsync, such files
    are skipped: opening a FIFO blocks the export while it holds the sync lock, opening a
    device may do anything, and a folder or link is not the person's note text."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]
    kind = next((name for test, name in kinds if test(mode)), "a device")
    return f"is {kind}, not a regular file"


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file; NoteConflict for anything else, which is never opened."""
    reason = not_regular(os.lstat(path).st_mode)
    if reason:
        raise NoteConflict(reason)
    # Should it be swapped for a FIFO or a link since the lstat, neither blocks nor follows.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as handle:
        reason = not_regular(os.fstat(fd).st_mode)
        if reason:
            raise NoteConflict(reason)
        return handle.read()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vault_root(given: str | Path | None = None) -> Path:
    root = given if given is not None else settings.VAULT_ROOT
    if root is None or str(root) == "":
        raise VaultError("VAULT_ROOT environment variable not set")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise VaultError(f"Vault {path} is not a directory")
    return path.resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def oem_folder(vault: Path, create: bool) -> Path:
    """`<vault>/30 Hubs/OEMs`, refused when any part of it resolves outside the vault."""
    folder = vault / OEM_FOLDER
    for part in (vault / OEM_FOLDER.parts[0], folder):
        if part.is_symlink() or part.exists():
            if not _inside(part.resolve(), vault):
                raise VaultError(f"{part} leads outside the vault ({part.resolve()}); refusing")
            if not part.resolve().is_dir():
                raise VaultError(f"{part} is not a folder")
        elif create:
            part.mkdir()
    return folder


def _escape_cached(cache: dict[str | None, str], value: str | None) -> str:
    text = cache.get(value)
    if text is None:
        text = cache[value] = escape(value)
    return text


def _by_oem(rows: Iterable[db.NoteRow]) -> dict[str, list[db.NoteRow]]:
    groups: dict[str, list[db.NoteRow]] = {}
    for row in rows:
        groups.setdefault(row.oem_key, []).append(row)
    return groups


def _owned(oem: str, rows: list[db.NoteRow], ranked: Ranked) -> dict[str, Any]:
    owned = {
        "oem": oem,
        "oem_id": oem_id(oem),
        "type": "oem",
        "status": "active",
        "partner_count": len(rows),
        "tiers": ranked.tiers(),
        "programs": sorted(ranked.ladders, key=lambda p: (p.casefold(), p)),
        "updated": max(map(attrgetter("updated_at"), rows)),
    }
    if ranked.ranks:
        owned["ranks"] = ranked.ranks
    return owned


Key = tuple[int, int, str]


class Ranked:
    """One OEM's partners ranked by the catalog. Ranked tiers come first, the top of each
    ladder first; tiers no ladder ranks follow in the old order (Platinum, Gold, Silver,
    Bronze, then by name), so the notes of an OEM without a ladder read as before.
    `ranks`: tier → its rank, 1 the lowest.

    Optimization: when all the OEM's programs read one ladder (or none), the usual case, a
    tier's place depends on the tier alone (`by_tier`), and the rows are only read at C speed;
    otherwise each distinct (program, tier) is looked up once (`by_pair`)."""

    def __init__(self, catalog: Catalog, oem: str, rows: list[db.NoteRow]) -> None:
        programs = set(map(attrgetter("program"), rows))
        self.ladders = {program: catalog.find(oem, program) for program in programs}
        self.ranks: dict[str, int] = {}
        self.by_tier: dict[str, Key] | None = None
        self.by_pair: dict[tuple[str, str], Key] = {}
        one = {None if ladder is None else ladder.entry.key for ladder in self.ladders.values()}
        if len(one) <= 1:
            ladder = next(iter(self.ladders.values()), None)
            tiers = set(map(attrgetter("tier"), rows))
            self.by_tier = {tier: self._key(ladder, tier) for tier in tiers}
        else:
            pairs = set(zip(*_columns(rows), strict=True))
            self.by_pair = {(p, t): self._key(self.ladders[p], t) for p, t in pairs}
        if self.ranks:
            self.ranks = dict(sorted(self.ranks.items(), key=lambda item: (-item[1], item[0])))

    def _key(self, ladder: Ladder | None, tier: str) -> Key:
        rank = None if ladder is None else ladder.ranks.get(identity_key(tier))
        if ladder is None or rank is None:
            return (1, *_tier_order(tier))
        self.ranks[tier] = max(self.ranks.get(tier, 0), rank + 1)
        return (0, len(ladder.entry.tiers) - rank, "")

    def ladder_key(self) -> tuple[str, str] | None:
        """The one ladder of `by_tier` (None: no ladder)."""
        ladder = next(iter(self.ladders.values()), None)
        return None if ladder is None else ladder.entry.key

    def sort(self, rows: list[db.NoteRow]) -> list[db.NoteRow]:
        """Highest first, then by name."""
        if self.by_tier is not None:
            by_tier = self.by_tier
            return sorted(rows, key=lambda r: (by_tier[r.tier], r.name.casefold(), r.name))
        by_pair = self.by_pair
        return sorted(rows, key=lambda r: (by_pair[(r.program, r.tier)], r.name.casefold(), r.name))

    def tiers(self) -> list[str]:
        """The OEM's tiers, highest first (each at its best place when programs differ)."""
        best = dict(self.by_tier or {})
        for (_, tier), key in self.by_pair.items():
            best[tier] = min(best.get(tier, key), key)
        return sorted(best, key=lambda tier: (best[tier], tier))


def _columns(rows: list[db.NoteRow]) -> tuple[list[str], list[str]]:
    return list(map(attrgetter("program"), rows)), list(map(attrgetter("tier"), rows))


def _tier_order(tier: str) -> tuple[int, str]:
    """Platinum, Gold, Silver, Bronze, then any other tier by name."""
    if tier in MAIN_TIERS:
        return (MAIN_TIERS.index(tier), "")
    return (len(MAIN_TIERS), tier.casefold())


class Exporter:
    def __init__(
        self,
        vault: Path,
        dry_run: bool,
        prune: bool,
        oem_keys: Collection[str] | None = None,
        retire: Collection[str] = (),
    ) -> None:
        self.vault = vault
        self.dry_run = dry_run
        self.prune = prune
        self.retire = {str(vault / path) for path in retire}
        self.only = None if oem_keys is None else set(oem_keys)
        self.result = ExportResult(dry_run=dry_run)
        self.cache: dict[str | None, str] = {}
        self.recent: dict[str, list[dict[str, Any]]] = {}
        self.catalog: Catalog = EMPTY
        self.left: dict[str, str] = {}  # note file name → sha256 of the bytes it holds now
        self.inputs: dict[str, str] = {}  # note file name → `_inputs` of its OEM (active ones)
        self.replace: Callable[[Path, bytes], None] = write_atomic  # how a note is written

    @cached_property
    def template(self) -> Any:
        return engines["obsidian"].get_template(TEMPLATES[0])

    @cached_property
    def index_template(self) -> Any:
        return engines["obsidian"].get_template(TEMPLATES[1])

    def run(self) -> ExportResult:
        folder = oem_folder(self.vault, create=not self.dry_run)
        if not self.dry_run:
            sweep_temp_files(folder / INDEX_NAME, suffix=".md")
        self.catalog = load_catalog()
        head, rules = ledger_head(), _rules(self.catalog)
        state = ExportState.objects.filter(folder=str(folder)).first()
        whole = self.only is None and not self.prune and not self.retire
        if whole and (left := _as_left(state, folder, head, rules, self.dry_run)) is not None:
            return left
        kept = state.left if state is not None and state.rules == rules else {}
        notes = self._existing_notes(folder)
        with replacing_many() as self.replace:
            self._export(folder, notes, kept)
        self.replace = write_atomic
        if whole and not self.dry_run:
            self._remember(folder, notes, head, rules)
        return self.result

    def _export(self, folder: Path, notes: list[Note], kept: dict[str, Any]) -> None:
        """Every OEM's note, the inactive ones and the index (see `run`)."""
        by_id = {n.hints["oem_id"]: n for n in notes if _oem_id_of(n)}
        by_name = {fold(n.path.stem): n for n in notes}
        taken = set(by_name)
        groups = _by_oem(db.read_for_notes())
        self.recent = self._recent_changes(groups)
        index_rows = []
        seen_ids: set[str] = set()
        for rows in sorted(groups.values(), key=lambda g: (g[0].oem.casefold(), g[0].oem)):
            oem = rows[0].oem
            ranked = Ranked(self.catalog, oem, rows)
            owned = _owned(oem, rows, ranked)
            ident = owned["oem_id"]
            seen_ids.add(ident)
            note = by_id.get(ident)
            if note is None:
                candidate = by_name.get(fold(note_name(oem, ident)))
                if candidate is not None and not _oem_id_of(candidate):
                    note = candidate  # a note a person made for this OEM: adopted
            path = note.path if note else self._new_path(folder, oem, ident, taken)
            index_rows.append((oem, path, rows, ranked))
            if self.only is not None and rows[0].oem_key not in self.only:
                continue  # not selected: listed in the index, its note left as it is
            inputs = _inputs(rows, self.recent.get(rows[0].oem_key))
            # Optimization: a note holding the bytes the last export left, whose OEM's rows and
            # recent changes are what they were then (and the rules), is what rendering would
            # give again: it is not rendered.
            if note is not None and (note.digest, inputs) == (
                kept.get("files", {}).get(path.name),
                kept.get("inputs", {}).get(path.name),
            ):
                self.result.files_unchanged.append(str(path))
                self.left[path.name] = note.digest
            else:
                content = self._render(oem, rows, key=rows[0].oem_key, ranked=ranked)
                self._write(path, note, owned, content)
            if path.name in self.left:
                self.inputs[path.name] = inputs
        inactive = [n for i, n in by_id.items() if i not in seen_ids and _is_oem_note(n)]
        for note in sorted(inactive, key=lambda n: n.path.name):
            if self.only is None:
                self._inactive(note)
        self.result.oems_count = len(groups)
        self._index(folder, index_rows, [n for n in inactive if n.path.exists()])

    def _remember(self, folder: Path, notes: list[Note], head: int, rules: str) -> None:
        """What this export left in the folder (see ExportState), unless some note was a
        conflict or is no regular file: those are looked at again on every export."""
        if self.result.conflicts or any(note.conflict for note in notes):
            ExportState.objects.filter(folder=str(folder)).delete()
            return
        # Every note file in the folder, so a note a person adds is noticed as well.
        files = {note.path.name: note.digest for note in notes} | self.left
        left = {
            "files": files,
            "notes": list(self.left),
            "inactive": [Path(p).name for p in self.result.inactive],
            "inputs": self.inputs,
            "oems": self.result.oems_count,
        }
        ExportState.objects.update_or_create(
            folder=str(folder), defaults={"ledger_id": head, "rules": rules, "left": left}
        )

    # Finding notes.

    def _existing_notes(self, folder: Path) -> list[Note]:
        return [Note.read(path) for path in _note_paths(folder)]

    def _new_path(self, folder: Path, oem: str, ident: str, taken: set[str]) -> Path:
        name = note_name(oem, ident)
        if fold(name) in taken or fold(name) == fold(INDEX_NAME):
            name = note_name(oem, ident, suffix=f" ({ident})")
        taken.add(fold(name))
        return folder / f"{name}.md"

    # Writing notes.

    def _recent_changes(self, keys: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """OEMs' last tier changes from the ledger (PARTNERS_NOTE_RECENT_CHANGES; 0: none)."""
        count = min(settings.PARTNERS_NOTE_RECENT_CHANGES, RECENT_KEPT)
        return recent_changes(keys, count, self.catalog) if count else {}

    def _recent(self, key: str) -> list[dict[str, str]]:
        if key not in self.recent:  # an inactive OEM's note: asked for one at a time
            self.recent.update(self._recent_changes([key]) or {key: []})
        cache = self.cache
        return [
            {
                "date": change["date"],
                "line": RECENT_LINES[change["direction"]].format(
                    name=escape(change["name"]),
                    old=_escape_cached(cache, change["from"]),
                    new=_escape_cached(cache, change["to"]),
                ),
            }
            for change in self.recent.get(key, [])
        ]

    def _render(
        self,
        oem: str,
        rows: list[db.NoteRow],
        inactive_since: str = "",
        key: str = "",
        ranked: Ranked | None = None,
    ) -> str:
        ordered = (ranked or Ranked(self.catalog, oem, rows)).sort(rows)
        values = [v for r in rows for v in (r.name, r.tier, r.program, r.poc, r.notes) if v]
        partners: list[Any] = ordered
        if needs_escaping(values):
            cache = self.cache
            partners = [
                NotePartner(
                    escape(r.name),
                    _escape_cached(cache, r.tier),
                    _escape_cached(cache, r.program),
                    escape(r.poc),
                    escape(r.notes),
                    r.updated_at,
                )
                for r in ordered
            ]
        context = {
            "oem": escape(oem),
            "partners": partners,
            "inactive_since": inactive_since,
            "recent": self._recent(key),
        }
        return self.template.render(context)

    def _write(self, path: Path, note: Note | None, owned: dict[str, Any], content: str) -> bool:
        shown = str(path)
        if note is not None and note.conflict:
            self.result.conflicts.append({"path": shown, "reason": note.conflict})
            return False
        try:
            if note is not None and is_current(note.text, owned, content):
                self.result.files_unchanged.append(shown)
                self.left[path.name] = note.digest
                return False
            if note is not None and note.frontmatter.get("oem_id", owned.get("oem_id")) != (
                owned.get("oem_id")
            ):
                raise NoteConflict("its oem_id belongs to another OEM")
            text = compose(note.text if note else None, owned, content)
        except NoteConflict as exc:
            self.result.conflicts.append({"path": shown, "reason": str(exc)})
            return False
        if note is not None and text == note.text:
            self.result.files_unchanged.append(shown)
            self.left[path.name] = note.digest
            return False
        if self.dry_run:
            self.result.files_written.append(shown)
            return True
        if not _inside(path.parent.resolve(), self.vault) or path.is_symlink():
            self.result.conflicts.append({"path": shown, "reason": "leads outside the vault"})
            return False
        if note is not None and _changed_since_read(path, note.text):
            self.result.conflicts.append({"path": shown, "reason": "changed during the export"})
            return False
        if note is None and os.path.lexists(path):
            self.result.conflicts.append({"path": shown, "reason": "appeared during the export"})
            return False
        # The old text is known and was checked just above, so unlike write_if_changed nothing
        # opens the file at `path` again (a FIFO swapped in since then cannot block the export).
        data = text.encode("utf-8")
        self.replace(path, data)
        self.result.files_written.append(shown)
        self.left[path.name] = _sha256(data)
        if note is None:
            self.result.created.append(shown)
        return True

    def _inactive(self, note: Note) -> None:
        self.result.inactive.append(str(note.path))
        try:
            front = note.frontmatter
        except NoteConflict as exc:
            self.result.conflicts.append({"path": str(note.path), "reason": str(exc)})
            return
        oem = str(front.get("oem") or note.path.stem)
        since = str(front.get("inactive_since") or timezone.now().date().isoformat())
        owned = {
            "oem": oem,
            "oem_id": note.hints["oem_id"],
            "type": "oem",
            "status": "inactive",
            "partner_count": 0,
            "tiers": [],
            "programs": [],
            "updated": str(front.get("updated", "")),
            "inactive_since": since,
        }
        content = self._render(oem, [], inactive_since=since, key=identity_key(oem))
        if (self.prune or str(note.path) in self.retire) and not note.conflict:
            try:
                clean = untouched(note.text, OWNED_INACTIVE)
            except NoteConflict:
                clean = False
            if clean:
                self._trash(note.path)
                return
        self._write(note.path, note, owned, content)

    def _trash(self, path: Path) -> None:
        trash = self.vault / TRASH
        reason = None
        if os.path.lexists(trash):
            if not _inside(trash.resolve(), self.vault):
                reason = ".trash leads outside"
            elif not trash.is_dir():
                reason = ".trash is not a folder"
        if reason:
            self.result.conflicts.append({"path": str(path), "reason": reason})
            return
        target = trash / path.name
        counter = 1
        # lexists: a FIFO, folder or dangling link already there is passed over, never
        # opened or replaced.
        while os.path.lexists(target):
            target = trash / f"{path.stem} {counter}{path.suffix}"
            counter += 1
        if self.dry_run:
            self.result.trashed.append(str(target))
            return
        try:
            reason = not_regular(os.lstat(path).st_mode)
            if reason is None:
                trash.mkdir(exist_ok=True)
                os.replace(path, target)
        except OSError as exc:
            reason = f"could not be moved to .trash: {exc}"
        if reason:
            self.result.conflicts.append({"path": str(path), "reason": reason})
            return
        self.result.trashed.append(str(target))
        fsync_dir(trash)
        fsync_dir(path.parent)

    def _index(
        self, folder: Path, entries: list[tuple[str, Path, list, Ranked]], inactive: list
    ) -> None:
        """A table of OEMs without a ladder (Platinum … Bronze, then Other), as before the
        catalog; and a table per ladder whose columns are that ladder, highest first, with an
        "Off ladder" column only when some partner there holds a tier the ladder lacks."""
        path = folder / f"{INDEX_NAME}.md"
        oems = []
        ladders: dict[tuple[str, ...], dict[str, Any]] = {}
        for oem, note_path, rows, ranked in entries:
            link = _link(note_path.stem, oem)
            # Optimization: an OEM whose programs read one ladder (or none) is counted in one
            # C call, as before; otherwise each distinct (program, tier) is counted once.
            split: dict[tuple[str, str] | None, Counter[str]] = {}  # by the ladder's key
            if ranked.by_tier is not None:
                split[ranked.ladder_key()] = Counter(map(attrgetter("tier"), rows))
            else:
                for (program, tier), count in Counter(zip(*_columns(rows), strict=True)).items():
                    ladder = ranked.ladders[program]
                    key = None if ladder is None else ladder.entry.key
                    split.setdefault(key, Counter())[tier] += count
            if None in split:
                counts = split.pop(None)
                by_tier = [counts.pop(t, 0) for t in MAIN_TIERS]
                oems.append(
                    {
                        "link": link,
                        "count": sum(by_tier) + sum(counts.values()),
                        "by_tier": by_tier,
                        "other": sum(counts.values()),
                    }
                )
            for key, tiers in split.items():
                assert key is not None
                _ladder_row(ladders, self.catalog.ladders[key], link, tiers)
        for group in ladders.values():  # "Off ladder" only where some partner needs it
            off = any(row["off"] for row in group["oems"])
            group["columns"] = group["tiers"] + ["Off ladder"] * off
            group["align"] = ["---:"] * len(group["columns"])
            for row in group["oems"]:
                row["cells"] = row["by_tier"] + [row["off"]] * off
        inactive_links = [{"link": _link(n.path.stem, _inactive_name(n))} for n in inactive]
        content = self.index_template.render(
            {
                "oems": oems,
                "tiers": MAIN_TIERS,
                "ladders": list(ladders.values()),
                "inactive": inactive_links,
            }
        )
        owned = {"type": "oem-index", "oem_count": len(entries)}
        note = Note.read(path) if os.path.lexists(path) else None
        self._write(path, note, owned, content)


def _note_paths(folder: Path) -> list[Path]:
    """Every note's path in the folder. Folders, FIFOs and links too: their names are taken,
    and an OEM whose note would be one of them is a conflict (Note.read never opens them)."""
    if not folder.is_dir():
        return []
    return [
        Path(entry.path)
        for entry in os.scandir(folder)
        if entry.name.endswith(".md") and not entry.name.startswith(".")
    ]


def _rules(catalog: Catalog) -> str:
    """sha256 of all that decides the notes' text besides the rows, the ledger (recent
    changes) and the notes themselves: the catalog, the settings, the templates and the code
    (a new Python can sort and fold text differently). See `_as_left`."""
    env = cast(Jinja2, engines["obsidian"]).env
    assert env.loader is not None
    parts = [catalog.digest, str(settings.PARTNERS_NOTE_RECENT_CHANGES), sys.version]
    parts += [jinja2.__version__, *(env.loader.get_source(env, name)[0] for name in TEMPLATES)]
    digest = hashlib.sha256("\0".join(parts).encode())
    for name in RENDERING:
        digest.update(b"\0" + (Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def _as_left(
    state: ExportState | None, folder: Path, head: int, rules: str, dry_run: bool
) -> ExportResult | None:
    """The result of the last export, when nothing notes are rendered from has changed since
    (the ledger, the rules) and the folder holds the very note files it left, byte for byte;
    None otherwise.

    Optimization: a no-op export reads and hashes the notes (0.05 s for the 1,000 notes of
    100,000 records) instead of reading the table and rendering every note only to find it
    unchanged (1.1-1.4 s in process).
    The bytes are hashed, not trusted by size and mtime: an edit that keeps the size within
    one tick of the clock, or a sync tool that sets mtimes, would go unseen."""
    if state is None or state.ledger_id != head or state.rules != rules:
        return None
    left = state.left
    paths = _note_paths(folder)
    if len(paths) != len(left["files"]):
        return None  # a note was added or deleted
    for path in paths:
        try:
            if _sha256(read_regular(path)) != left["files"].get(path.name):
                return None
        except (OSError, NoteConflict):
            return None
    return ExportResult(
        dry_run=dry_run,
        files_unchanged=[str(folder / name) for name in left["notes"]],
        inactive=[str(folder / name) for name in left["inactive"]],
        oems_count=left["oems"],
    )


def _inputs(rows: list[db.NoteRow], recent: list[dict[str, Any]] | None) -> str:
    """sha256 of what an OEM's note is rendered from besides the rules: its rows as the table
    holds them, in its order, and its recent changes."""
    return hashlib.sha256(orjson.dumps([list(map(tuple, rows)), recent])).hexdigest()


def _ladder_row(
    ladders: dict[tuple[str, ...], dict[str, Any]], ladder: Ladder, link: str, tiers: Counter[str]
) -> None:
    """One OEM's partners on one ladder, as a row of that ladder's table."""
    entry = ladder.entry
    group = ladders.get(entry.tiers)
    if group is None:
        shown = [escape(t) for t in reversed(entry.tiers)]
        group = ladders[entry.tiers] = {"title": " > ".join(shown), "tiers": shown, "oems": []}
    by_rank = [0] * len(entry.tiers)
    off = 0
    for tier, count in tiers.items():
        rank = ladder.ranks.get(identity_key(tier))
        if rank is None:
            off += count
        else:
            by_rank[rank] += count
    program = f" ({escape(entry.program)})" if entry.program else ""
    group["oems"].append(
        {"link": link + program, "count": tiers.total(), "by_tier": by_rank[::-1], "off": off}
    )


def _oem_id_of(note: Note) -> str | None:
    return None if note.conflict else note.hints.get("oem_id") or None


def _is_oem_note(note: Note) -> bool:
    return note.hints.get("type") == "oem"


def _inactive_name(note: Note) -> str:
    try:
        return str(note.frontmatter.get("oem") or note.path.stem)
    except NoteConflict:
        return note.path.stem


def _changed_since_read(path: Path, text: str) -> bool:
    try:
        return read_regular(path).decode("utf-8") != text
    except (OSError, UnicodeDecodeError, NoteConflict):
        return True


def _link(stem: str, display: str) -> str:
    """A wikilink usable inside a table cell."""
    shown = " ".join("".join(c for c in display if c not in "[]|#^").split())
    if not shown or shown == stem:
        return f"[[{stem}]]"
    return f"[[{stem}\\|{escape(shown)}]]"


def export_obsidian(
    vault: str | Path | None = None,
    *,
    dry_run: bool = False,
    prune: bool = False,
    lock_timeout: float | None = None,
    oem_keys: Collection[str] | None = None,
    retire: Collection[str] = (),
) -> ExportResult:
    """Export every OEM's partner tiers to the vault (default VAULT_ROOT), or only the notes
    of the OEMs in `oem_keys` (identity keys; the index is still rewritten whole, and no other
    note is marked inactive or pruned). `retire`: notes (relative to the vault) pruned as
    `prune` would, if inactive and untouched, when the rest is not (a revert undoing the
    notes its run created).

    Raises VaultError when the vault cannot be used. Holds the sync lock, so the notes are
    rendered from one state of the database and two exports never interleave.
    """
    root = vault_root(vault)
    timeout = settings.PARTNERS_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    with sync_lock(timeout), bulk_allocation():
        return Exporter(root, dry_run, prune, oem_keys, retire).run()
