"""The situation page of crisis cells: each active crisis's perimeter, the current alerts over
it, the latest observations inside it and the crisis data the visitor may read there.

Everything is server-rendered (tables that work without JavaScript); situation.js draws the
map from the same rows (a GeoJSON data block in the page, so nothing is read twice) and keeps
the lists current from the feed (`/api/v1/feeds/stream?within=crisis:<id>&snapshot=latest&since=N`,
N the newest event when the page was read: what is published after it is replayed as news).
Anyone sees the declared crises and the public alerts and observations; the crisis data comes
through hub.reading, so only a cell of the crisis (or the data's operator) reads its rows, and
only inside the area while the crisis lasts. An exercise is listed only to admins and its cells;
its page carries the EXERCISE watermark, lists its Exercise alerts beside the Actual ones, and
reads its data with the purpose `exercise` (opened only where the charter accepts exercises).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from sqlmodel import Session
from starlette.responses import Response

from hub import access, crises, events, reading
from hub.access import Actor
from hub.api.deps import SessionDep
from hub.crises import ledger
from hub.models import Crisis, Dataset, as_utc
from hub.ui import i18n, situation_alerts
from hub.ui import situation_rows as rows
from hub.ui.pages import N_, field_text, render
from hub.ui.territory import map_settings
from hub.ui.visitors import Visitor, VisitorDep

OBSERVATIONS_PAGE = 50
DATA_SHOWN = 20  # rows of each crisis dataset on the situation page; the rest on its own pages
DATA_PAGE = 100
STREAM = "/api/v1/feeds/stream"  # a route path: the page writes it under the root path
SEVERITY_NAMES = {
    "Extreme": N_("extreme"),
    "Severe": N_("severe"),
    "Moderate": N_("moderate"),
    "Minor": N_("minor"),
    "Unknown": N_("unknown"),
}
STATUS_NAMES = {
    "active": N_("active"),
    "scheduled": N_("not started yet"),
    "ended": N_("ended"),
    "closed": N_("closed"),
}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Listed:
    """An active crisis as the list shows it: whether the visitor is one of its cells."""

    crisis: Crisis
    mine: bool


def listed(engine: Any, actor: Actor) -> list[Listed]:
    """The active crises, the visitor's own first; exercises only to admins and their cells."""
    found = [Listed(c, bool(set(c.cells) & actor.organizations)) for c in crises.active(engine)]
    shown = [i for i in found if not i.crisis.exercise or i.mine or actor.role == "admin"]
    return sorted(shown, key=lambda item: not item.mine)


def sees_cells(session: Session, actor: Actor, crisis: Crisis) -> bool:
    """Whether the visitor may see which organizations a crisis names (as the API shows them)."""
    return ledger.sees_cells(reading.engine_of(session), actor, crisis)


@router.get("/situation")
def render_situations(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    page: int = Query(1, ge=1, le=10_000),
) -> Response:
    """The active crises, and the situation of the visitor's first one (or the first)."""
    engine = reading.engine_of(session)
    active = listed(engine, visitor.actor)
    chosen = active[0].crisis if active else None
    return _answer(request, session, visitor, chosen, active, page)


@router.get("/situation/{crisis_id}")
def render_situation(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    crisis_id: str,
    page: int = Query(1, ge=1, le=10_000),
) -> Response:
    """One crisis's situation: perimeter, alerts, observations and crisis data."""
    engine = reading.engine_of(session)
    try:
        crisis = crises.get(engine, crisis_id)
    except crises.UnknownCrisis:
        context = {"missing": crisis_id, "active": listed(engine, visitor.actor)}
        return _private(render(request, visitor, "situation.html", context, status_code=404))
    return _answer(request, session, visitor, crisis, listed(engine, visitor.actor), page)


@router.get("/situation/{crisis_id}/data/{dataset_id}")
def render_crisis_data(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    crisis_id: str,
    dataset_id: str,
    cursor: str | None = Query(None, max_length=2_000),
) -> Response:
    """All the rows of one crisis dataset inside a crisis's area that the visitor may read."""
    engine = reading.engine_of(session)
    try:
        crisis = crises.get(engine, crisis_id)
    except crises.UnknownCrisis:
        crisis = None
    dataset = session.get(Dataset, dataset_id)
    if crisis is None or dataset is None or dataset.access != "crisis":
        unknown = {"missing": crisis_id if crisis is None else dataset_id}
        return _private(render(request, visitor, "situation_data.html", unknown, status_code=404))
    data = rows.CrisisData(dataset)
    if crises.status(crisis) == "active" and rows.may_try(visitor.actor, crisis, dataset):
        data = rows.crisis_rows(
            session, reader_of(visitor, crisis), dataset, crisis, DATA_PAGE, cursor
        )
    context: dict[str, Any] = {"crisis": crisis, "data": data, "cursor": cursor, "missing": None}
    return _private(render(request, visitor, "situation_data.html", context))


def reader_of(visitor: Visitor, crisis: Crisis) -> reading.Caller:
    """Who reads a crisis's data on its pages: the visitor, for an exercise with the purpose
    `exercise` (a real crisis's rows are never read for an exercise, nor the reverse)."""
    if crisis.exercise:
        return replace(visitor.caller, purpose=access.EXERCISE)
    return visitor.caller


def _answer(
    request: Request,
    session: Session,
    visitor: Visitor,
    crisis: Crisis | None,
    active: list[Listed],
    page: int,
) -> Response:
    context: dict[str, Any] = {"missing": None, "active": active, "crisis": crisis}
    if crisis is not None:
        language = i18n.negotiate(
            request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
        )
        with i18n.speaking(language):  # the map's labels are written the page's way
            context.update(situation_of(session, visitor, crisis, page, language))
    return _private(render(request, visitor, "situation.html", context))


def situation_of(
    session: Session, visitor: Visitor, crisis: Crisis, page: int, language: str
) -> dict[str, Any]:
    """What the page shows of one crisis, read with the visitor's grant."""
    now = datetime.now(UTC)
    actor, caller = visitor.actor, visitor.caller
    perimeter = rows.perimeter_of(crisis)
    state = crises.status(crisis, now)
    with reading.engine_of(session).connect() as connection:
        seen = events.newest_id(connection)  # read before the lists: later events are news
    statuses = ("Actual", "Exercise") if crisis.exercise else ("Actual",)
    alerts = situation_alerts.alerts_over(session, caller, perimeter, now, language, statuses)
    since = now - events.HORIZON
    measured = rows.observation_datasets(session, actor, perimeter, since)
    observed = [
        observation
        for dataset in measured
        for observation in rows.latest_inside(session, caller, dataset, perimeter, since)
    ]
    observed.sort(key=lambda o: o.time or datetime.min.replace(tzinfo=UTC), reverse=True)
    start = (page - 1) * OBSERVATIONS_PAGE
    shown = observed[start : start + OBSERVATIONS_PAGE]
    shared = []
    for dataset in rows.crisis_datasets(session):
        if state == "active" and rows.may_try(actor, crisis, dataset):
            reader = reader_of(visitor, crisis)
            shared.append(rows.crisis_rows(session, reader, dataset, crisis, DATA_SHOWN))
        else:
            shared.append(rows.CrisisData(dataset))
    return {
        "state": state,
        "exercise": crisis.exercise,
        "status_names": STATUS_NAMES,
        "severity_names": SEVERITY_NAMES,
        "cells_shown": sees_cells(session, actor, crisis),
        "cell_of": bool(set(crisis.cells) & actor.organizations),
        "alerts": alerts,
        "observations": shown,
        "observation_count": len(observed),
        "page": page,
        "more": start + OBSERVATIONS_PAGE < len(observed),
        "since": since,
        "shared": shared,
        "map": {
            **map_settings(),
            "stream": f"{STREAM}?within=crisis:{quote(crisis.id, safe='')}"
            f"&snapshot=latest&since={seen}"
            + ("&status=Actual,Exercise&purpose=exercise" if crisis.exercise else "")
            if state == "active"
            else "",
            "data": {
                **geojson_of(crisis, alerts, observed, shared),
                "datasets": {d.id: d.title for d in measured},  # names of the feed's datasets
            },
        },
    }


def geojson_of(
    crisis: Crisis,
    alerts: list[situation_alerts.AlertRow],
    observed: list[rows.Observation],
    shared: list[rows.CrisisData],
) -> dict[str, Any]:
    """The page's rows as one FeatureCollection for its map (every observation, not a page)."""
    features: list[dict[str, Any]] = [
        _feature(crisis.area, kind="perimeter", label=crisis.name, key=crisis.id)
    ]
    for alert in alerts:
        features.append(
            _feature(
                alert.geometry,
                kind="alert",
                key=f"{alert.sender}|{alert.identifier}",
                label=alert.headline,
                severity=alert.severity,
                status=alert.status,
                time=_iso(alert.sent),
            )
        )
    for o in observed:
        features.append(
            _feature(
                {"type": "Point", "coordinates": [o.lon, o.lat]},
                kind="observation",
                key=o.key,
                label=f"{o.place} — {o.measure}",
                value=o.value,
                unit=o.unit,
                time=_iso(o.time),
            )
        )
    for data in shared:
        for lon, lat, record in data.points:
            label = " — ".join(
                field_text(record[f], data.types.get(f, ""))
                for f in data.fields[:3]
                if record.get(f) is not None
            )
            features.append(
                _feature(
                    {"type": "Point", "coordinates": [lon, lat]},
                    kind="data",
                    key=data.dataset.id,
                    label=label,
                )
            )
    return {"type": "FeatureCollection", "features": features}


def _feature(geometry: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat().replace("+00:00", "Z") if moment else None


def _private(page: Response) -> Response:
    """Pages shaped by the visitor's grant are never kept by a shared cache."""
    page.headers["Cache-Control"] = "private, no-store"
    return page
