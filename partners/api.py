"""The HTTP API `/v1/partners/...` (django-ninja): the seed's three endpoints, a door onto the
sync engine and the Obsidian exporter. The schema at /v1/openapi.json comes from this code."""

from __future__ import annotations

import base64
import functools
import json
import logging
from collections.abc import Generator, Iterator, Sequence
from itertools import islice, repeat
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from django.conf import settings
from django.core.exceptions import FullResultSet, RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.docs import Swagger
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth
from pydantic import ConfigDict, StrictBool, StrictInt, StrictStr

from partners import db, throttle, tokens
from partners.counts import KEPT, cached_count, filters_key
from partners.fields import COMPARED, RECORD_FIELDS
from partners.locking import SyncBusy
from partners.middleware import internal_error
from partners.models import LedgerEntry, PartnerTier
from partners.normalize import clean, identity_key, normalize_tier
from partners.obsidian import VaultError, export_obsidian
from partners.profiles import parse_sheet
from partners.result_json import result_json
from partners.sync import InputError, LoadError, StaleState, StoreError, SyncResult, run_sync

log = logging.getLogger("partners.api")
API_LOCK_TIMEOUT = 5.0  # seconds an applying request waits for another sync, then 409
JSON_TYPE = "application/json"
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"  # PostgreSQL refuses NUL; no stored value has these


class BodyError(ValueError):
    """The request body is not JSON this API can read."""


class StrictJSONParser(Parser):
    """JSON without NaN or Infinity, duplicate keys allowed only once, bounded nesting."""

    def parse_body(self, request: HttpRequest) -> Any:
        if request.content_type in FORM_TYPES and not request.POST and not request.FILES:
            return {}  # an empty form post, as some clients send for "no body"
        if request.content_type != JSON_TYPE:
            raise BodyError(f"Send JSON (Content-Type: {JSON_TYPE}), not {request.content_type}")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyError("Request body is not UTF-8") from None
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except RecursionError:
            raise BodyError("Request body is nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError, too many digits, NaN
            raise BodyError(f"Request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise BodyError('Request body must be a JSON object, e.g. {"dry_run": true}')
        return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class TooManyFailures(Exception):
    """This client presented too many bad tokens lately (see partners/throttle.py)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class BearerToken(HttpBearer):
    """`Authorization: Bearer <token>`. A token that does not authenticate is a 401 at once,
    never a fall-back to the session: a client that sent credentials learns they are bad.
    A client with too many recent bad tokens is refused before its token is looked at."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        # One query finds the token's row and whether this client is blocked; a token
        # without a row is checked against the throttle on its own, before it counts.
        now = timezone.now()
        blocking = throttle.blocking_failure(request, now)
        user, blocked_at = tokens.authenticate_unless_blocked(token, blocking)
        if user is None and blocked_at is None:
            blocked_at = throttle.blocked_at(blocking)
        retry_after = throttle.retry_after(blocked_at, now)
        if retry_after is not None:
            raise TooManyFailures(retry_after)
        if user is None:
            throttle.record_token_failure(request)
            raise AuthenticationError()
        return user


class Session(SessionAuth):
    """A logged-in admin session. The CSRF token is checked on unsafe methods only once a
    session is there, so a request without credentials is a 401, not a CSRF 403."""

    def __call__(self, request: HttpRequest) -> Any:
        if not request.user.is_authenticated:
            return None
        return super().__call__(request)


class LocalSwagger(Swagger):
    """The docs page from ninja's own template and static files (see settings.NINJA_DIR),
    never from a CDN: the docs work offline."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api}
        return render(request, self.template, context)


api = NinjaAPI(
    title="Partner tier sync",
    version="1",
    description=(
        "Partner tiers: list them, sync them from the input folder (dry run by default), "
        "export them to Obsidian. Authenticate with `Authorization: Bearer <token>` "
        "(`manage.py create_api_token USERNAME`) or an admin session (with its CSRF token); "
        "no credentials or a bad token is a 401 with `WWW-Authenticate: Bearer`. Too many bad "
        "tokens from one address is a 429 with `Retry-After`. "
        "Every response carries `x-request-id` and `x-latency-ms`."
    ),
    auth=[BearerToken(), Session()],
    parser=StrictJSONParser(),
    docs=LocalSwagger(),
    urls_namespace="api-v1",
)


# Schemas.


class ErrorItem(Schema):
    file: str | None = None
    line: int | None = None
    field: str | None = None
    message: str


class Error(Schema):
    detail: str
    errors: list[ErrorItem] | None = None
    request_id: str | None = None


class PartnerRecord(Schema):
    name: str
    tier: str
    program: str
    oem: str
    poc: str | None
    notes: str | None
    updated_at: str | None
    created_at: str | None


class Change(Schema):
    old: str | None
    new: str | None
    direction: Literal["up", "down", "changed"] | None = None


class UpdatedRecord(PartnerRecord):
    changes: dict[str, Change]


class Source(Schema):
    path: str
    sha256: str
    source: str = Field(description="the source name: the file's name unless one was given")
    profile: str | None = Field(None, description="the import profile it was read with")


class Summary(Schema):
    added: int
    updated: int
    unchanged: int
    missing: int
    removed: int
    kept: int = 0
    conflicts: int = 0


class KeptRecord(PartnerRecord):
    fields: list[str] = Field(description="the fields kept as they are in the database")
    deleted: bool | None = Field(None, description="true: removed since; stays removed")


class SyncConflict(Schema):
    name: str
    oem: str
    field: str | None
    base: str | None
    database: str | None
    file: str | None


class SyncResponse(Schema):
    dry_run: bool
    added: list[PartnerRecord]
    updated: list[UpdatedRecord]
    unchanged: list[PartnerRecord]
    applied: bool
    missing: list[PartnerRecord]
    removed: list[PartnerRecord]
    summary: Summary
    errors: list[ErrorItem]
    warnings: list[str]
    sources: list[Source]
    fingerprint: str = Field(description="the state this result was computed from")
    run_id: int | None = Field(None, description="the sync run of an apply; null for dry runs")
    kept: list[KeptRecord] = Field(default_factory=list)
    conflicts: list[SyncConflict] = Field(default_factory=list)


class SyncRequest(Schema):
    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = Field(True, description="true (default): report, write nothing")
    prune: StrictBool = Field(
        False, description="remove the records these sources stated before and no longer state"
    )
    prune_all: StrictBool = Field(
        False, description="remove every record missing from the input (a full folder sync)"
    )
    overwrite: StrictBool = Field(
        False, description="two-way: every field the files state wins over edits and sources"
    )
    max_remove: int | None = Field(
        None, ge=0, le=100_000_000, description="allow removing up to this many records"
    )
    source: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=NO_CONTROL,
        description="the source name of the files (default: each file's name)",
    )
    profile: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=NO_CONTROL,  # looked up by name: PostgreSQL refuses NUL (a 500 before)
        description="the import profile to read the files with (default: the one whose "
        "pattern matches each file's name, if any)",
    )
    sheet: StrictStr | StrictInt | None = Field(
        None,
        description="the XLSX sheet to read, by name or 1-based number (default: the "
        "profile's, else the first)",
    )
    files: list[str] | None = Field(
        None,
        max_length=100,
        description="file names inside PARTNERS_INPUT_DIR (default: every partners_* file)",
    )
    expected_fingerprint: str | None = Field(
        None,
        max_length=64,
        description="the fingerprint of a dry run; the apply is refused (409) if it changed",
    )


class Conflict(Schema):
    path: str
    reason: str


class ExportResponse(Schema):
    status: Literal["success"]
    files_written: list[str]
    files_unchanged: list[str]
    conflicts: list[Conflict]
    inactive: list[str]
    oems_count: int
    dry_run: bool
    trashed: list[str]


class TierFilters(Schema):
    oem: str | None = Field(
        None, max_length=200, pattern=NO_CONTROL, description="OEM, compared as its key"
    )
    tier: str | None = Field(
        None, max_length=100, pattern=NO_CONTROL, description="tier, normalized"
    )
    program: str | None = Field(
        None, max_length=200, pattern=NO_CONTROL, description="program, any case"
    )
    q: str | None = Field(
        None, max_length=200, pattern=NO_CONTROL, description="part of the partner name"
    )
    limit: int | None = Field(
        None, ge=1, le=100_000, description="at most this many records (default: all of them)"
    )
    offset: int = Field(0, ge=0, le=10_000_000, description="skip this many records first")
    after: str | None = Field(
        None,
        max_length=2000,
        pattern=r"^[A-Za-z0-9_-]+$",
        description=(
            "an opaque cursor from a `next` link: the page starts after the record it names "
            "(`offset` then only numbers the page)"
        ),
    )


ERRORS: dict[int, Any] = {
    400: Error,
    401: Error,
    403: Error,
    409: Error,
    413: Error,
    422: Error,
    429: Error,
    500: Error,
    503: Error,
}


# Endpoints.

SEED_KEYS = RECORD_FIELDS


def time_as_text(column: str) -> str:
    """Optimization: times formatted by the database, as the engine reads them; converting
    2,000 datetimes in Python was two thirds of listing 1,000 records."""
    return db.time_as_text(f"{PartnerTier._meta.db_table}.{column}")


LIST_HEADERS = {
    "X-Total-Count": {
        "description": "how many records the filters match, whatever `limit` and `offset` say",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Link": {
        "description": (
            'RFC 8288 links with the same filters: `<…>; rel="next"` while records remain '
            'after this page, `rel="prev"` and `rel="first"` past the first; only with `limit`'
        ),
        "schema": {"type": "string"},
    },
}


@api.get(
    "/partners/tiers",
    operation_id="list_partner_tiers",
    response={200: list[PartnerRecord], **ERRORS},
    summary="List partner tiers",
    description=(
        "Every record, ordered by OEM then name; the filters narrow it, `limit` and `offset` "
        "page it. `X-Total-Count` says how many records the filters match and `Link` "
        "(RFC 8288) gives the next page, with an `after` cursor that starts it in the index "
        "and keeps it in place across writes. A list longer than one chunk of "
        "2,000 records is streamed as it is read from the database."
    ),
    openapi_extra={"responses": {200: {"headers": LIST_HEADERS}}},
)
def list_tiers(request: HttpRequest, filters: Query[TierFilters]) -> HttpResponseBase:
    _require(request, "view_partnertier")
    matched = _filtered(filters.oem, filters.tier, filters.program, filters.q)
    if filters.after is not None:
        start = _after_key(matched, _cursor_key(filters.after))
    else:
        start = _from_position(matched, filters.offset) if filters.offset else matched
    # A page also reads its records' keys (past SEED_KEYS: not encoded), for its next link.
    keys = filters.limit is not None
    counted = filters.model_dump(include={"oem", "tier", "program", "q"})
    count = functools.partial(_count, matched)
    # A list that may stream is counted first: on PostgreSQL its query holds the connection
    # while it streams. A page in one body reads the total kept for its filters itself.
    paged = filters.limit is not None and filters.limit <= CHUNK
    early = None if paged else cached_count(counted, count)
    kept = filters_key(counted) if paged else None
    select = _select(start, filters.limit, keys, kept)
    response, read, last = _record_list(select, filters.limit)
    marked = filters.after is None and filters.offset >= MARK
    if read == 0 and marked and _stale_marks(matched):
        # The marks were of an older state of the table: the page counted from the start.
        start = _from_position(matched, filters.offset, marked=False)
        select = _select(start, filters.limit, keys, kept)
        response, read, last = _record_list(select, filters.limit)
    # Optimization: a list read to its end tells the total; otherwise one COUNT per filters
    # and state of the table (see partners.counts).
    if read is not None and (read or not filters.offset):
        total = filters.offset + read
    elif early is not None:
        total = early
    else:
        found = last[len(SEED_KEYS) + 2 :] if kept is not None and last is not None else None
        total = cached_count(counted, count, found)
    response["X-Total-Count"] = str(total)
    cursor = _cursor(last[len(SEED_KEYS) : len(SEED_KEYS) + 2]) if last and keys else None
    if links := _page_links(request, filters, total, cursor):
        response["Link"] = links
    return response


# A condition on the records: SQL and its parameters.
Where = tuple[str, tuple[Any, ...]]
TABLE = PartnerTier._meta.db_table
ORDER = f"{TABLE}.oem_key, {TABLE}.name_key"  # the list's order: the unique (OEM, name) key


@functools.lru_cache(maxsize=256)
def _filtered(oem: str | None, tier: str | None, program: str | None, q: str | None) -> Where:
    """The records the filters match, compiled by the ORM (its rules for each lookup).

    Optimization: compiled once per filters in each process, not for every page: building
    and compiling the list's querysets was over half the CPU a `?limit=50` page cost.
    """
    rows = PartnerTier.objects.all()
    if oem is not None:
        rows = rows.filter(oem_key=identity_key(oem))
    if tier is not None:
        rows = rows.filter(tier=normalize_tier(clean(tier) or ""))
    if program is not None:
        rows = rows.filter(program__iexact=clean(program) or "")
    if q:
        rows = rows.filter(name__icontains=q.strip())
    query = rows.query
    try:
        sql, params = query.get_compiler(rows.db).compile(query.where)
    except FullResultSet:  # no filters
        return "1 = 1", ()
    return sql, tuple(params)


def _select(where: Where, limit: int | None, keys: bool, kept: str | None = None) -> Where:
    """The records `where` picks, in the list's order, as SEED_KEYS (then their keys, then
    the ledger's head and the total kept for the filters with key `kept`)."""
    times = f"{time_as_text('updated_at')}, {time_as_text('created_at')}"
    columns = ", ".join([*(f"{TABLE}.{name}" for name in COMPARED), times])
    columns += f", {ORDER}" if keys else ""
    columns += f", {KEPT}" if kept is not None else ""
    sql = f"SELECT {columns} FROM {TABLE} WHERE {where[0]} "
    sql += f"ORDER BY {ORDER}{f' LIMIT {limit:d}' if limit is not None else ''}"
    return sql, ((kept,) if kept is not None else ()) + where[1]


def _count(where: Where) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {TABLE} WHERE {where[0]}", where[1])
        return int(cursor.fetchone()[0])


def _cursor(key: Sequence[Any]) -> str:
    """The opaque `after` of a next link: the (OEM, name) key of a page's last record."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def _cursor_key(cursor: str) -> list[str]:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        key = None
    texts = isinstance(key, list) and all(isinstance(k, str) and "\x00" not in k for k in key)
    if not (texts and len(key) == 2):  # PostgreSQL refuses NUL
        raise HttpError(400, "after: not a cursor from a next link")
    return key


def _after_key(matched: Where, key: list[str]) -> Where:
    """`matched` after the record with (OEM, name) key `key`, whether it is still there or not.

    Keyset paging: the page starts in the index at once, however deep, and a write between
    two pages shifts nothing (no record is skipped or read twice).
    """
    return f"{matched[0]} AND ({ORDER}) > (%s, %s)", (*matched[1], *key)


def _from_position(matched: Where, offset: int, marked: bool = True) -> Where:
    """`matched` from the record at `offset` on, found by its (OEM, name) key, which is unique.

    Optimization: with OFFSET the database builds every row it skips (on PostgreSQL with its
    times formatted: 85 ms for a page at 100,000); the key alone comes from the index and
    the page starts there (9 ms). The key is found in the page's own query: one round trip
    less. Past the end there is no key, the comparison is NULL and the page empty.

    Optimization: past the first MARK records the key is counted from the nearest mark
    (see `_marks`), not from the start: on PostgreSQL skipping 50,000 keys in the index
    took 5 ms of the server's CPU. The page is then read only if the table is still in the
    state the marks were taken in (else it is empty; `marked=False` reads it without them).
    """
    sql, params = matched
    head, marks = _marks(matched) if marked and offset >= MARK else (0, [])
    if not marks:
        key = f"SELECT {ORDER} FROM {TABLE} WHERE {sql} ORDER BY {ORDER} LIMIT 1 OFFSET %s"
        return f"{sql} AND ({ORDER}) >= ({key})", (*params, *params, offset)
    mark = min(offset // MARK, len(marks) - 1)
    key = (
        f"SELECT {ORDER} FROM {TABLE} WHERE {sql} AND ({ORDER}) >= (%s, %s) "
        f"ORDER BY {ORDER} LIMIT 1 OFFSET %s"
    )
    state = f"(SELECT COALESCE(MAX(id), 0) FROM {LEDGER}) = %s"
    where = f"{sql} AND {state} AND ({ORDER}) >= ({key})"
    return where, (*params, head, *params, *marks[mark], offset - mark * MARK)


MARK = 1000  # records between two marks
LEDGER = LedgerEntry._meta.db_table
# The marks of each filters' list, with the ledger's head they were taken at: at most
# MARKED lists in a process, the least recently taken dropped first.
MARKED = 16
_marked: dict[Where, tuple[int, list[tuple[str, str]]]] = {}


def _marks(matched: Where) -> tuple[int, list[tuple[str, str]]]:
    """The keys of the records at positions 0, MARK, 2 × MARK, … of `matched`, and the
    ledger's head they are of: the table's state, since every write leaves ledger entries
    (see `ListCount`). Taken in one query, so the keys and the head are of one state.

    Kept in the process, not the database: a process whose marks turn out to be of an
    older state (`_stale_marks`) reads the page without them and takes them anew next time.
    """
    if (found := _marked.get(matched)) is not None:
        return found
    sql, params = matched
    numbered = f"SELECT {ORDER}, ROW_NUMBER() OVER (ORDER BY {ORDER}) AS n FROM {TABLE} WHERE {sql}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT COALESCE(MAX(id), 0) FROM {LEDGER}), oem_key, name_key "
            f"FROM ({numbered}) numbered WHERE n %% {MARK:d} = 1 ORDER BY n",
            list(params),
        )
        rows = cursor.fetchall()
    if not rows:
        return 0, []  # no records: no marks, and no head to keep them for
    taken = (rows[0][0], [(oem, name) for _, oem, name in rows])
    if len(_marked) >= MARKED:
        del _marked[next(iter(_marked))]
    _marked[matched] = taken
    return taken


def _stale_marks(matched: Where) -> bool:
    """Whether this process held marks of `matched` of an older state (then forgotten)."""
    if (found := _marked.get(matched)) is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {LEDGER}")
        if cursor.fetchone()[0] == found[0]:
            return False  # an empty page past the end
    del _marked[matched]
    return True


# Optimization: records are read, encoded and written CHUNK at a time (about 700 KB of
# JSON), so a worker's memory does not grow with the table.
CHUNK = 2000


def _record_list(
    select: Where, limit: int | None
) -> tuple[HttpResponseBase, int | None, Sequence[Any] | None]:
    """The records as one JSON list: at once when they fit in one chunk, else streamed; how
    many there were when they were all read and no more follow them; and the last row of a
    page sent at once (for its next link).

    Either way the query runs here, before the status is sent, so a failing database is
    still a JSON 500; a streamed body that fails later can only be cut short.
    """
    if limit is not None and limit <= CHUNK:
        page = db.fetch_often(*select)  # one plain query, no server-side cursor
        read = len(page) if len(page) < limit else None
        return _json_list(page), read, (page[-1] if page else None)
    chunks = _chunks(_rows(select))
    first = next(chunks, [])
    if len(first) < CHUNK:
        chunks.close()
        return _json_list(first), len(first), None
    streamed = StreamingHttpResponse(RecordStream(first, chunks), content_type=JSON_TYPE)
    return streamed, None, None


Chunks = Generator[list[Sequence[Any]], None, None]


def _rows(select: Where) -> Iterator[Sequence[Any]]:
    """The rows of `select`, read CHUNK at a time: fetchmany on SQLite; on PostgreSQL the
    query's result streamed as the server produces it (libpq's chunked mode).

    Optimization: a server-side cursor outside a transaction is declared WITH HOLD, and
    PostgreSQL builds the whole result when it is declared (the 100,000-record list's first
    byte after 257 ms); streamed, the first chunk comes after 2,000 rows and the database
    reads the rest while the worker encodes. The columns are text, so the rows are as the
    ORM would give them (no converters).
    """
    if connection.vendor != "postgresql":
        return _fetched(select)
    return _streamed(select)


def _fetched(select: Where) -> Iterator[Sequence[Any]]:
    with connection.cursor() as cursor:
        cursor.execute(*select)
        while rows := cursor.fetchmany(CHUNK):
            yield from rows


def _streamed(select: Where) -> Iterator[Sequence[Any]]:
    with connection.cursor() as cursor, connection.wrap_database_errors:
        rows = cursor.cursor.stream(*select, size=CHUNK)
        try:
            yield from rows
        finally:
            rows.close()  # a stream left early is cancelled, the connection freed


def _chunks(rows: Iterator[Sequence[Any]]) -> Chunks:
    try:
        while chunk := list(islice(rows, CHUNK)):
            yield chunk
    finally:
        getattr(rows, "close", lambda: None)()  # ends the cursor, read to the end or not


def _members(rows: list[Sequence[Any]]) -> bytes:
    """`{…},{…}`: records as the members of a JSON list, in the seed's keys and order."""
    return orjson.dumps(list(map(dict, map(zip, repeat(SEED_KEYS), rows))))[1:-1]


def _json_list(rows: list[Sequence[Any]]) -> HttpResponse:
    return HttpResponse(b"[" + _members(rows) + b"]", content_type=JSON_TYPE)


class RecordStream:
    """The body of a long list: `[`, each chunk's records as they are read, `]`. The server
    calls `close` when the body is sent or the client went away; it ends the cursor."""

    def __init__(self, first: list[Sequence[Any]], rest: Chunks) -> None:
        self.first = first
        self.rest = rest

    def __iter__(self) -> Iterator[bytes]:
        yield b"[" + _members(self.first)
        self.first = []  # not kept while the rest streams
        for chunk in self.rest:
            yield b"," + _members(chunk)
        yield b"]"

    def close(self) -> None:
        self.rest.close()


def _page_links(request: HttpRequest, filters: TierFilters, total: int, cursor: str | None) -> str:
    """RFC 8288 `Link`: the next page while records remain (with the `after` cursor of this
    page's last record when the page came in one body), and the previous and first pages
    past the first, each with the same filters."""
    if filters.limit is None:
        return ""
    limit, offset = filters.limit, filters.offset
    query = filters.model_dump(include={"oem", "tier", "program", "q"}, exclude_none=True)
    pages = []
    if offset + limit < total:
        pages.append(("next", offset + limit))
    if offset > 0:
        pages += [("prev", max(offset - limit, 0)), ("first", 0)]
    links = []
    for rel, at in pages:
        paging: dict[str, Any] = {"limit": limit, "offset": at}
        if rel == "next" and cursor is not None:
            paging["after"] = cursor
        url = f"{request.path}?{urlencode({**query, **paging})}"
        links.append(f'<{request.build_absolute_uri(url)}>; rel="{rel}"')
    return ", ".join(links)


@api.post(
    "/partners/sync",
    operation_id="sync_partner_tiers",
    response={200: SyncResponse, **ERRORS},
    summary="Sync partner tiers from the input folder",
    description=(
        "A dry run unless `dry_run` is false. Applying needs the import/sync permission; a "
        "dry run needs view. Validation errors are a 400 listing every error with its file, "
        "line and field; nothing is written."
    ),
)
def sync(request: HttpRequest, payload: SyncRequest | None = None) -> HttpResponseBase:
    payload = payload or SyncRequest.model_validate({})
    apply = not payload.dry_run
    _require(request, "sync_partnertier" if apply else "view_partnertier")
    paths = [_input_file(name) for name in payload.files] if payload.files else None
    try:
        result = run_sync(
            paths,
            apply=apply,
            prune=payload.prune,
            prune_all=payload.prune_all,
            overwrite=payload.overwrite,
            max_remove=payload.max_remove,
            source_name=payload.source,
            profile=payload.profile,
            sheet=parse_sheet(payload.sheet),
            source="api",
            user=request.auth,  # type: ignore[attr-defined]
            lock_timeout=API_LOCK_TIMEOUT,
            expected_fingerprint=payload.expected_fingerprint if apply else None,
        )
    except (InputError, LoadError) as exc:
        raise HttpError(400, str(exc)) from None
    except StaleState as exc:
        raise HttpError(409, str(exc)) from None
    except SyncBusy:
        raise HttpError(409, "Another sync is running; nothing was written. Retry.") from None
    except StoreError as exc:
        log.error("Store write failed after an API sync: %s", exc)
        return _json({"detail": str(exc), "request_id": _request_id(request)}, status=500)
    if not result.ok:
        errors = [e.to_dict() for e in result.errors]
        return _json({"detail": result.error_message, "errors": errors}, status=400)
    return sync_response(result)


EXPORT_PATH = "/partners/export/obsidian"


@api.get(
    EXPORT_PATH,
    operation_id="preview_obsidian_export",
    response={200: ExportResponse, **ERRORS},
    summary="Preview an export to the Obsidian vault (dry run)",
    description=(
        "Always a dry run, whatever the query says: reports which notes an export would "
        "write (and, with `prune`, move to `.trash/`) and writes nothing, because a GET can "
        "come from any link a logged-in user follows. The original contract's `curl` GET "
        "answers this. POST exports. Needs the import/sync permission; 503 when VAULT_ROOT "
        "is not set."
    ),
)
def preview_export(request: HttpRequest, prune: bool = False) -> HttpResponse:
    return _export(request, dry_run=True, prune=prune)


@api.post(
    EXPORT_PATH,
    operation_id="export_to_obsidian",
    response={200: ExportResponse, **ERRORS},
    summary="Export partner tiers to the Obsidian vault",
    description=(
        "Writes one note per OEM (and an index) under `$VAULT_ROOT/30 Hubs/OEMs/`, only where "
        "something changed; `prune` moves notes of OEMs without records to `.trash/`; "
        "`dry_run` reports without writing. Needs the import/sync permission; 503 when "
        "VAULT_ROOT is not set."
    ),
)
def export(request: HttpRequest, dry_run: bool = False, prune: bool = False) -> HttpResponse:
    return _export(request, dry_run=dry_run, prune=prune)


def _export(request: HttpRequest, *, dry_run: bool, prune: bool) -> HttpResponse:
    _require(request, "sync_partnertier")
    try:
        result = export_obsidian(dry_run=dry_run, prune=prune, lock_timeout=API_LOCK_TIMEOUT)
    except VaultError as exc:
        raise HttpError(503, str(exc)) from None
    except SyncBusy:
        raise HttpError(409, "A sync is running; nothing was exported. Retry.") from None
    return _json(result.to_dict())


# Helpers and error handlers.


def _json(data: Any, status: int = 200) -> HttpResponse:
    """Optimization: records are serialized once, straight to JSON; validating 100,000 of
    them against the schema again would double a dry run's time. Tests check the schema."""
    return HttpResponse(orjson.dumps(data), status=status, content_type=JSON_TYPE)


def sync_response(
    result: SyncResult, status: int = 200, extra: dict[str, Any] | None = None
) -> HttpResponseBase:
    """A sync's (or a revert's) result: streamed as it is encoded when it lists many records
    (a no-op re-sync of 100,000 lists them all as unchanged), so a worker never holds it whole.
    Streaming over pagination: the result describes one run, which is gone once answered."""
    body = result_json(result, extra=extra)
    if sum(result.summary.values()) <= CHUNK:
        return HttpResponse(b"".join(body), status=status, content_type=JSON_TYPE)
    return StreamingHttpResponse(body, status=status, content_type=JSON_TYPE)


def _require(request: HttpRequest, codename: str) -> None:
    user = request.auth  # type: ignore[attr-defined]
    if not user.has_perm(f"partners.{codename}"):
        what = "import and sync" if codename == "sync_partnertier" else "view"
        raise HttpError(403, f"Permission denied: this needs the {what} permission")


def _input_file(name: str) -> Path:
    """A name from `files`: a plain file name inside PARTNERS_INPUT_DIR, nothing else. A
    symlink there is refused by the engine, as in a folder sync (`sync.check_input`)."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise HttpError(400, f"files: {name!r} is not a file name inside the input folder")
    return Path(settings.PARTNERS_INPUT_DIR) / name


def _request_id(request: HttpRequest) -> str:
    return getattr(request, "request_id", "")


@api.exception_handler(AuthenticationError)
def unauthorized(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _json({"detail": "Missing or invalid credentials"}, status=401)
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(TooManyFailures)
def too_many_failures(request: HttpRequest, exc: TooManyFailures) -> HttpResponse:
    detail = f"Too many bad tokens from your address; retry in {exc.retry_after} s"
    response = _json({"detail": detail}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    detail = str(exc.__cause__) if isinstance(exc.__cause__, BodyError) else str(exc)
    return _json({"detail": detail}, status=exc.status_code)


LOC_NOISE = {"body", "query", "payload", "filters"}


@api.exception_handler(ValidationError)
def malformed(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            "file": None,
            "line": None,
            "field": ".".join(str(p) for p in error.get("loc", ()) if p not in LOC_NOISE),
            "message": str(error.get("msg", "invalid")),
        }
        for error in exc.errors
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid"}
    detail = f"Malformed request: {first['field']}: {first['message']}"
    return _json({"detail": detail, "errors": errors}, status=422)


@api.exception_handler(RequestDataTooBig)
def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _json({"detail": "Request body is too large"}, status=413)


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("Unhandled error in %s %s", request.method, request.path)
    return internal_error(request)


# The ledger's operations (runs, revert, tier changes) and the programs' join this API.
from partners import api_ledger, api_programs  # noqa: E402, F401
