"""The sync engine: load → normalize → validate → diff → apply → store.

The command, the admin and the API call `run_sync`; none of them repeats a rule. A dry run
reads the database and writes nothing at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from partners import db
from partners.allocation import bulk_allocation
from partners.diff import Plan, diff
from partners.loaders import FORMATS, LoadedFile, LoadError, default_inputs, load_path
from partners.locking import SyncBusy, sync_lock
from partners.normalize import format_timestamp, identity_key, oem_alias_map
from partners.records import FieldError, Problem, Record, build_records, normalize_row, oem_spelling
from partners.store import store_path, write_store

CHANGES_KEPT = 1000  # per category, in a SyncRun's `changes`

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


class StaleState(Exception):
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
    sources: list[dict[str, str]]
    plan: Plan = field(default_factory=Plan)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    applied: bool = False
    store_written: bool = False
    fingerprint: str = ""
    run_id: int | None = None  # the SyncRun an applying call recorded

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def summary(self) -> dict[str, int]:
        plan = self.plan
        return {
            "added": len(plan.added),
            "updated": len(plan.updated),
            "unchanged": len(plan.unchanged),
            "missing": 0 if self.prune else len(plan.missing),
            "removed": len(plan.missing) if self.prune else 0,
        }

    @property
    def error_message(self) -> str:
        """The seed's one-line form: `Validation failed: <first error>` (+ how many more)."""
        if not self.errors:
            return ""
        more = sum(error.more or 1 for error in self.errors) - 1
        return f"Validation failed: {self.errors[0]}" + (f" (and {more} more)" if more else "")

    def to_dict(self, *, with_unchanged: bool = True) -> dict[str, Any]:
        plan = self.plan
        missing = [row.to_dict() for row in plan.missing]
        return {
            "dry_run": self.dry_run,
            "added": [record.to_dict() for record in plan.added],
            "updated": [{**u.record.to_dict(), "changes": u.changes} for u in plan.updated],
            "unchanged": [row.to_dict() for row in plan.unchanged] if with_unchanged else [],
            "applied": self.applied,
            "missing": [] if self.prune else missing,
            "removed": missing if self.prune else [],
            "summary": self.summary,
            "errors": [error.to_dict() for error in self.errors],
            "warnings": self.warnings,
            "sources": self.sources,
            "fingerprint": self.fingerprint,
        }


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
    """The files to load: `paths` (a folder means its `partners_*` files) or every
    `partners_*` file in PARTNERS_INPUT_DIR. InputError when there are none or one is a
    symlink."""
    if not paths:
        folder = Path(settings.PARTNERS_INPUT_DIR)
        found = default_inputs(folder)
        if not found:
            patterns = "/".join(FORMATS)
            raise InputError(
                f"No input files: no partners_*{{{patterns}}} in {_shown_folder(folder)}"
            )
        return [check_input(path) for path in found]
    resolved: list[Path] = []
    for given in paths:
        path = check_input(Path(given))
        resolved += default_inputs(path) if path.is_dir() else [path]
    if not resolved:
        shown = ", ".join(_shown_folder(Path(p)) for p in paths)
        raise InputError(f"No input files in {shown}")
    return [check_input(path) for path in resolved]


def load_inputs(paths: Sequence[str | Path] | None) -> list[LoadedFile]:
    return [load_path(path, display_path(path)) for path in resolve_inputs(paths)]


def fingerprint(rows: Sequence[db.Row], files: Sequence[LoadedFile]) -> str:
    """What a plan was computed from: every row as stored and every input's sha256.

    A confirm (admin) or an apply with `expected_fingerprint` (API) is refused when this
    differs, so nobody applies a preview that no longer describes what will happen.
    """
    digest = hashlib.sha256()
    for loaded in files:
        digest.update(loaded.sha256.encode())
    # Optimization: hashed a slice at a time, never one 25 MB string for 100,000 rows.
    ordered = sorted(rows, key=lambda r: r.id)
    for start in range(0, len(ordered), 2000):
        part = [repr((r.id, r.updated_at, *r.compared())) for r in ordered[start : start + 2000]]
        digest.update("\n".join(part).encode())
    return digest.hexdigest()[:32]


def _plan(files: list[LoadedFile], prune: bool, dry_run: bool, now: str) -> SyncResult:
    rows = db.read_rows()
    known_oems: dict[str, str] = {}
    for row in rows:
        known_oems.setdefault(row.oem_key, row.oem)
    built = build_records(files, oem_alias_map(settings.PARTNERS_OEM_ALIASES), known_oems)
    result = SyncResult(
        dry_run=dry_run,
        prune=prune,
        sources=[{"path": f.path, "sha256": f.sha256} for f in files],
        errors=built.errors,
        warnings=built.warnings,
        fingerprint=fingerprint(rows, files),
    )
    if built.errors:
        return result
    result.plan = diff(built.records, rows)
    for record in result.plan.added:
        record.created_at = record.created_at or record.updated_at or now
        record.updated_at = record.updated_at or now
    for update in result.plan.updated:
        update.record.created_at = update.row.created_at
        update.record.updated_at = now
    return result


def _final_state(plan: Plan, prune: bool) -> list[Record | db.Row]:
    """What the table holds after applying `plan`: the store is rendered from this."""
    state: list[Record | db.Row] = [*plan.unchanged, *plan.added]
    state += [u.record for u in plan.updated]
    if not prune:
        state += plan.missing
    return state


def _apply(plan: Plan, prune: bool) -> None:
    db.insert(plan.added)
    db.update((u.row.id, u.record) for u in plan.updated)
    if prune:
        db.delete([row.id for row in plan.missing])


def run_sync(
    paths: Sequence[str | Path] | None = None,
    *,
    files: list[LoadedFile] | None = None,
    apply: bool = False,
    prune: bool = False,
    source: str = "cli",
    user: Any = None,
    lock_timeout: float | None = None,
    expected_fingerprint: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> SyncResult:
    """Sync `files` (already loaded, e.g. an upload) or the files at `paths` (default: every
    `partners_*` file in PARTNERS_INPUT_DIR).

    Raises InputError or LoadError for unusable input, SyncBusy when the lock is not had in
    time, StaleState when `expected_fingerprint` (from a dry run) no longer matches, and
    StoreError when the store cannot be written after the data was applied. Validation errors
    come back in the result, with nothing written. Every applying call, whatever its outcome,
    leaves one SyncRun.
    """
    stage = on_stage or (lambda name: None)
    with bulk_allocation():
        return _run_sync(
            paths, files, apply, prune, source, user, lock_timeout, expected_fingerprint, stage
        )


def _run_sync(
    paths: Sequence[str | Path] | None,
    files: list[LoadedFile] | None,
    apply: bool,
    prune: bool,
    source: str,
    user: Any,
    lock_timeout: float | None,
    expected_fingerprint: str | None,
    stage: Callable[[str], None],
) -> SyncResult:
    started = timezone.now()
    sources: list[dict[str, str]] = []
    try:
        if files is None:
            stage("Loading")
            files = load_inputs(paths)
        sources = [{"path": f.path, "sha256": f.sha256} for f in files]
        now = format_timestamp(started)
        if not apply:
            stage("Comparing")
            return _plan(files, prune, dry_run=True, now=now)
        timeout = settings.PARTNERS_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
        with sync_lock(timeout):
            stage("Comparing")
            with transaction.atomic():
                result = _plan(files, prune, dry_run=False, now=now)
                if expected_fingerprint and result.fingerprint != expected_fingerprint:
                    raise StaleState
                if result.ok:
                    stage("Writing")
                    _apply(result.plan, prune)
                    result.applied = True
            if result.applied:
                stage("Writing store")
                try:
                    result.store_written = write_store(_final_state(result.plan, prune))
                except OSError as exc:
                    # strerror, not str(exc): that names the absolute path of the temp file.
                    shown, reason = display_path(store_path()), exc.strerror or exc
                    raise StoreError(f"Failed to write {shown}: {reason}") from exc
                if settings.PARTNERS_AUTO_EXPORT and settings.VAULT_ROOT:
                    stage("Exporting")
                    result.warnings += _auto_export()
    except (InputError, LoadError, SyncBusy, StaleState) as exc:
        if apply:
            _record_run(started, source, user, sources, errors=[str(exc)])
        raise
    except StoreError as exc:
        _record_run(started, source, user, sources, result=result, errors=[str(exc)])
        raise
    result.run_id = _record_run(started, source, user, sources, result=result)
    return result


def _auto_export() -> list[str]:
    """Export to Obsidian after an applied sync (PARTNERS_AUTO_EXPORT). The sync has
    succeeded whatever happens here, so problems come back as warnings."""
    from partners.obsidian import VaultError, export_obsidian

    try:
        exported = export_obsidian()
    except (VaultError, OSError) as exc:
        return [f"Obsidian export failed: {exc}"]
    return [f"Obsidian export skipped {c['path']}: {c['reason']}" for c in exported.conflicts]


def _record_run(
    started: datetime,
    source: str,
    user: Any,
    sources: list[dict[str, str]],
    result: SyncResult | None = None,
    errors: list[str] | None = None,
) -> int:
    from partners.models import SyncRun

    changes: dict[str, Any] = {}
    counts: dict[str, int] = {}
    error_list: list[Any] = list(errors or [])
    if result is not None:
        counts = result.summary
        plan = result.plan
        changes = {
            "added": [r.to_dict() for r in plan.added[:CHANGES_KEPT]],
            "updated": [
                {**u.record.to_dict(), "changes": u.changes} for u in plan.updated[:CHANGES_KEPT]
            ],
            "removed": [r.to_dict() for r in plan.missing[:CHANGES_KEPT]] if result.prune else [],
        }
        error_list = [e.to_dict() for e in result.errors] + error_list
    run = SyncRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        source=source,
        user=user if getattr(user, "pk", None) else None,
        files=sources,
        counts=counts,
        changes=changes,
        applied=bool(result and result.applied),
        errors=error_list,
    )
    return run.pk


def check_record(
    values: dict[str, Any], instance_pk: int | None = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """One record as a person typed it (admin form): the engine's normalization and
    validation, the OEM spelled as the engine would spell it, and (name, OEM) unique."""
    from partners.models import PartnerTier

    cleaned, errors = normalize_row(values)
    if errors:
        return cleaned, errors
    others = PartnerTier.objects.all()
    if instance_pk is not None:
        others = others.exclude(pk=instance_pk)
    oem_key = identity_key(cleaned["oem"])
    known = others.filter(oem_key=oem_key).values_list("oem", flat=True).first()
    aliases = oem_alias_map(settings.PARTNERS_OEM_ALIASES)
    cleaned["oem"] = oem_spelling(cleaned["oem"], aliases, {oem_key: known} if known else {})
    name_key = identity_key(cleaned["name"])
    if others.filter(oem_key=identity_key(cleaned["oem"]), name_key=name_key).exists():
        errors.append(("name", f"{cleaned['name']!r} already has a tier at {cleaned['oem']!r}"))
    return cleaned, errors
