"""The ledger's API: sync runs with their changes, reverting a run, the tier-change report.

Operations of `partners.api.api` (imported at its end). Lists answer django-ninja's
pagination shape `{"items": [...], "count": N}` with `limit`/`offset`.
"""

from __future__ import annotations

from typing import Any, Literal

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from ninja import Field, Path, Query, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict, StrictBool

from partners.api import (
    API_LOCK_TIMEOUT,
    ERRORS,
    NO_CONTROL,
    Error,
    SyncResponse,
    _json,
    _require,
    api,
    sync_response,
)
from partners.models import LedgerEntry, SyncRun
from partners.report import ReportError, count_changes, period, tier_changes
from partners.revert import RevertConflicts, RevertError, revert_run
from partners.sync import StaleState, StoreError, SyncBusy


class Page(Schema):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=100_000_000)


class RunOut(Schema):
    id: int
    started_at: str
    finished_at: str | None
    source: Literal["cli", "admin", "api", "edit", "revert"]
    user: str | None
    files: list[dict[str, str | None]]  # as a sync result's `sources`
    counts: dict[str, int]
    applied: bool
    errors: list[Any]
    reverts: int | None
    changes_count: int


class RunPage(Schema):
    items: list[RunOut]
    count: int


class EntryOut(Schema):
    id: int
    run_id: int
    record_id: int
    action: Literal["added", "updated", "removed"]
    oem: str
    name: str
    program: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    at: str
    user: str | None


class EntryPage(Schema):
    items: list[EntryOut]
    count: int


class RunDetail(RunOut):
    changes: EntryPage


class RevertRequest(Schema):
    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = Field(True, description="true (default): report, write nothing")
    skip_conflicts: StrictBool = Field(False, description="revert the rest, keep the conflicts")
    force: StrictBool = Field(False, description="overwrite records changed since the run")
    expected_fingerprint: str | None = Field(None, max_length=64)


class RevertConflict(Schema):
    name: str
    oem: str
    field: str | None
    database: str | None
    revert: str | None


class RevertResponse(SyncResponse):
    run_id: int | None
    reverts: int
    conflicts: list[RevertConflict]  # type: ignore[assignment]  # a revert's own shape


class ChangeOut(Schema):
    at: str
    run_id: int
    source: str
    user: str | None
    oem: str
    program: str
    name: str
    from_: str | None = Field(None, alias="from")
    to: str | None
    direction: Literal["up", "down", "new", "removed", "changed"]


class ChangePage(Schema):
    items: list[ChangeOut]
    count: int


class ChangeFilters(Schema):
    since: str | None = Field(None, max_length=40, pattern=NO_CONTROL, description="ISO 8601")
    until: str | None = Field(None, max_length=40, pattern=NO_CONTROL, description="ISO 8601")
    oem: str | None = Field(None, max_length=200, pattern=NO_CONTROL)
    run: int | None = Field(None, ge=1, le=2**63 - 1)  # the largest id a database holds


def _time(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _run(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "source": run.source,
        "user": run.user.get_username() if run.user else None,
        "files": run.files,
        "counts": run.counts,
        "applied": run.applied,
        "errors": run.errors,
        "reverts": run.reverts_id,
        "changes_count": getattr(run, "changes_count", 0),
    }


def _entry(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "run_id": entry.run_id,
        "record_id": entry.record_id,
        "action": entry.action,
        "oem": entry.oem,
        "name": entry.name,
        "program": entry.program,
        "old": entry.old,
        "new": entry.new,
        "at": _time(entry.at),
        "user": entry.user.get_username() if entry.user else None,
    }


def _runs() -> Any:
    return SyncRun.objects.select_related("user").annotate(changes_count=Count("ledger"))


@api.get(
    "/partners/syncs",
    response={200: RunPage, **ERRORS},
    operation_id="list_sync_runs",
    summary="List sync runs",
    description="Every run, newest first: syncs, edits and reverts, applied or refused.",
)
def list_syncs(request: HttpRequest, page: Query[Page]) -> HttpResponse:
    _require(request, "view_partnertier")
    runs = _runs().order_by("-started_at", "-id")
    items = [_run(r) for r in runs[page.offset : page.offset + page.limit]]
    return _json({"items": items, "count": SyncRun.objects.count()})


@api.get(
    "/partners/syncs/{run_id}",
    response={200: RunDetail, 404: Error, **ERRORS},
    operation_id="get_sync_run",
    summary="One sync run with its changes",
    description="The run, and its ledger entries (`changes`, paginated by limit/offset).",
)
def get_sync(request: HttpRequest, run_id: Path[int], page: Query[Page]) -> HttpResponse:
    _require(request, "view_partnertier")
    run = _runs().filter(pk=run_id).first()
    if run is None:
        raise HttpError(404, f"No sync run {run_id}")
    entries = LedgerEntry.objects.filter(run_id=run_id).select_related("user").order_by("id")
    items = [_entry(e) for e in entries[page.offset : page.offset + page.limit]]
    return _json({**_run(run), "changes": {"items": items, "count": run.changes_count}})


@api.post(
    "/partners/syncs/{run_id}/revert",
    response={200: RevertResponse, 404: Error, **ERRORS},
    operation_id="revert_sync_run",
    summary="Revert a sync run",
    description=(
        "A dry run unless `dry_run` is false: records the run added are removed, updated ones "
        "get their old values, removed ones come back. Records changed since the run are "
        "`conflicts`; applying with conflicts is a 409 unless `skip_conflicts` or `force`. "
        "Applying needs the import/sync permission."
    ),
)
def revert(
    request: HttpRequest, run_id: Path[int], payload: RevertRequest | None = None
) -> HttpResponseBase:
    payload = payload or RevertRequest.model_validate({})
    apply = not payload.dry_run
    _require(request, "sync_partnertier" if apply else "view_partnertier")
    if payload.skip_conflicts and payload.force:
        raise HttpError(400, "skip_conflicts and force exclude each other")
    if not SyncRun.objects.filter(pk=run_id).exists():
        raise HttpError(404, f"No sync run {run_id}")
    try:
        result = revert_run(
            run_id,
            apply=apply,
            skip_conflicts=payload.skip_conflicts,
            force=payload.force,
            user=request.auth,  # type: ignore[attr-defined]
            lock_timeout=API_LOCK_TIMEOUT,
            expected_fingerprint=payload.expected_fingerprint if apply else None,
        )
    except RevertError as exc:
        raise HttpError(400, str(exc)) from None
    except RevertConflicts as exc:
        return sync_response(exc.result, 409, {"detail": str(exc)})
    except StaleState as exc:
        raise HttpError(409, str(exc)) from None
    except SyncBusy:
        raise HttpError(409, "Another sync is running; nothing was written. Retry.") from None
    except StoreError as exc:
        return _json({"detail": str(exc)}, status=500)
    return sync_response(result)


@api.get(
    "/partners/changes",
    response={200: ChangePage, **ERRORS},
    operation_id="list_tier_changes",
    by_alias=True,  # "from" is a Python keyword: the schema's field is `from_`, aliased
    summary="Tier changes (promotions, demotions, new, removed)",
    description="The tier-change report's entries for a period, an OEM or a run, oldest first.",
)
def list_changes(
    request: HttpRequest, filters: Query[ChangeFilters], page: Query[Page]
) -> HttpResponse:
    _require(request, "view_partnertier")
    try:
        when = period(filters.since, filters.until)
    except ReportError as exc:
        raise HttpError(400, str(exc)) from None
    oem, run_id = filters.oem, filters.run
    changes = tier_changes(when, oem=oem, run_id=run_id, limit=page.limit, offset=page.offset)
    count = count_changes(when, oem=oem, run_id=run_id)
    return _json({"items": list(changes), "count": count})
