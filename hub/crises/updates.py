"""A crisis changed in place: extended or shortened, its area redrawn, its cells or name
changed, keeping its id, so that streams `within` it, links to its page and the access log's
thread go on (as a CAP Update references the message it updates).

Each update is an access-log entry naming what changed (hub.crises.ledger), for the operators
the area touched before and after, and a `crisis` event `status: "updated"` carrying the new
state: open streams follow its new area and window. A closed or ended crisis is not updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from hub import crises
from hub.crises import areas, ledger
from hub.models import Crisis, as_utc, utcnow

FIELDS = ("name", "area", "until", "cells")


def update(
    engine: Engine,
    crisis_id: str,
    *,
    by: str,
    route: str = "hub crisis update",
    name: str | None = None,
    area: dict[str, Any] | None = None,
    until: datetime | None = None,
    cells: Sequence[str] | None = None,
    at: datetime | None = None,
) -> tuple[Crisis, list[str]]:
    """Change a crisis in place; the crisis and the names of what changed (none: nothing is
    logged nor announced). UnknownCrisis, CrisisClosed (closed or ended), CrisisRefused (a
    malformed part, or a window over, too long or not after its start): nothing is stored."""
    now = as_utc(at or utcnow())
    before = crises.get(engine, crisis_id)
    state = crises.status(before, now)
    if state in ("closed", "ended"):
        raise crises.CrisisClosed(
            f"crisis {crisis_id!r} is {state}: declare a new one ({crises.why_over(before, now)})"
        )
    changed = _changed(before, name, area, until, cells, now)
    if not changed:
        return before, []
    table = Crisis.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        # One statement: a crisis closed meanwhile stays closed, unchanged.
        done = connection.execute(
            table.update()
            .where(table.c.id == crisis_id, table.c.closed_at.is_(None))
            .values(**changed)
        )
    if not done.rowcount:
        raise crises.CrisisClosed(f"crisis {crisis_id!r} was closed meanwhile")
    after = crises.get(engine, crisis_id)
    what = _described(before, after, list(changed))
    former = ledger.producers(engine, before)  # an area narrowed: they are told too
    ledger.record(engine, after, "updated", by=by, route=route, changes=what, also=former)
    crises.announce(engine, after, "updated")
    return after, [field for field in FIELDS if _column(field) in changed]


def _changed(
    crisis: Crisis,
    name: str | None,
    area: dict[str, Any] | None,
    until: datetime | None,
    cells: Sequence[str] | None,
    now: datetime,
) -> dict[str, Any]:
    """The columns that change, checked as a declaration checks them."""
    values: dict[str, Any] = {}
    if name is not None and crises._name(name) != crisis.name:
        values["name"] = crises._name(name)
    if area is not None:
        try:
            geometry, bbox = areas.parse(area)
        except areas.AreaError as bad:
            raise crises.CrisisRefused(str(bad)) from None
        if geometry != crisis.area:
            values.update(area=geometry, bbox=list(bbox))
    if until is not None and as_utc(until) != as_utc(crisis.ends_at):
        _check_end(as_utc(crisis.starts_at), as_utc(until), now)
        values["ends_at"] = as_utc(until)
    if cells is not None and crises._cells(cells) != list(crisis.cells):
        values["cells"] = crises._cells(cells)
    return values


def _check_end(begins: datetime, ends: datetime, now: datetime) -> None:
    if ends <= begins:
        raise crises.CrisisRefused(f"the crisis must end after it starts ({_iso(begins)})")
    if ends <= now:
        raise crises.CrisisRefused(
            f"the new end {_iso(ends)} is past: close the crisis instead (hub crisis close)"
        )
    if ends - begins > crises.MAX_WINDOW:
        raise crises.CrisisRefused(
            f"the crisis would last {(ends - begins).days} days: at most "
            f"{crises.MAX_WINDOW.days} (declare a new one if it goes on)"
        )


def _described(before: Crisis, after: Crisis, columns: list[str]) -> str:
    """What changed, in words an auditor reads: old -> new."""
    parts = []
    if "name" in columns:
        parts.append(f"name {before.name[:80]!r} -> {after.name[:80]!r}")
    if "ends_at" in columns:
        parts.append(f"until {_iso(before.ends_at)} -> {_iso(after.ends_at)}")
    if "cells" in columns:
        parts.append(f"cells {','.join(before.cells)} -> {','.join(after.cells)}")
    if "area" in columns:
        parts.append(f"area sha256:{ledger.area_hash(before)} -> sha256:{ledger.area_hash(after)}")
    return "; ".join(parts)


def _column(field: str) -> str:
    return "ends_at" if field == "until" else field


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")
