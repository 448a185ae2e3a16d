"""Crisis mode: declared crises open crisis data to their cells, inside their area and window.

A crisis is declared (by an admin token, or `hub crisis declare`) with a GeoJSON area, a window
[start, end) and the organizations of its cells; it is active from its start until its end or
until it is closed, whichever comes first. While it is, hub.reading hands its zone to
hub.access, which opens the rows of `crisis` datasets inside it to crisis-cell tokens of those
organizations. Declaring, updating (hub.crises.updates) and closing are `crisis` events on the
feed and entries of the access log (hub.crises.ledger); its start and end are events too
(hub.crises.passages).

An exercise is a crisis marked `exercise` (CAP status Exercise): it says so wherever it is
shown, public lists and feeds leave it out unless asked (`Exercise`, as for CAP alerts), and it
opens a crisis dataset only where the dataset's charter accepts exercises (hub.access).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import events
from hub.access import Actor, Zone
from hub.crises import areas, ledger
from hub.models import ApiToken, Crisis, Dataset, Organization, as_utc, utcnow

MAX_NAME = 200
MAX_CELLS = 100
# A crisis opens private operators' data from its start to its end: its window is bounded so
# that a mistyped year cannot open decades of it, or keep it open for ever.
MAX_LOOKBACK = timedelta(days=31)  # how long before its declaration a crisis may start
MAX_WINDOW = timedelta(days=366)
UNKNOWN_CELL = (
    "no organization and no crisis-cell token is named {cell!r}: is it misspelt? Nobody reads "
    "as that cell until a crisis-cell token names it"
)
_CELL = re.compile(r"^[^\s\x00-\x1f\x7f]{1,100}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CrisisError(Exception):
    """A crisis operation the hub refuses, and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CrisisRefused(CrisisError):
    """A declaration that is malformed (area, window, cells, name); nothing was stored."""


class UnknownCrisis(CrisisError, LookupError):
    """No crisis has that id."""


class CrisisClosed(CrisisError):
    """The crisis was closed already."""


def declare(
    engine: Engine,
    *,
    name: str,
    area: dict[str, Any],
    start: datetime,
    end: datetime,
    cells: Sequence[str],
    by: str,
    at: datetime | None = None,
    exercise: bool = False,
    route: str = "hub crisis declare",
) -> Crisis:
    """Declare a crisis at `at` (default now); CrisisRefused, storing nothing, if any part is
    malformed or its window is over, too long or starts too long before. The declaration is
    an access-log entry (hub.crises.ledger) and a `crisis` event."""
    title = _name(name)
    try:
        geometry, bbox = areas.parse(area)
    except areas.AreaError as bad:
        raise CrisisRefused(str(bad)) from None
    begins, ends = as_utc(start), as_utc(end)
    moment = as_utc(at or utcnow())
    _check_window(begins, ends, moment)
    crisis = Crisis(
        id=_new_id(title),
        name=title,
        area=geometry,
        bbox=list(bbox),
        starts_at=begins,
        ends_at=ends,
        cells=_cells(cells),
        declared_by=by[:64] or "cli",
        declared_at=utcnow(),
        exercise=bool(exercise),
        # started already: its declaration says so, no `started` event follows
        started_told_at=utcnow() if begins <= moment else None,
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(crisis)
        session.commit()
    ledger.record(engine, crisis, "declared", by=crisis.declared_by, route=route)
    announce(engine, crisis, "declared")
    return crisis


def _check_window(begins: datetime, ends: datetime, now: datetime) -> None:
    if ends <= begins:
        raise CrisisRefused(f"the crisis must end after it starts ({_iso(begins)})")
    if ends <= now:
        raise CrisisRefused(
            f"the crisis window ended at {_iso(ends)}, before this declaration: a crisis opens "
            "data only while it lasts"
        )
    if now - begins > MAX_LOOKBACK:
        raise CrisisRefused(
            f"the crisis starts at {_iso(begins)}: at most {MAX_LOOKBACK.days} days before its "
            "declaration (it opens operators' data from its start)"
        )
    if ends - begins > MAX_WINDOW:
        raise CrisisRefused(
            f"the crisis lasts {(ends - begins).days} days: at most {MAX_WINDOW.days} (declare "
            "it again if it goes on)"
        )


def unknown_cells(engine: Engine, crisis: Crisis) -> list[str]:
    """The crisis's cells that no organization of the catalogue and no crisis-cell token names:
    likely misspelt, and nobody can read as them until a token names them."""
    with Session(engine) as session:
        known = set(session.exec(select(Organization.id)).all())
        for organizations in session.exec(
            select(ApiToken.organizations).where(ApiToken.role == "crisis-cell")
        ).all():
            known.update(organizations)
    return [cell for cell in crisis.cells if cell not in known]


def close(engine: Engine, crisis_id: str, *, by: str, route: str = "hub crisis close") -> Crisis:
    """Close a crisis now: its cells' next requests are refused (UnknownCrisis, CrisisClosed).
    The close is an access-log entry and a `crisis` event (no `ended` event follows)."""
    table = Crisis.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        # One statement: of two closes at once, one closes and the other finds it closed.
        done = connection.execute(
            table.update()
            .where(table.c.id == crisis_id, table.c.closed_at.is_(None))
            .values(closed_at=utcnow(), closed_by=by[:64] or "cli", ended_told_at=utcnow())
        )
    if not done.rowcount:
        closed = get(engine, crisis_id)  # UnknownCrisis when there is none
        raise CrisisClosed(f"crisis {crisis_id!r} was closed already, at {_iso(closed.closed_at)}")
    crisis = get(engine, crisis_id)
    ledger.record(engine, crisis, "closed", by=crisis.closed_by, route=route)
    announce(engine, crisis, "closed")
    return crisis


def get(engine: Engine, crisis_id: str) -> Crisis:
    """The crisis of that id (UnknownCrisis if there is none)."""
    with Session(engine, expire_on_commit=False) as session:
        crisis = session.get(Crisis, crisis_id)
    if crisis is None:
        raise UnknownCrisis(f"no crisis {crisis_id!r}")
    return crisis


def listing(engine: Engine, exercises: bool | None = None) -> list[Crisis]:
    """Every crisis, the latest declared first; only exercises (`exercises` True), only real
    crises (False), or both (None)."""
    with Session(engine, expire_on_commit=False) as session:
        statement = select(Crisis).order_by(col(Crisis.declared_at).desc(), col(Crisis.id))
        if exercises is not None:
            statement = statement.where(col(Crisis.exercise) == exercises)
        return list(session.exec(statement).all())


def cap_status(crisis: Crisis) -> str:
    """The CAP status a crisis's messages carry: Exercise for an exercise, else Actual."""
    return "Exercise" if crisis.exercise else "Actual"


def active(engine: Engine, at: datetime | None = None) -> list[Crisis]:
    """The crises in force at `at` (default now): declared, not closed, start <= at < end."""
    moment = as_utc(at or utcnow())
    with Session(engine, expire_on_commit=False) as session:
        statement = (
            select(Crisis)
            .where(
                col(Crisis.closed_at).is_(None),
                col(Crisis.starts_at) <= moment,
                col(Crisis.ends_at) > moment,
            )
            .order_by(col(Crisis.starts_at), col(Crisis.id))
        )
        return list(session.exec(statement).all())


def status(crisis: Crisis, at: datetime | None = None) -> str:
    """`closed`, `ended`, `active` or `scheduled` (not started yet), at `at` (default now)."""
    moment = as_utc(at or utcnow())
    if crisis.closed_at is not None:
        return "closed"
    if as_utc(crisis.ends_at) <= moment:
        return "ended"
    return "active" if as_utc(crisis.starts_at) <= moment else "scheduled"


def over(engine: Engine, crisis_ids: Iterable[str]) -> dict[str, str]:
    """Why each of these crises is no longer in force, for those that are not (closed, ended
    or gone); the others are left out. One query for them all."""
    wanted = sorted(set(crisis_ids))
    with Session(engine, expire_on_commit=False) as session:
        found = {c.id: c for c in session.exec(select(Crisis).where(col(Crisis.id).in_(wanted)))}
    reasons = {i: f"crisis {i} no longer exists" for i in wanted if i not in found}
    for crisis in found.values():
        reason = why_over(crisis)
        if reason:
            reasons[crisis.id] = reason
    return reasons


def why_over(crisis: Crisis, at: datetime | None = None) -> str:
    """Why a crisis is no longer in force at `at` (default now): closed or ended; "" if it is
    (or is yet to start)."""
    state = status(crisis, at)
    if state == "closed":
        return f"crisis {crisis.id} was closed at {_iso(crisis.closed_at)}"
    if state == "ended":
        return f"crisis {crisis.id} ended at {_iso(crisis.ends_at)}"
    return ""


def zone_of(crisis: Crisis) -> Zone:
    """A crisis as hub.access grants it: its cells, area, bbox and window."""
    west, south, east, north = (float(v) for v in crisis.bbox)
    return Zone(
        crisis=crisis.id,
        cells=frozenset(crisis.cells),
        shape=areas.shape_text(crisis.area),
        bbox=(west, south, east, north),
        start=as_utc(crisis.starts_at),
        end=as_utc(crisis.ends_at),
        exercise=bool(crisis.exercise),
    )


def zones(engine: Engine, dataset: Dataset, actor: Actor) -> tuple[Zone, ...]:
    """The active crises naming one of a crisis cell's organizations, for a crisis dataset
    (looked up afresh on every read: a closed or ended crisis counts from the next request)."""
    if dataset.access != "crisis" or actor.role != "crisis-cell" or not actor.organizations:
        return ()
    return tuple(
        zone_of(crisis) for crisis in active(engine) if set(crisis.cells) & actor.organizations
    )


def as_json(crisis: Crisis, *, cells: bool = True) -> dict[str, Any]:
    """A crisis as the API and the feed show it (`cells` and who declared it: if `cells`)."""
    shown: dict[str, Any] = {
        "id": crisis.id,
        "name": crisis.name,
        "area": crisis.area,
        "bbox": list(crisis.bbox),
        "from": _iso(crisis.starts_at),
        "until": _iso(crisis.ends_at),
        "status": status(crisis),
        "exercise": bool(crisis.exercise),
        "declared_at": _iso(crisis.declared_at),
        "closed_at": _iso(crisis.closed_at),
    }
    if cells:
        shown.update(cells=list(crisis.cells), declared_by=crisis.declared_by)
        shown["closed_by"] = crisis.closed_by or None
    return shown


def announce(engine: Engine, crisis: Crisis, state: str) -> None:
    """The feed's `crisis` event of a declaration, an update, a start, an end or a close
    (`producers`: the operators whose crisis data its area touches, who see its cells)."""
    payload = {
        "id": crisis.id,
        "name": crisis.name,
        "area": crisis.area,
        "geometry": crisis.area,
        "bbox": list(crisis.bbox),
        "from": _iso(crisis.starts_at),
        "until": _iso(crisis.ends_at),
        "cells": list(crisis.cells),
        "status": state,
        "exercise": bool(crisis.exercise),
        "producers": ledger.producers(engine, crisis),
    }
    events.emit(engine, "crisis", dataset_id="", theme="risk", payload=payload)


def _name(name: str) -> str:
    title = " ".join(str(name).split())
    if not title:
        raise CrisisRefused("the crisis needs a name")
    if len(title) > MAX_NAME:
        raise CrisisRefused(f"the crisis name is longer than {MAX_NAME} characters")
    if _CONTROL.search(title):  # a NUL, which PostgreSQL takes in no text, and its kin
        raise CrisisRefused("the crisis name holds control characters")
    return title


def _cells(cells: Sequence[str]) -> list[str]:
    """The organizations named as cells: at least one, each an organization id."""
    if isinstance(cells, str) or not all(isinstance(cell, str) for cell in cells):
        raise CrisisRefused("cells must be a list of organization ids")
    named = sorted({cell.strip() for cell in cells if cell.strip()})
    if not named:
        raise CrisisRefused("the crisis needs at least one cell (an organization id)")
    if len(named) > MAX_CELLS:
        raise CrisisRefused(f"a crisis names at most {MAX_CELLS} cells")
    for cell in named:
        if not _CELL.match(cell):
            raise CrisisRefused(f"cell {cell[:120]!r} is not an organization id")
    return named


def _new_id(name: str) -> str:
    """A short id from the name, with a random suffix (two crises may share a name)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:40].strip("-") or "crisis"
    return f"{slug}-{secrets.token_hex(3)}"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat().replace("+00:00", "Z")


__all__ = [
    "CrisisClosed",
    "CrisisError",
    "CrisisRefused",
    "UnknownCrisis",
    "active",
    "as_json",
    "cap_status",
    "close",
    "declare",
    "get",
    "listing",
    "status",
    "zone_of",
    "zones",
]
