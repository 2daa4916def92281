"""Programs and their tier ladders: what a tier means at each OEM.

The catalog (`Program`, `ProgramTier`, `TierAlias`, `OemAlias` in the database, shipped as
`data/programs.yaml`) is read once per run into plain dicts (`Catalog`), so normalizing and
ranking 100,000 records costs dictionary look-ups, never a query per row.

Directions are computed from the catalog when they are shown (previews, results, history,
reports), never stored: a ladder fixed later reads right for old entries too. A renamed tier
keeps its old name as an alias (`rename_tier`), so records and ledger entries that still say
the old name rank as before.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction

from partners.fields import MAX_LENGTH
from partners.normalize import clean, identity_key, oem_alias_map, tier_direction

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "programs.yaml"
NEAR_SCORE = 80  # rapidfuzz WRatio: "Cisco Systems"/"Cisco" 90, "Cicso"/"Cisco" 80
NEAR_COMPARED = 200  # new spellings compared per run at most: the work stays bounded


class CatalogError(ValueError):
    """A catalog file that cannot be used, said as "<file>: programs[3] (Cisco): tiers: …"."""


@dataclass(frozen=True)
class Entry:
    """One program of the catalog, as the YAML file states it."""

    oem: str
    program: str | None
    tiers: tuple[str, ...]  # lowest → highest
    aliases: tuple[tuple[str, str], ...] = ()  # (alias, tier) in the file's order

    @property
    def key(self) -> tuple[str, str]:
        return (identity_key(self.oem), identity_key(self.program or ""))

    def digest(self) -> str:
        """What this entry says; a program in the database that still hashes to the digest
        the loader stored was not changed by a person."""
        text = json.dumps([self.oem, self.program, self.tiers, sorted(self.aliases)])
        return hashlib.sha256(text.encode()).hexdigest()

    def label(self) -> str:
        return f"{self.oem} {self.program}" if self.program else self.oem


@dataclass
class Ladder:
    entry: Entry
    ranks: dict[str, int] = field(default_factory=dict)  # tier key (aliases too) → position
    spellings: dict[str, str] = field(default_factory=dict)  # tier key → the ladder's spelling

    @classmethod
    def of(cls, entry: Entry) -> Ladder:
        ladder = cls(entry)
        for position, tier in enumerate(entry.tiers):
            ladder.ranks[identity_key(tier)] = position
            ladder.spellings[identity_key(tier)] = tier
        for alias, tier in entry.aliases:
            key = identity_key(alias)
            ladder.ranks.setdefault(key, ladder.ranks[identity_key(tier)])
            ladder.spellings.setdefault(key, tier)
        return ladder

    def off_ladder(self, tier: str) -> str:
        tiers = ", ".join(self.entry.tiers)
        where = self.entry.oem
        if self.entry.program:
            where = f"{self.entry.oem} {self.entry.program}"
        article = "an" if where[:1].upper() in "AEIOU" else "a"
        return f"{tier!r} is not {article} {where} tier: {tiers}"


class Catalog:
    """Every ladder and OEM alias, keyed for look-ups by (OEM key, program key)."""

    def __init__(self, entries: Iterable[Entry] = (), oem_aliases: Mapping[str, str] | None = None):
        # A program a person emptied has no ladder: its tiers rank by the global ranking.
        self.entries = sorted((e for e in entries if e.tiers), key=lambda e: e.key)
        self.ladders = {entry.key: Ladder.of(entry) for entry in self.entries}
        # OEM key → spelling: the catalog's OEMs and their aliases.
        self.oems = {identity_key(e.oem): e.oem for e in self.entries}
        self.oem_aliases = {identity_key(a): o for a, o in (oem_aliases or {}).items()}
        self.programs: dict[str, dict[str, str]] = {}  # OEM key → program key → spelling
        for entry in self.entries:
            if entry.program:
                self.programs.setdefault(entry.key[0], {})[entry.key[1]] = entry.program
        self.digest = hashlib.sha256(
            orjson.dumps(
                [
                    [[e.oem, e.program, e.tiers, sorted(e.aliases)] for e in self.entries],
                    sorted(self.oem_aliases.items()),
                ]
            )
        ).hexdigest()
        # Tier key → every spelling some ladder gives it: a tier written as the only one is
        # spelled right wherever it appears (see `spell_column`).
        self._spellings: dict[str, set[str]] = {}
        for ladder in self.ladders.values():
            for key, spelling in ladder.spellings.items():
                self._spellings.setdefault(key, set()).add(spelling)
        self._found: dict[tuple[str, str | None], Ladder | None] = {}
        self._spelled: dict[tuple[str, str, str], str] = {}
        self._directions: dict[tuple[str, str | None, str | None, str | None], str] = {}

    def alias_map(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """How OEMs are spelled, by identity key: the built-in aliases, the catalog's OEMs
        and OEM aliases, then `PARTNERS_OEM_ALIASES` (which wins)."""
        aliases = oem_alias_map()
        aliases.update(self.oems)
        aliases.update(self.oem_aliases)
        for alias, spelling in (extra or {}).items():
            aliases[identity_key(alias)] = clean(spelling) or spelling
        return aliases

    def __bool__(self) -> bool:
        return bool(self.ladders)

    def find(self, oem: str, program: str | None) -> Ladder | None:
        """The program's ladder, else the OEM's default ladder, else None."""
        if not self.ladders:
            return None
        cached = self._found.get((oem, program), False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        oem_key = identity_key(oem)
        found = self.ladders.get((oem_key, identity_key(program or ""))) or self.ladders.get(
            (oem_key, "")
        )
        self._found[(oem, program)] = found
        return found

    def ladder(self, oem: str, program: str | None) -> tuple[str, ...] | None:
        found = self.find(oem, program)
        return None if found is None else found.entry.tiers

    def rank(self, oem: str, program: str | None, tier: str | None) -> int | None:
        found = self.find(oem, program)
        if found is None or not tier:
            return None
        return found.ranks.get(identity_key(tier))

    def spell(self, oem: str, program: str | None, tier: str) -> str:
        """The tier as its ladder spells it (`gold partner` → Gold at Cisco), else as given."""
        found = self.find(oem, program)
        if found is None:
            return tier
        return found.spellings.get(identity_key(tier), tier)

    def direction(self, oem: str, program: str | None, old: str | None, new: str | None) -> str:
        """`up`/`down` by the ladder when it ranks both tiers; else the global ranking's
        answer (`changed` when it has none). Optimization: asked once per distinct change
        (a sync of 10,000 updates has a few dozen)."""
        if not self.ladders:
            return tier_direction(old, new)
        key = (oem, program, old, new)
        found = self._directions.get(key)
        if found is None:
            found = self._directions[key] = self._direction(oem, program, old, new)
        return found

    def _direction(self, oem: str, program: str | None, old: str | None, new: str | None) -> str:
        old_rank, new_rank = self.rank(oem, program, old), self.rank(oem, program, new)
        if old_rank is None or new_rank is None:
            return tier_direction(old, new)
        if old_rank == new_rank:
            return "changed"
        return "up" if new_rank > old_rank else "down"

    def spell_column(
        self, oems: Sequence[str], programs: Sequence[str], tiers: list[str]
    ) -> list[str]:
        """`spell` of a whole file's columns (OEM keys, programs, tiers).

        Optimization: most files already spell their tiers as the ladders do; a tier that
        no ladder spells otherwise is left as it is without looking at its rows, and only the
        rows of the others are spelled, once per distinct (OEM, program, tier).
        """
        if not self.ladders:
            return tiers
        suspect = {tier for tier in set(tiers) if not self._spelled_right(tier)}
        if not suspect:
            return tiers
        out = list(tiers)
        spelled = self._spelled
        for i in [i for i, tier in enumerate(tiers) if tier in suspect]:
            key = (oems[i], programs[i], tiers[i])
            found = spelled.get(key)
            if found is None:
                found = spelled[key] = self.spell(*key)
            out[i] = found
        return out

    def _spelled_right(self, tier: str) -> bool:
        spellings = self._spellings.get(identity_key(tier))
        return spellings is None or spellings == {tier}

    def all_on_ladders(
        self, oems: Sequence[str], programs: Sequence[str], tiers: Sequence[str]
    ) -> bool:
        """Whether every tier of the file is on the ladder of every OEM of the file (or that
        OEM has none), checked per distinct OEM and tier: when so, no row is off its ladder.
        Optimization: a file whose OEMs have program ladders answers False (rows decide)."""
        distinct = {identity_key(tier) for tier in set(tiers)}
        for oem_key in set(oems):
            if oem_key in self.programs:
                return False
            ladder = self.ladders.get((oem_key, ""))
            if ladder is not None and not distinct.issubset(ladder.ranks):
                return False
        return True

    def off_ladder(self, oem: str, program: str | None, tier: str) -> str | None:
        """The warning for a tier its ladder does not know; None when it does or there is no
        ladder."""
        found = self.find(oem, program)
        if found is None or identity_key(tier) in found.ranks:
            return None
        return found.off_ladder(tier)

    def near_oem(self, spelling: str, known: Iterable[str]) -> str | None:
        """A known OEM spelling this new one looks like ("Cisco Systems" → "Cisco")."""
        return _nearest(spelling, {*self.oems.values(), *known})

    def near_program(self, oem_key: str, program: str) -> str | None:
        """A catalog program of this OEM that `program` (not one of them) looks like, the
        OEM's name left out of both ("Cisco Partner Program" is not like "Cisco 360")."""
        known = self.programs.get(oem_key, {})
        if not known or identity_key(program) in known:
            return None
        oem_words = set(oem_key.split())
        shown = {_without(name, oem_words): name for name in known.values()}
        found = _nearest(_without(program, oem_words), shown)
        return None if found is None else shown[found]


EMPTY = Catalog()  # no ladders: every direction by the global ranking


def _without(text: str, words: set[str]) -> str:
    kept = [word for word in text.split() if word.casefold() not in words]
    return " ".join(kept) or text


def _nearest(spelling: str, choices: Iterable[str]) -> str | None:
    from rapidfuzz import fuzz, process, utils

    key = identity_key(spelling)
    # Sorted: among equally near ones the first alphabetically, whatever the order (a set's
    # changes from one process to the next) they came in.
    others = sorted({c for c in choices if identity_key(c) != key})
    found = process.extractOne(
        spelling,
        others,
        scorer=fuzz.WRatio,
        processor=utils.default_process,
        score_cutoff=NEAR_SCORE,
    )
    return None if found is None else str(found[0])


def near_warning(spelling: str, known: str) -> str:
    return f"{spelling!r} looks like {known!r} — add it as an alias?"


def load_catalog() -> Catalog:
    """The catalog as the database holds it now: three queries."""
    entries, oem_aliases = read_entries()
    return Catalog(entries, oem_aliases)


def read_entries() -> tuple[list[Entry], dict[str, str]]:
    from partners.models import OemAlias, Program, ProgramTier, TierAlias

    tiers: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for tier_id, program_id, name in ProgramTier.objects.order_by(
        "program_id", "position"
    ).values_list("id", "program_id", "name"):
        tiers.setdefault(program_id, []).append(name)
        names[tier_id] = name
    aliases: dict[int, list[tuple[str, str]]] = {}
    for program_id, alias, tier_id in TierAlias.objects.order_by("id").values_list(
        "program_id", "alias", "tier_id"
    ):
        aliases.setdefault(program_id, []).append((alias, names[tier_id]))
    entries = [
        Entry(oem, program, tuple(tiers.get(pk, ())), tuple(aliases.get(pk, ())))
        for pk, oem, program in Program.objects.values_list("id", "oem", "program")
    ]
    oem_aliases = dict(OemAlias.objects.order_by("alias_key").values_list("alias", "oem"))
    return entries, oem_aliases


# The YAML file: parsing with errors that name the entry and the key.

ENTRY_KEYS = ("oem", "program", "tiers", "aliases")


def parse_catalog(text: str, name: str) -> tuple[list[Entry], dict[str, str]]:
    """The `programs:` list (and optional `oem_aliases:` mapping) of a catalog file."""
    from partners.loaders import AliasRefused, _yaml_loader

    loader = _yaml_loader()(text)
    try:
        document = loader.get_single_data()
    except AliasRefused as exc:
        raise CatalogError(f"{name}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError and its marks
        raise CatalogError(f"{name}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(document, dict) or not isinstance(document.get("programs"), list):
        raise CatalogError(f"{name}: expected a mapping with a 'programs' list")
    unknown = set(document) - {"programs", "oem_aliases"}
    if unknown:
        raise CatalogError(f"{name}: unknown key {sorted(unknown)[0]!r}")
    entries: list[Entry] = []
    seen: dict[tuple[str, str], int] = {}
    for index, raw in enumerate(document["programs"]):
        entry = _entry(raw, f"{name}: programs[{index}]")
        if entry.key in seen:
            where = f"{name}: programs[{index}] ({entry.label()})"
            raise CatalogError(f"{where}: program: also at programs[{seen[entry.key]}]")
        seen[entry.key] = index
        entries.append(entry)
    return entries, _oem_aliases(document.get("oem_aliases"), name)


def _text(value: Any, where: str, key: str, limit: int) -> str:
    if not isinstance(value, str):
        shown = "missing" if value is None else f"not text ({type(value).__name__})"
        raise CatalogError(f"{where}: {key}: {shown}")
    cleaned = clean(value)
    if not cleaned:
        raise CatalogError(f"{where}: {key}: empty")
    if len(cleaned) > limit or not cleaned.isprintable():
        raise CatalogError(f"{where}: {key}: {cleaned[:40]!r} is not a valid {key}")
    return cleaned


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping with {', '.join(ENTRY_KEYS)}")
    oem = _text(raw.get("oem"), where, "oem", MAX_LENGTH["oem"])
    where = f"{where} ({oem}"
    program = None
    if raw.get("program") is not None:
        program = _text(raw["program"], f"{where})", "program", MAX_LENGTH["program"])
        where = f"{where} {program}"
    where += ")"
    unknown = set(raw) - set(ENTRY_KEYS)
    if unknown:
        raise CatalogError(f"{where}: {sorted(map(str, unknown))[0]}: unknown key")
    tiers_raw = raw.get("tiers")
    if not isinstance(tiers_raw, list) or not tiers_raw:
        raise CatalogError(f"{where}: tiers: expected a list of tiers, lowest first")
    tiers = tuple(_text(t, where, "tiers", MAX_LENGTH["tier"]) for t in tiers_raw)
    keys = [identity_key(t) for t in tiers]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise CatalogError(f"{where}: tiers: {tiers[i]!r} is listed twice")
    aliases_raw = raw.get("aliases") or {}
    if not isinstance(aliases_raw, dict):
        raise CatalogError(f"{where}: aliases: expected a mapping of alias → tier")
    aliases: list[tuple[str, str]] = []
    by_key = dict(zip(keys, tiers, strict=True))
    seen = set(keys)
    for alias_raw, tier_raw in aliases_raw.items():
        alias = _text(alias_raw, where, "aliases", MAX_LENGTH["tier"])
        tier = _text(tier_raw, where, "aliases", MAX_LENGTH["tier"])
        if identity_key(tier) not in by_key:
            raise CatalogError(f"{where}: aliases: {alias!r} names {tier!r}, not on the ladder")
        if identity_key(alias) in seen:
            raise CatalogError(f"{where}: aliases: {alias!r} is already a tier or an alias")
        seen.add(identity_key(alias))
        aliases.append((alias, by_key[identity_key(tier)]))
    return Entry(oem, program, tiers, tuple(aliases))


def check_entry(raw: Any, where: str) -> Entry:
    """A program as a person states it in the admin, checked by the catalog file's rules."""
    return _entry(raw, where)


def _oem_aliases(raw: Any, name: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CatalogError(f"{name}: oem_aliases: expected a mapping of alias → OEM")
    out: dict[str, str] = {}
    for alias, oem in raw.items():
        where = f"{name}: oem_aliases"
        out[_text(alias, where, "alias", MAX_LENGTH["oem"])] = _text(
            oem, where, "oem", MAX_LENGTH["oem"]
        )
    return out


# The YAML file: writing, in the shape, one program per block.

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 ._&/+()-]*")
_YAML_WORDS = {"null", "true", "false", "yes", "no", "on", "off", "y", "n"}


def _scalar(value: str | None) -> str:
    """Plain where YAML reads it back as the same text, else a JSON string (valid YAML)."""
    if value is None:
        return "null"
    if _PLAIN.fullmatch(value) and value == value.strip() and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def dump_catalog(entries: Iterable[Entry], oem_aliases: Mapping[str, str]) -> str:
    lines = ["programs:"]
    for entry in sorted((e for e in entries if e.tiers), key=lambda e: e.key):
        lines.append(f"  - oem: {_scalar(entry.oem)}")
        lines.append(f"    program: {_scalar(entry.program)}")
        lines.append(f"    tiers: [{', '.join(map(_scalar, entry.tiers))}]")
        pairs = ", ".join(
            f"{json.dumps(a, ensure_ascii=False)}: {_scalar(t)}" for a, t in entry.aliases
        )
        lines.append(f"    aliases: {{{pairs}}}")
    if oem_aliases:
        lines.append("oem_aliases:")
        for alias, oem in sorted(oem_aliases.items(), key=lambda item: identity_key(item[0])):
            lines.append(f"  {json.dumps(alias, ensure_ascii=False)}: {_scalar(oem)}")
    return "\n".join(lines) + "\n"


# Writing the catalog to the database.


def save_entry(entry: Entry, *, catalog_digest: str = "") -> Any:
    """Create or replace the program `entry` names (by OEM + program), its ladder and aliases.
    `catalog_digest` is set by the shipped catalog's loader only: "" marks a person's."""
    from partners.models import Program, ProgramTier, TierAlias

    oem_key, program_key = entry.key
    program = Program.objects.filter(oem_key=oem_key, program_key=program_key).first()
    if program is None:
        program = Program(oem=entry.oem, program=entry.program)
    program.oem, program.program, program.catalog_digest = entry.oem, entry.program, catalog_digest
    program.save()
    program.tiers.all().delete()  # cascades to the aliases
    tiers = ProgramTier.objects.bulk_create(
        ProgramTier(program=program, position=i, name=name) for i, name in enumerate(entry.tiers)
    )
    by_name = {tier.name: tier for tier in tiers}
    for alias, tier in entry.aliases:
        TierAlias(program=program, alias=alias, tier=by_name[tier]).save()
    return program


def save_oem_aliases(aliases: Mapping[str, str]) -> None:
    from partners.models import OemAlias

    for alias, oem in aliases.items():
        found = OemAlias.objects.filter(alias_key=identity_key(alias)).first() or OemAlias()
        found.alias, found.oem = alias, oem
        found.save()


def import_catalog(entries: Sequence[Entry], oem_aliases: Mapping[str, str]) -> int:
    """`programs import`: a person's catalog, all or nothing; programs not named stay."""
    with transaction.atomic():
        for entry in entries:
            save_entry(entry)
        save_oem_aliases(oem_aliases)
    return len(entries)


@dataclass
class Loaded:
    created: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # changed by a person: left as they are


def load_shipped(path: Path | None = None) -> Loaded:
    """The shipped catalog into the database: missing programs are created, programs still as
    the catalog last left them are refreshed, and a program a person changed is left alone."""
    from partners.models import Program

    path = path or Path(getattr(settings, "PARTNERS_PROGRAMS_PATH", SHIPPED))
    entries, oem_aliases = parse_catalog(path.read_text(encoding="utf-8"), path.name)
    current = {e.key: e for e in read_entries()[0]}
    stored = {
        (oem_key, program_key): digest
        for oem_key, program_key, digest in Program.objects.values_list(
            "oem_key", "program_key", "catalog_digest"
        )
    }
    loaded = Loaded()
    with transaction.atomic():
        for entry in entries:
            now = current.get(entry.key)
            if now is None:
                save_entry(entry, catalog_digest=entry.digest())
                loaded.created.append(entry.label())
            elif stored.get(entry.key) != now.digest():
                loaded.kept.append(entry.label())
            elif now.digest() != entry.digest():
                save_entry(entry, catalog_digest=entry.digest())
                loaded.refreshed.append(entry.label())
        from partners.models import OemAlias

        known = set(OemAlias.objects.values_list("alias_key", flat=True))
        save_oem_aliases({a: o for a, o in oem_aliases.items() if identity_key(a) not in known})
    return loaded


def rename_tier(program: Any, old: str, new: str) -> None:
    """Rename a rung of `program`'s ladder, keeping `old` as an alias of it: records and
    ledger entries that say `old` still spell and rank as the renamed tier."""
    from partners.models import TierAlias

    tier = program.tiers.get(name=old)
    tier.name = new
    tier.save()
    if identity_key(old) != identity_key(new):
        TierAlias.objects.filter(program=program, alias_key=identity_key(new)).delete()
        TierAlias(program=program, alias=old, tier=tier).save()
