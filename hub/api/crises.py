"""/api/v1/crises: declare, close and list crises (DESIGN §4, §5).

Admin tokens declare, update (in place: same id) and close; anyone lists them (name, area,
window, status: the perimeter of a crisis is public information), and only admins, the crisis's
own cells and the operators whose crisis data it opens see which organizations are its cells
and who declared it. Exercises are listed only when asked for (`exercise=true` or
`all`), as CAP consumers of Actual alerts never get Exercise ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hub import crises, jsontext, selection
from hub.api.auth import CallerDep, require_role
from hub.api.deps import SessionDep
from hub.api.shapes import one_of
from hub.crises import ledger, updates
from hub.crises.plausibility import area_warnings
from hub.models import Crisis
from hub.reading import Caller, engine_of

router = APIRouter(prefix="/api/v1", tags=["crises"])

UPDATABLE = ("name", "area", "until", "cells")  # PATCH: its `from` and kind stay
FIELDS = ("name", "area", "from", "until", "cells")
OPTIONAL = ("exercise",)
LISTED = {"false": False, "true": True, "all": None}  # ?exercise= : which crises are listed
ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "not an admin token"},
}


class CrisisOut(BaseModel):
    """A crisis: its area (GeoJSON, WGS84), window [from, until) and status."""

    id: str
    name: str
    area: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, WGS84")
    bbox: list[float] = Field(description="minlon, minlat, maxlon, maxlat of the area")
    start: str = Field(alias="from", description="ISO 8601, UTC: when access opens")
    until: str = Field(description="ISO 8601, UTC: when access ends (exclusive)")
    status: str = Field(
        description="scheduled | active | ended | closed",
        json_schema_extra=one_of(["scheduled", "active", "ended", "closed"]),
    )
    exercise: bool = Field(False, description="an exercise (CAP status Exercise), not a crisis")
    declared_at: str
    closed_at: str | None
    cells: list[str] | None = Field(
        None,
        description="organizations whose crisis-cell tokens read (to admins, its own cells "
        "and the operators whose crisis data it opens)",
    )
    declared_by: str | None = Field(None, description="a token id or `cli` (as cells)")
    closed_by: str | None = Field(None, description="as cells")
    warnings: list[str] = Field(
        default_factory=list,
        description="on declaration or update: unknown cells, an implausible area",
    )

    model_config = {"populate_by_name": True}


CRISIS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": list(FIELDS),
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "area": {
                            "type": "object",
                            "description": "GeoJSON Polygon or MultiPolygon (or a Feature, or "
                            "a FeatureCollection of one), WGS84",
                        },
                        "from": {"type": "string", "format": "date-time"},
                        "until": {"type": "string", "format": "date-time"},
                        "cells": {"type": "array", "items": {"type": "string"}},
                        "exercise": {
                            "type": "boolean",
                            "default": False,
                            "description": "an exercise: left out of public lists and feeds, "
                            "opens only charters that accept exercises",
                        },
                    },
                }
            }
        },
    }
}


def crisis_out(crisis: Crisis, caller: Caller, engine: Engine) -> CrisisOut:
    """A crisis as this caller may see it (its cells: hub.crises.ledger.sees_cells)."""
    shown = crises.as_json(crisis, cells=ledger.sees_cells(engine, caller.actor, crisis))
    return CrisisOut.model_validate(shown)


@router.get("/crises", response_model=list[CrisisOut], response_model_by_alias=True)
def list_crises(
    session: SessionDep,
    caller: CallerDep,
    exercise: Literal["false", "true", "all"] = Query(
        "false", description="`false`: real crises only; `true`: exercises only; `all`: both"
    ),
) -> list[CrisisOut]:
    """Every crisis, the latest declared first (exercises only when asked for)."""
    found = crises.listing(engine_of(session), exercises=LISTED[exercise])
    return [crisis_out(crisis, caller, engine_of(session)) for crisis in found]


@router.get(
    "/crises/{crisis_id}",
    response_model=CrisisOut,
    response_model_by_alias=True,
    responses={404: {"description": "no such crisis"}},
)
def read_crisis(session: SessionDep, caller: CallerDep, crisis_id: str) -> CrisisOut:
    """One crisis."""
    try:
        return crisis_out(crises.get(engine_of(session), crisis_id), caller, engine_of(session))
    except crises.UnknownCrisis as unknown:
        raise HTTPException(404, unknown.reason) from None


@router.post(
    "/crises",
    status_code=201,
    response_model=CrisisOut,
    response_model_by_alias=True,
    openapi_extra=CRISIS_BODY,
    responses={**ADMIN_ONLY, 400: {"description": "a malformed declaration, and why"}},
)
async def declare_crisis(request: Request, session: SessionDep, caller: CallerDep) -> CrisisOut:
    """Declare a crisis: while it lasts, its cells read crisis data inside its area."""
    actor = require_role(caller, "admin")
    name, area, start, end, cells, exercise = parse_declaration(await request.body())
    try:
        crisis = await run_in_threadpool(
            crises.declare,
            engine_of(session),
            name=name,
            area=area,
            start=start,
            end=end,
            cells=cells,
            by=actor.id,
            exercise=exercise,
            route="POST /api/v1/crises",
        )
    except crises.CrisisRefused as refused:
        raise HTTPException(400, refused.reason) from None
    declared = crisis_out(crisis, caller, engine_of(session))
    unknown = await run_in_threadpool(crises.unknown_cells, engine_of(session), crisis)
    declared.warnings = [crises.UNKNOWN_CELL.format(cell=cell) for cell in unknown]
    declared.warnings += await run_in_threadpool(
        area_warnings, engine_of(session), crisis.area, crisis.bbox
    )
    return declared


@router.post(
    "/crises/{crisis_id}/close",
    response_model=CrisisOut,
    response_model_by_alias=True,
    responses={
        **ADMIN_ONLY,
        404: {"description": "no such crisis"},
        409: {"description": "closed already"},
    },
)
def close_crisis(session: SessionDep, caller: CallerDep, crisis_id: str) -> CrisisOut:
    """Close a crisis: its cells' next requests are refused."""
    actor = require_role(caller, "admin")
    try:
        crisis = crises.close(
            engine_of(session),
            crisis_id,
            by=actor.id,
            route=f"POST /api/v1/crises/{crisis_id}/close",
        )
    except crises.UnknownCrisis as unknown:
        raise HTTPException(404, unknown.reason) from None
    except crises.CrisisClosed as closed:
        raise HTTPException(409, closed.reason) from None
    return crisis_out(crisis, caller, engine_of(session))


@router.patch(
    "/crises/{crisis_id}",
    response_model=CrisisOut,
    response_model_by_alias=True,
    responses={
        **ADMIN_ONLY,
        400: {"description": "a malformed change, and why"},
        404: {"description": "no such crisis"},
        409: {"description": "closed or ended"},
    },
)
async def update_crisis(
    request: Request, session: SessionDep, caller: CallerDep, crisis_id: str
) -> CrisisOut:
    """Change a crisis in place (`name`, `area`, `until`, `cells`, any of them): same id, an
    access-log entry and a `crisis` event `status: "updated"`; open streams follow it."""
    actor = require_role(caller, "admin")
    changes = parse_update(await request.body())
    try:
        crisis, _ = await run_in_threadpool(
            updates.update,
            engine_of(session),
            crisis_id,
            by=actor.id,
            route=f"PATCH /api/v1/crises/{crisis_id}",
            **changes,
        )
    except crises.UnknownCrisis as unknown:
        raise HTTPException(404, unknown.reason) from None
    except crises.CrisisClosed as closed:
        raise HTTPException(409, closed.reason) from None
    except crises.CrisisRefused as refused:
        raise HTTPException(400, refused.reason) from None
    updated = crisis_out(crisis, caller, engine_of(session))
    if "cells" in changes:
        unknown_cells = await run_in_threadpool(crises.unknown_cells, engine_of(session), crisis)
        updated.warnings = [crises.UNKNOWN_CELL.format(cell=cell) for cell in unknown_cells]
    if "area" in changes:
        updated.warnings += await run_in_threadpool(
            area_warnings, engine_of(session), crisis.area, crisis.bbox
        )
    return updated


def parse_update(body: bytes) -> dict[str, Any]:
    """The parts of an update (at least one of UPDATABLE), or a 400 that says which is wrong."""
    try:
        payload = jsontext.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict) or not payload:
        raise HTTPException(400, f"the body must be a JSON object with {', '.join(UPDATABLE)}")
    extra = sorted(set(payload) - set(UPDATABLE))
    if extra:
        named = ", ".join(repr(key[:40]) for key in extra[:5])
        raise HTTPException(400, f"a crisis update takes {', '.join(UPDATABLE)}, not {named}")
    changes: dict[str, Any] = {}
    if "name" in payload:
        if not isinstance(payload["name"], str):
            raise HTTPException(400, "name must be a string")
        changes["name"] = payload["name"]
    if "area" in payload:
        if not isinstance(payload["area"], dict):
            raise HTTPException(400, "area must be a GeoJSON object")
        changes["area"] = payload["area"]
    if "until" in payload:
        changes["until"] = moment("until", payload["until"])
    if "cells" in payload:
        cells = payload["cells"]
        if not isinstance(cells, list) or not all(isinstance(cell, str) for cell in cells):
            raise HTTPException(400, "cells must be a list of organization ids")
        changes["cells"] = cells
    return changes


def parse_declaration(
    body: bytes,
) -> tuple[str, dict[str, Any], datetime, datetime, list[str], bool]:
    """The parts of a declaration, or a 400 that says which is wrong."""
    try:
        payload = jsontext.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, f"the body must be JSON: {{{', '.join(FIELDS)}}}") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, f"the body must be a JSON object: {{{', '.join(FIELDS)}}}")
    extra = sorted(set(payload) - set(FIELDS) - set(OPTIONAL))
    if extra:
        named = ", ".join(repr(key[:40]) for key in extra[:5])
        taken = ", ".join((*FIELDS, *OPTIONAL))
        raise HTTPException(400, f"a crisis takes {taken}, not {named}")
    missing = [name for name in FIELDS if name not in payload]
    if missing:
        raise HTTPException(400, f"a crisis needs {', '.join(missing)}")
    name, area, cells = payload["name"], payload["area"], payload["cells"]
    if not isinstance(name, str):
        raise HTTPException(400, "name must be a string")
    if not isinstance(area, dict):
        raise HTTPException(400, "area must be a GeoJSON object")
    if not isinstance(cells, list) or not all(isinstance(cell, str) for cell in cells):
        raise HTTPException(400, "cells must be a list of organization ids")
    exercise = payload.get("exercise", False)
    if not isinstance(exercise, bool):
        raise HTTPException(400, "exercise must be true or false")
    start, end = moment("from", payload["from"]), moment("until", payload["until"])
    return name, area, start, end, cells, exercise


def moment(name: str, value: object) -> datetime:
    """An ISO 8601 date-time (UTC without a zone), or a 400."""
    if not isinstance(value, str):
        raise HTTPException(400, f"{name} must be an ISO 8601 date-time string")
    try:
        return selection.parse_instant(name, value)
    except selection.QueryError as bad:
        raise HTTPException(400, str(bad)) from None
