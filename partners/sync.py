"""The sync engine: load → normalize → validate → diff → apply → store.

The command, the admin and the API call `run_sync`; none of them repeats a rule. A dry run
reads the database and writes nothing at all.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from partners import db, ledger
from partners import profiles as profile_rules
from partners import sources as sourcebase
from partners.allocation import bulk_allocation
from partners.diff import Plan
from partners.loaders import (
    FORMATS,
    InputFile,
    LoadedFile,
    LoadError,
    Reading,
    default_inputs,
    read_input,
)
from partners.locking import SyncBusy, sync_lock
from partners.merge import Lazy, merge, removable, restated, stated_by
from partners.normalize import format_timestamp, identity_key
from partners.programs import load_catalog
from partners.records import (
    FieldError,
    Problem,
    Record,
    build_records,
    normalize_row,
    oem_spelling,
)
from partners.result_json import result_dict
from partners.store import (
    PreparedStore,
    finish_changes,
    is_current,
    ledger_head,
    prepare_changes,
    store_path,
)

__all__ = [
    "InputError",
    "LoadError",
    "StaleState",
    "StoreError",
    "SyncBusy",
    "SyncResult",
    "check_record",
    "run_sync",
]


class InputError(Exception):
    """Nothing usable to sync: no input files, or a path that is not an input."""


class StoreError(Exception):
    """The database was changed but the store file could not be written."""


class Refused(Exception):
    """An apply that was refused before writing anything; the run records why."""


class StaleState(Refused):
    """The database or the input changed since the preview that is being confirmed."""

    def __init__(self) -> None:
        super().__init__(
            "The data changed since the preview (another sync or an edit); "
            "nothing was written. Preview again and confirm the new preview."
        )


@dataclass
class SyncResult:
    dry_run: bool
    prune: bool
    sources: list[dict[str, str | None]]
    plan: Plan = field(default_factory=Plan)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    applied: bool = False
    store_written: bool = False
    fingerprint: str = ""
    run_id: int | None = None  # the SyncRun of an applying call
    empty_before: bool = False  # the table had no rows: the store before was the empty one
    reverts: int | None = None  # a revert: the run it undoes
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # a revert's
    refusal: str = ""  # why nothing may be written (the removal guard)
    # Per source to save when applied: name, files' digest, records stated, keys removed.
    bases: list[tuple[str, str, list[Record], set[sourcebase.Key]]] = field(default_factory=list)
    near: list[dict[str, str]] = field(default_factory=list)  # near-duplicate spellings, as data
    read: sourcebase.Read | None = None  # what reading the files said, kept when applied

    @property
    def ok(self) -> bool:
        return not self.errors and not self.refusal

    @property
    def summary(self) -> dict[str, int]:
        plan = self.plan
        return {
            "added": len(plan.added),
            "updated": len(plan.updated),
            "unchanged": len(plan.unchanged),
            "missing": len(plan.left) if self.prune else len(plan.missing),
            "removed": len(plan.missing) if self.prune else 0,
            "kept": len(plan.kept),
            "conflicts": len(self.conflicts if self.reverts else plan.conflicts),
        }

    @property
    def error_message(self) -> str:
        """The seed's one-line form: `Validation failed: <first error>` (+ how many more)."""
        if self.refusal and not self.errors:
            return self.refusal
        if not self.errors:
            return ""
        more = sum(error.more or 1 for error in self.errors) - 1
        return f"Validation failed: {self.errors[0]}" + (f" (and {more} more)" if more else "")

    def to_dict(self, *, with_unchanged: bool = True) -> dict[str, Any]:
        return result_dict(self, with_unchanged=with_unchanged)


def display_path(path: Path) -> str:
    """How a path is shown in results and errors, never as an absolute server path when it
    can be helped: relative to the project (the seed's `data/partners/...`), else relative to
    the input folder. The file itself is not resolved, so a symlink is named, not its target."""
    full = path.parent.resolve() / path.name
    for base in (Path(settings.BASE_DIR).resolve(), _input_folder()):
        try:
            return str(full.relative_to(base))
        except ValueError:
            continue
    return str(path)


def _input_folder() -> Path:
    return Path(settings.PARTNERS_INPUT_DIR).resolve()


def _shown_folder(folder: Path) -> str:
    return "the input folder" if folder.resolve() == _input_folder() else display_path(folder)


def check_input(path: Path) -> Path:
    """One rule for every door: an input that is a symlink is refused, since it could lead
    anywhere on the server (`partners_x.csv -> /etc/passwd`)."""
    if path.is_symlink():
        raise InputError(f"Refusing {display_path(path)}: it is a symbolic link")
    return path


def resolve_inputs(paths: Sequence[str | Path] | None) -> list[Path]:
    """The files to load: `paths` (a folder means its inputs) or every input in
    PARTNERS_INPUT_DIR: its `partners_*` files and the files an import profile's pattern
    matches. InputError when there are none or one is a symlink."""
    if not paths:
        folder = Path(settings.PARTNERS_INPUT_DIR)
        found = default_inputs(folder, _patterns())
        if not found:
            suffixes = "/".join(FORMATS)
            raise InputError(
                f"No input files: no partners_*{{{suffixes}}} in {_shown_folder(folder)}"
            )
        return [check_input(path) for path in found]
    resolved: list[Path] = []
    for given in paths:
        path = check_input(Path(given))
        resolved += default_inputs(path, _patterns()) if path.is_dir() else [path]
    if not resolved:
        shown = ", ".join(_shown_folder(Path(p)) for p in paths)
        raise InputError(f"No input files in {shown}")
    return [check_input(path) for path in resolved]


def _patterns() -> list[str]:
    return [p.pattern for p in profile_rules.all_profiles() if p.pattern]


def read_inputs(
    paths: Sequence[str | Path] | None,
    profile: profile_rules.Profile | None = None,
    sheet: str | int | None = None,
) -> list[InputFile]:
    """Each file, to be read with `profile`, else with the profile whose pattern matches its
    name; read and hashed, not parsed (`_plan` parses what it must). Profiles are read once a
    file is there to read, so a missing file is named first."""
    known: list[profile_rules.Profile] | None = None
    found = []
    for path in resolve_inputs(paths):
        chosen = profile
        if chosen is None and path.is_file():
            known = profile_rules.all_profiles() if known is None else known
            chosen = profile_rules.for_file(path.name, known)
        found.append(read_input(path, display_path(path), Reading(chosen, sheet)))
    return found


def find_profile(name: str | None) -> profile_rules.Profile | None:
    """The profile named `name` (None: none); InputError naming it when there is none."""
    if name is None:
        return None
    found = profile_rules.get(name)
    if found is None:
        raise InputError(f"No profile named {name!r}")
    return found


Input = InputFile | LoadedFile  # a file, parsed or not yet


def source_entry(loaded: Input) -> dict[str, str | None]:
    """A file as results and sync runs list it (`profile` last: a key added later)."""
    return {
        "path": loaded.path,
        "sha256": loaded.sha256,
        "source": loaded.source,
        "profile": loaded.profile,
    }


class Fingerprint:
    """What a plan was computed from: every row as stored (hashed as the rows stream by, in id
    order), every input's sha256 and the catalog (`Catalog.digest`: its ladders and aliases
    spell and rank what the plan writes).

    A confirm (admin) or an apply with `expected_fingerprint` (API) is refused when this
    differs, so nobody applies a preview that no longer describes what will happen.
    """

    def __init__(self, files: Sequence[Input], catalog: str = "") -> None:
        self.digest = hashlib.sha256(catalog.encode())
        for loaded in files:
            self.digest.update(loaded.sha256.encode())
            if loaded.read_with:  # read another way (a profile changed): another input
                self.digest.update(loaded.read_with.encode())

    def add(self, values: list[tuple[Any, ...]]) -> None:
        """The next rows' values (those that say what a row holds: at least its id,
        `updated_at` and COMPARED). Optimization: each chunk is encoded by orjson, never as
        one 25 MB string for 100,000 rows."""
        self.digest.update(orjson.dumps(values))

    def hexdigest(self) -> str:
        return self.digest.hexdigest()[:32]

    def streamed(self, chunks: Iterable[list[tuple[Any, ...]]]) -> Iterator[list[tuple[Any, ...]]]:
        """`db.stream_rows` chunks, hashed as they pass. Optimization: each chunk whole (its
        keys and `created_at` too): picking the columns out of 100,000 tuples cost as much
        as encoding them."""
        for chunk in chunks:
            self.add(chunk)
            yield chunk


@dataclass(frozen=True)
class Options:
    """How a sync decides (see partners.merge): `prune` removes what this run's sources
    dropped, `prune_all` everything the input lacks; `overwrite` makes every field the files
    state win; `max_remove` raises the removal guard for one run."""

    prune: bool = False
    prune_all: bool = False
    overwrite: bool = False
    max_remove: int | None = None

    @property
    def removes(self) -> bool:
        return self.prune or self.prune_all


def _plan(files: list[Input], options: Options, dry_run: bool, now: str) -> SyncResult:
    """Validate the files, then compare them with the table as it streams by: memory holds
    the records and the changes, never the table. Files that are what their sources last
    applied are not read again (`_restatable`). `files` is handed over: it is emptied when
    they are parsed, so the columns of files read from paths are freed once their records
    are built (about 60 MB at 1,000,000 records; an upload's caller holds its own)."""
    catalog = load_catalog()
    aliases = catalog.alias_map(settings.PARTNERS_OEM_ALIASES)
    digests = _source_digests(files, {**aliases, "\x00catalog": catalog.digest})
    found = Fingerprint(files, catalog.digest)
    last = _restatable(digests, options)
    if last is not None:
        return _plan_restated(files, digests, last, found, dry_run)
    sources = [source_entry(f) for f in files]
    parsed = [each.load() if isinstance(each, InputFile) else each for each in files]
    files.clear()  # handed over: the parsed files go once their records are built
    built = build_records(
        _handed_over(parsed),
        aliases,
        db.spellings,
        catalog,
        strict=settings.PARTNERS_STRICT_TIERS,
        oem_names=db.oem_names,
    )
    del parsed
    result = SyncResult(
        dry_run=dry_run,
        prune=options.removes,
        sources=sources,
        errors=built.errors,
        warnings=built.warnings,
        near=built.near,
    )
    counted = _Counted(found.streamed(db.stream_rows()))
    if built.errors:
        for _ in counted:  # the fingerprint still says what the data was
            pass
        result.fingerprint = found.hexdigest()
        return result
    bases: dict[str, sourcebase.Base | Lazy | None] = {}
    stale: dict[str, list[sourcebase.Key] | None] = {}
    known = sourcebase.states(digests)
    scoped = options.prune and not options.prune_all
    for name, files_digest in digests.items():
        said, read = known.get(name, ("", {}))
        if said == files_digest and not options.removes and read.get("stale") is not None:
            # Its files say what its base does: the base is not needed.
            bases[name], stale[name] = None, sourcebase.stored_keys(read["stale"])
            continue
        if name not in known:
            bases[name] = {}
        elif scoped:  # a scoped prune asks of every row whether its sources stated it
            bases[name] = sourcebase.load(name, built.by_key)
        else:  # read only for the records that need it: most are unchanged
            bases[name] = partial(sourcebase.load_entries, name)
    loaded = {name: base for name, base in bases.items() if isinstance(base, dict)}
    removal = None if not options.removes else stated_by(loaded) if scoped else lambda key: True
    plan = result.plan = merge(
        built.by_key,
        counted,
        bases,
        overwrite=options.overwrite,
        edited=ledger.edited_fields,
        removal=removal,
        catalog=catalog,
    )
    result.fingerprint = found.hexdigest()
    result.empty_before = counted.rows == 0
    if scoped:
        plan.missing, left, conflicts = removable(plan.missing, loaded, overwrite=options.overwrite)
        plan.left = db.RowSet(sorted([*plan.left.ids, *(row.id for row in left)]))  # type: ignore[attr-defined]
        plan.conflicts += conflicts
    if options.removes:
        result.refusal = _removal_guard(len(plan.missing), counted.rows, options.max_remove)
    for record in plan.added:
        record.created_at = record.created_at or record.updated_at or now
        record.updated_at = record.updated_at or now
    for update in plan.updated:
        update.record.created_at = update.row.created_at
        update.record.updated_at = now
    if not dry_run:  # what the sources state after this run, saved with its changes
        removed = {row.key for row in plan.missing} if options.removes else set()
        result.bases = [
            (name, digests[name], _records_of(built.records, name, len(bases)), removed)
            for name, base in bases.items()
            if base is not None  # files unchanged: the base is as it was
        ]
        result.read = sourcebase.Read(_read_key(digests), built.warnings, built.near, stale)
    return result


def _handed_over(files: list[LoadedFile]) -> Iterator[LoadedFile]:
    """The files, each let go of as it is taken: `build_records` drops a file's columns
    before it indexes its records (at 1,000,000 records the columns are ~55 MB of lists)."""
    files.reverse()
    while files:
        yield files.pop()


def _read_key(digests: dict[str, str]) -> str:
    """What reading a run's files depends on beyond their sources' digests: the settings
    that make a row an error or a file too large."""
    strict, limit = settings.PARTNERS_STRICT_TIERS, settings.PARTNERS_UPLOAD_MAX_BYTES
    text = orjson.dumps([sorted(digests.items()), strict, limit], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(text).hexdigest()


def _restatable(digests: dict[str, str], options: Options) -> sourcebase.Read | None:
    """What the last full read of these files said, when reading them again cannot say
    anything else: every source's files are byte for byte what it last applied, read with
    the same rules (profile, aliases, ladders, strict tiers, limits), as the same set of
    sources. Then each source's base is what its files state (make and rsync skip unchanged
    files the same way). A prune or an overwrite always reads the files."""
    if options.removes or options.overwrite:
        return None
    return sourcebase.last_read(digests, _read_key(digests))


def _plan_restated(
    files: Sequence[Input],
    digests: dict[str, str],
    read: sourcebase.Read,
    found: Fingerprint,
    dry_run: bool,
) -> SyncResult:
    """The plan of files their sources last applied, from their bases (`merge.restated`)."""
    result = SyncResult(
        dry_run=dry_run,
        prune=False,
        sources=[source_entry(f) for f in files],
        warnings=list(read.warnings),
        near=list(read.near),
    )
    stated: dict[sourcebase.Key, int | dict[str, Any]] = {}
    for name, keys in read.stale.items():
        hashed = sourcebase.load_hashed(name)
        for key in keys or ():
            hashed.pop(key, None)  # stated before, not by these files: missing, not stated
        if stated:
            stated.update(hashed)
        else:  # the first (usually only) source's: taken as it is, not copied
            stated = hashed
        del hashed

    def entries(keys: Collection[sourcebase.Key]) -> sourcebase.Base:
        found: sourcebase.Base = {}
        for name in read.stale:  # in order: a later source's entry wins, as in `stated`
            found.update(sourcebase.load_entries(name, keys))
        return found

    counted = _Counted(found.streamed(db.stream_rows()))
    result.plan = restated(stated, counted, entries)
    result.fingerprint = found.hexdigest()
    result.empty_before = counted.rows == 0
    return result


class _Counted:
    """Chunks of rows, counted as they pass (the table's size, for the removal guard)."""

    def __init__(self, chunks: Iterable[list[tuple[Any, ...]]]) -> None:
        self.chunks, self.rows = chunks, 0

    def __iter__(self) -> Iterator[list[tuple[Any, ...]]]:
        for chunk in self.chunks:
            self.rows += len(chunk)
            yield chunk


def _source_digests(files: Sequence[Input], aliases: dict[str, str]) -> dict[str, str]:
    shas: dict[str, list[str]] = {}
    for loaded in files:
        # A file read with other rules (its profile changed) states other values.
        read = f"{loaded.sha256}:{loaded.read_with}" if loaded.read_with else loaded.sha256
        shas.setdefault(loaded.source, []).append(read)
    return {name: sourcebase.digest(found, aliases) for name, found in shas.items()}


def _name_source(files: Sequence[Input], name: str) -> None:
    """Every file of this run is of the source `name` (a loop in the caller would keep the
    last file, and its bytes, alive through the whole run)."""
    for each in files:
        each.source = name


def _may_restate(files: Sequence[Input], options: Options) -> bool:
    """Whether the files may not need parsing (`_restatable`); `_plan` asks again under the
    lock, and parses them there in the rare case another sync changed a source meanwhile."""
    if not any(isinstance(f, InputFile) for f in files):
        return False
    catalog = load_catalog()
    aliases = catalog.alias_map(settings.PARTNERS_OEM_ALIASES)
    digests = _source_digests(files, {**aliases, "\x00catalog": catalog.digest})
    return _restatable(digests, options) is not None


def _removal_guard(count: int, total: int, given: int | None) -> str:
    """Like rsync's --max-delete: a sync that would remove more records than the limit is
    refused whole, saying how many and how to allow it."""
    limit = given if given is not None else settings.PARTNERS_MAX_REMOVE
    if limit is None:
        limit = max(total // 4, 10)
    if count <= limit:
        return ""
    why = "--max-remove" if given is not None else "PARTNERS_MAX_REMOVE, or a quarter of them"
    return (
        f"Refusing to remove {count:,} records: more than {limit:,} ({why}); nothing was "
        f"written. Allow it with --max-remove {count}."
    )


def _records_of(records: list[Record], name: str, sources: int) -> list[Record]:
    """The records of source `name` (all of them when the run has one source)."""
    return records if sources == 1 else [record for record in records if record.origin == name]


def _save_bases(result: SyncResult, prepared: sourcebase.Prepared | None = None) -> None:
    """Each applied source's base and what reading its files said (with the keys its base
    holds that its files no longer state, known once the base is saved); `prepared` during
    the write (`sources.prepare`)."""
    for name, files_digest, records, removed in result.bases:
        stale = sourcebase.save(name, files_digest, records, removed, prepared)
        if result.read is not None:
            result.read.stale[name] = stale
    result.bases = []  # saved: no need to hold them through the store write
    if result.read is not None:
        sourcebase.remember_read(result.read)


def write_plan(
    plan: Plan,
    *,
    prune: bool,
    run_id: int,
    user_id: int | None,
    now: str,
    meanwhile: Callable[[], None] = lambda: None,
) -> None:
    """The one write path: every change to partner tiers, from a sync, an edit or a revert,
    is applied here, inside the caller's transaction, with its ledger entries. `meanwhile` is
    called once, before the database copies ledger entries (a write that only removes: the
    removed records'; one that adds: the added records', once those are in; otherwise before
    the updates): it may start work that needs no database (on a thread) to run while it
    does."""
    removed = plan.missing if prune else []
    recent: ledger.Recent | None = None

    def ahead() -> None:
        nonlocal recent
        meanwhile()
        recent = ledger.recent_ahead(removed, plan.added, plan.updated, at=now)

    # Optimization: a write that only removes has the store, the bases and the recent
    # changes worked out while the database copies the removed records' entries (a revert
    # of a 100,000-record apply on PostgreSQL: ~0.8 s of the server's, this process
    # waiting). One that adds too starts them once the added records are in: their insert
    # is built here, row by row, and would wait for the GIL.
    early = bool(removed) and not plan.added
    if early:
        ahead()
    if removed:
        ledger.record_removed(removed, run_id=run_id, user_id=user_id, at=now)
        db.delete([row.id for row in removed])
    if plan.added:
        first = ledger.first_new_id()
        after = db.max_id() if first is None else first - 1
        # A first apply: the records' and the ledger's indexes are built after the entries
        # are copied, while `meanwhile`'s work goes on (`db.indexes_built_after`).
        #
        # Optimization: both are dropped before `meanwhile` starts its threads. The ledger's
        # were dropped once they had started: its five short statements each waited for the
        # GIL after the server's reply (a 100,000-record first apply on PostgreSQL: 0.26-0.28
        # s, against 0.002 s for the records' five before).
        tables = [db.TABLE, ledger.TABLE]
        with db.indexes_built_after(tables, len(plan.added)):
            db.insert(plan.added, first_id=first)
            ahead()
            ledger.record_added(run_id=run_id, user_id=user_id, at=now, after_id=after)
    elif not early:
        meanwhile()
    if plan.updated:
        db.update(plan.updated)
        ledger.record_updated(plan.updated, run_id=run_id, user_id=user_id, at=now)
    ledger.record_recent(removed, plan.added, plan.updated, at=now, ahead=recent)


def run_sync(
    paths: Sequence[str | Path] | None = None,
    *,
    files: list[LoadedFile] | None = None,
    apply: bool = False,
    prune: bool = False,
    prune_all: bool = False,
    overwrite: bool = False,
    max_remove: int | None = None,
    source_name: str | None = None,
    profile: str | None = None,
    sheet: str | int | None = None,
    source: str = "cli",
    user: Any = None,
    lock_timeout: float | None = None,
    expected_fingerprint: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> SyncResult:
    """Sync `files` (already loaded, e.g. an upload) or the files at `paths` (default: every
    input in PARTNERS_INPUT_DIR). `profile` names the import profile the files are read with
    (default: the one whose pattern matches each file's name, if any) and `sheet` the XLSX
    sheet for this run; `source_name` names the source of every file (default: the profile's
    name, else each file's name); `source` is the door (cli, admin, api).

    Raises InputError or LoadError for unusable input, SyncBusy when the lock is not had in
    time, StaleState when `expected_fingerprint` (from a dry run) no longer matches, and
    StoreError when the store cannot be written after the data was applied. Validation errors
    come back in the result, with nothing written. Every applying call, whatever its outcome,
    leaves one SyncRun.
    """
    stage = on_stage or (lambda name: None)
    started = timezone.now()
    sources: list[dict[str, str | None]] = []
    options = Options(prune, prune_all, overwrite, max_remove)
    with bulk_allocation():
        inputs: list[Input] = list(files) if files is not None else []
        try:
            if files is None:
                stage("Loading")
                inputs = list(read_inputs(paths, find_profile(profile), sheet))
            if source_name:
                _name_source(inputs, source_name)
            if not _may_restate(inputs, options):  # parsed before the lock, as ever
                inputs = [f.load() if isinstance(f, InputFile) else f for f in inputs]
        except (InputError, LoadError) as exc:
            if apply:
                _failed_run(started, source, user, sources, [str(exc)])
            raise
        sources = [source_entry(f) for f in inputs]
        loaded = inputs
        now = format_timestamp(started)

        def plan() -> SyncResult:
            stage("Comparing")
            return _plan(loaded, options, dry_run=not apply, now=now)

        if not apply:
            return plan()
        return applying_run(
            plan,
            source=source,
            user=user,
            sources=sources,
            started=started,
            lock_timeout=lock_timeout,
            expected_fingerprint=expected_fingerprint,
            stage=stage,
        )


def applying_run(
    compute: Callable[[], SyncResult],
    *,
    source: str,
    user: Any,
    sources: list[dict[str, str | None]],
    started: datetime | None = None,
    lock_timeout: float | None = None,
    expected_fingerprint: str | None = None,
    stage: Callable[[str], None] = lambda name: None,
    reverts: int | None = None,
    retire_notes: Sequence[str] = (),
) -> SyncResult:
    """Plan and write under the sync lock, in one transaction with its `SyncRun` and ledger
    entries; then the store and (PARTNERS_AUTO_EXPORT) the vault. `compute` plans from the
    database as it is once the lock is held. A result whose plan does not cover the whole table
    (an edit, a revert) has the store rendered from the database after the write."""
    from partners.models import SyncRun

    started = started or timezone.now()
    timeout = settings.PARTNERS_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    user_id = user.pk if getattr(user, "pk", None) else None
    prepared: PreparedStore | None = None
    try:
        with sync_lock(timeout), db.checkpoint_after() as checkpoint:
            try:
                with transaction.atomic():
                    result = compute()
                    if expected_fingerprint and result.fingerprint != expected_fingerprint:
                        raise StaleState
                    run = SyncRun.objects.create(
                        started_at=started,
                        source=source,
                        user_id=user_id,
                        files=sources,
                        reverts_id=reverts,
                    )
                    head_before = ledger_head()
                    if result.ok:
                        stage("Writing")
                        now = format_timestamp(started)

                        bases: sourcebase.Prepared | None = None

                        def start_store() -> None:
                            nonlocal prepared, bases
                            prepared = _prepare_store(result, head_before)
                            added = len(result.plan.added)
                            bases = sourcebase.prepare([(b[0], b[2]) for b in result.bases], added)

                        write_plan(
                            result.plan,
                            prune=result.prune,
                            run_id=run.pk,
                            user_id=user_id,
                            now=now,
                            meanwhile=start_store,
                        )
                        _save_bases(result, bases)
                        result.applied = True
                    result.run_id = run.pk
                    _finish_run(run, result)
            except BaseException:
                if prepared is not None:
                    prepared.discard()  # its write was rolled back: the file stays as it was
                raise
            checkpoint()  # the committed pages copied into the database beside the store write
            if result.applied:
                stage("Writing store")
                _write_store(result, head_before, prepared)
                if settings.PARTNERS_AUTO_EXPORT and settings.VAULT_ROOT:
                    stage("Exporting")
                    result.warnings += _auto_export(run.pk, retire_notes)
    except (SyncBusy, Refused, LoadError) as exc:
        _failed_run(started, source, user, sources, [str(exc)], reverts=reverts)
        raise
    except StoreError as exc:
        SyncRun.objects.filter(pk=result.run_id or 0).update(errors=[str(exc)])
        raise
    except DatabaseError as exc:
        with contextlib.suppress(DatabaseError):  # the database may be what failed
            _failed_run(started, source, user, sources, [f"Database error: {exc}"], reverts)
        raise
    return result


def _store_changes(result: SyncResult) -> tuple[list[Any], list[Any]]:
    """The rows whose store lines a write removes, and the records whose lines it writes."""
    plan = result.plan
    gone = [*(plan.missing if result.prune else []), *(u.row for u in plan.updated)]
    return gone, [*plan.added, *(u.record for u in plan.updated)]


def _prepare_store(result: SyncResult, head_before: int) -> PreparedStore | None:
    """The store after this write, prepared on a thread while the write's transaction goes
    on (`store.prepare_changes`); None when there is nothing to prepare."""
    gone, written = _store_changes(result)
    if not (gone or written):
        return None
    return prepare_changes(gone, written, head_before=head_before, empty_before=result.empty_before)


def _write_store(
    result: SyncResult, head_before: int, prepared: PreparedStore | None = None
) -> None:
    """The store after an applied write: its old bytes patched with the write's changes
    (`store.write_changes`; `prepared` during the write), nothing at all when nothing
    changed and the file is current."""
    gone, written = _store_changes(result)
    try:
        if prepared is None:
            if not (gone or written) and is_current():
                return
            prepared = prepare_changes(
                gone, written, head_before=head_before, empty_before=result.empty_before
            )
        result.store_written = finish_changes(prepared)
    except OSError as exc:
        # strerror, not str(exc): that names the absolute path of the temp file.
        shown, reason = display_path(store_path()), exc.strerror or exc
        raise StoreError(f"Failed to write {shown}: {reason}") from exc


def _auto_export(run_id: int, retire: Sequence[str]) -> list[str]:
    """Refresh the vault after an applied write (PARTNERS_AUTO_EXPORT) and note on the run the
    notes it created. The write has succeeded whatever happens here, so problems come back as
    warnings."""
    from partners.models import SyncRun
    from partners.obsidian import VaultError, export_obsidian, vault_root

    try:
        exported = export_obsidian(retire=retire)
    except (VaultError, OSError) as exc:
        return [f"Obsidian export failed: {exc}"]
    if exported.created:
        vault = vault_root()
        created = [str(Path(path).relative_to(vault)) for path in exported.created]
        SyncRun.objects.filter(pk=run_id).update(notes_created=created)
    return [f"Obsidian export skipped {c['path']}: {c['reason']}" for c in exported.conflicts]


def _finish_run(run: Any, result: SyncResult) -> None:
    """The run's outcome, written in the transaction of its changes."""
    run.finished_at = timezone.now()
    run.counts = result.summary
    run.applied = result.applied
    run.errors = [e.to_dict() for e in result.errors]
    run.save(update_fields=["finished_at", "counts", "applied", "errors"])


def _failed_run(
    started: datetime,
    source: str,
    user: Any,
    sources: list[dict[str, str | None]],
    errors: list[str],
    reverts: int | None = None,
) -> None:
    """A run that could not even be planned or was refused: recorded, nothing written."""
    from partners.models import SyncRun

    SyncRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        source=source,
        user=user if getattr(user, "pk", None) else None,
        files=sources,
        errors=errors,
        reverts_id=reverts,
    )


def check_record(
    values: dict[str, Any], instance_pk: int | None = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """One record as a person typed it (admin form): the engine's normalization and
    validation, the OEM spelled as the engine would spell it, and (name, OEM) unique."""
    from partners.models import PartnerTier

    cleaned, errors = normalize_row(values)
    if errors:
        return cleaned, errors
    catalog = load_catalog()
    others = PartnerTier.objects.all()
    if instance_pk is not None:
        others = others.exclude(pk=instance_pk)
    oem_key = identity_key(cleaned["oem"])
    known = others.filter(oem_key=oem_key).values_list("oem", flat=True).first()
    aliases = catalog.alias_map(settings.PARTNERS_OEM_ALIASES)
    cleaned["oem"] = oem_spelling(cleaned["oem"], aliases, {oem_key: known} if known else {})
    cleaned["tier"] = catalog.spell(cleaned["oem"], cleaned["program"], cleaned["tier"])
    off_ladder = catalog.off_ladder(cleaned["oem"], cleaned["program"], cleaned["tier"])
    if off_ladder and settings.PARTNERS_STRICT_TIERS:
        errors.append(("tier", off_ladder))
    name_key = identity_key(cleaned["name"])
    if others.filter(oem_key=identity_key(cleaned["oem"]), name_key=name_key).exists():
        errors.append(("name", f"{cleaned['name']!r} already has a tier at {cleaned['oem']!r}"))
    return cleaned, errors
