"""`GET /v1/partners/programs`: the catalog's ladders. An operation of `partners.api.api`
(imported at its end)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Schema

from partners.api import ERRORS, _require, api
from partners.programs import read_entries


class ProgramOut(Schema):
    oem: str
    program: str | None  # null: the OEM's default ladder
    tiers: list[str]  # lowest → highest


class ProgramPage(Schema):
    items: list[ProgramOut]
    count: int


@api.get(
    "/partners/programs",
    operation_id="list_programs",
    response={200: ProgramPage, **ERRORS},
    summary="List programs and their tier ladders",
    description=(
        "Every program of the catalog with its ladder of tiers, lowest first, ordered by OEM "
        "then program; `program` null is the OEM's default ladder, used by its programs that "
        "have none. Needs the view permission on programs."
    ),
)
def list_programs(request: HttpRequest) -> dict[str, object]:
    _require(request, "view_program")
    entries = sorted((e for e in read_entries()[0] if e.tiers), key=lambda e: e.key)
    items = [{"oem": e.oem, "program": e.program, "tiers": list(e.tiers)} for e in entries]
    return {"items": items, "count": len(items)}
