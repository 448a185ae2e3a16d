"""Crisis test data: a telecom operator's crisis datasets (one timed, one a list of sites)
published through the real gate under charters/telecom-outages-crisis.yaml, and crisis areas
with a concave shell, a hole and a second polygon, so that a bbox is never mistaken for the area.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Engine

from hub import crises
from hub.catalogue import Batch, Publisher, publish
from hub.config import PROJECT_ROOT
from hub.models import Crisis, utcnow

CHARTER = "telecom-outages-crisis"
PRODUCER = Publisher("telecom-demo", "Telecom Démo", "private")
EVENTS = "telecom-demo-incidents"  # timed rows (earthquake-event schema: a time, a point)
SITES = "telecom-demo-sites"  # a list of sites without times (emergency-shelter schema)

# A triangle whose bbox corner (1.9, 43.9) lies outside it, with a square hole, and a square
# apart: the area of crisis A. Its bbox also holds (2.5, 43.2), between the two polygons.
TRIANGLE = [[1.0, 43.0], [2.0, 43.0], [1.0, 44.0], [1.0, 43.0]]
HOLE = [[1.1, 43.1], [1.3, 43.1], [1.3, 43.3], [1.1, 43.3], [1.1, 43.1]]
SQUARE = [[3.0, 43.0], [3.5, 43.0], [3.5, 43.5], [3.0, 43.5], [3.0, 43.0]]
AREA_A = {"type": "MultiPolygon", "coordinates": [[TRIANGLE, HOLE], [SQUARE]]}
# Crisis B: a small square around (5.0, 45.0), far from A.
AREA_B = {
    "type": "Polygon",
    "coordinates": [[[4.9, 44.9], [5.1, 44.9], [5.1, 45.1], [4.9, 45.1], [4.9, 44.9]]],
}
CELL_A, CELL_B, STRANGER = "prefecture-a", "prefecture-b", "prefecture-c"

# (id, lon, lat, hours from now): where each timed row lies, and whether crisis A's cell
# (A: from 3 h ago to a day ahead; B: from 1 h ago) reads it.
PLACES: dict[str, tuple[float, float]] = {
    "triangle": (1.2, 43.6),
    "bbox-corner": (1.9, 43.9),
    "hole": (1.2, 43.2),
    "hole-edge": (1.1, 43.2),
    "shell-edge": (1.5, 43.0),
    "square": (3.2, 43.2),
    "between": (2.5, 43.2),
    "far": (5.0, 45.0),
}


@dataclass(frozen=True)
class Row:
    """One timed test row: where, when (hours from the crises' reference instant)."""

    id: str
    place: str
    hours: float


ROWS = [
    Row("triangle", "triangle", -2),
    Row("triangle-at-start", "triangle", -3),  # exactly A's start: inside [start, end)
    Row("triangle-early", "triangle", -5),
    Row("triangle-at-end", "triangle", 24),  # exactly A's end: outside
    Row("triangle-late", "triangle", 24 * 30),
    Row("bbox-corner", "bbox-corner", -2),
    Row("hole", "hole", -2),
    Row("hole-edge", "hole-edge", -2),
    Row("shell-edge", "shell-edge", -2),
    Row("square", "square", -2),
    Row("between", "between", -2),
    Row("far", "far", -0.5),
    Row("far-early", "far", -2),  # inside B's area, before B's start
]
READ_BY_A_ONLY = {"triangle", "triangle-at-start", "hole-edge", "shell-edge", "square"}
READ_BY_B_ONLY = {"far"}
SITES_IN_A = {"triangle", "hole-edge", "shell-edge", "square"}


def reference() -> datetime:
    """Now, to the second: the instant the crises' windows and the rows' times hang from."""
    return utcnow().replace(microsecond=0)


def fields_of(schema: str) -> list[str]:
    """The field names of a bundled schema."""
    path = PROJECT_ROOT / "schemas" / f"{schema}.schema.json"
    return [field["name"] for field in json.loads(path.read_text(encoding="utf-8"))["fields"]]


def frame(schema: str, rows: list[dict[str, str]]) -> pl.DataFrame:
    """Rows as the gate takes them: every field as text, `_row` from 2."""
    names = fields_of(schema)
    filled = [{name: row.get(name, "") for name in names} for row in rows]
    table = pl.DataFrame(filled, schema={name: pl.Utf8 for name in names})
    return table.with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))


def instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def incident_rows(now: datetime, rows: list[Row] = ROWS) -> list[dict[str, str]]:
    """Timed rows at PLACES (an earthquake-event shape: id, time, point)."""
    return [
        {
            "event_id": row.id,
            "occurred_at": instant(now + timedelta(hours=row.hours)),
            "longitude": repr(PLACES[row.place][0]),
            "latitude": repr(PLACES[row.place][1]),
            "place": row.place,
        }
        for row in rows
    ]


def site_rows() -> list[dict[str, str]]:
    """One site at each of PLACES, without a time."""
    return [
        {"site_id": name, "name": f"Site {name}", "longitude": repr(lon), "latitude": repr(lat)}
        for name, (lon, lat) in PLACES.items()
    ]


def publish_points(
    engine: Engine, dataset_id: str, points: list[tuple[str, float, float]], now: datetime
) -> None:
    """A timed crisis dataset of named points, all an hour before `now`."""
    rows = [
        {
            "event_id": name,
            "occurred_at": instant(now - timedelta(hours=1)),
            "longitude": repr(lon),
            "latitude": repr(lat),
        }
        for name, lon, lat in points
    ]
    publish(_batch(dataset_id, "earthquake-event", frame("earthquake-event", rows)), engine=engine)


def publish_crisis_data(engine: Engine, now: datetime) -> None:
    """The telecom operator's two crisis datasets."""
    publish(
        _batch(EVENTS, "earthquake-event", frame("earthquake-event", incident_rows(now))),
        engine=engine,
    )
    publish(
        _batch(SITES, "emergency-shelter", frame("emergency-shelter", site_rows())), engine=engine
    )


def _batch(dataset_id: str, schema: str, rows: pl.DataFrame) -> Batch:
    return Batch(
        dataset_id=dataset_id,
        title=f"Telecom Démo {dataset_id} (crisis test)",
        publisher=PRODUCER,
        theme="risk",
        schema=schema,
        charter=CHARTER,
        chunks=[rows],
        description="Crisis-only data of a private operator, for tests.",
        source_url="https://example.org/telecom.csv",
    )


def declare(
    engine: Engine,
    area: dict[str, Any],
    cells: list[str],
    now: datetime,
    start_hours: float,
    end_hours: float,
    name: str = "Test crisis",
    declared_hours: float = 0.0,
) -> Crisis:
    """A crisis whose window hangs from `now`, declared `declared_hours` from it (before it
    ends: a window already over is refused)."""
    return crises.declare(
        engine,
        name=name,
        area=area,
        start=now + timedelta(hours=start_hours),
        end=now + timedelta(hours=end_hours),
        cells=cells,
        by="test",
        at=now + timedelta(hours=declared_hours),
    )


def declare_both(engine: Engine, now: datetime) -> tuple[Crisis, Crisis]:
    """Crisis A (cell A, 3 h ago to a day ahead) and B (cells A and B, 1 h ago to a day ahead)."""
    return (
        declare(engine, AREA_A, [CELL_A], now, -3, 24, "Flood A"),
        declare(engine, AREA_B, [CELL_A, CELL_B], now, -1, 24, "Storm B"),
    )


OUTAGES = "telecom-demo-outages"  # network-outage: a start, and an end empty while ongoing


def outage_rows(
    now: datetime, spans: dict[str, tuple[float, float | None]]
) -> list[dict[str, str]]:
    """Outages at the triangle of area A, each (start, end) in hours from `now`; no end: ongoing."""
    lon, lat = PLACES["triangle"]
    return [
        {
            "outage_id": name,
            "service": "mobile",
            "element_type": "antenna",
            "element_id": f"ANT-{name}",
            "started_at": instant(now + timedelta(hours=start)),
            "ended_at": "" if end is None else instant(now + timedelta(hours=end)),
            "status": "ongoing" if end is None else "restored",
            "longitude": repr(lon),
            "latitude": repr(lat),
        }
        for name, (start, end) in spans.items()
    ]


def publish_outages(
    engine: Engine, now: datetime, spans: dict[str, tuple[float, float | None]]
) -> None:
    """The telecom operator's outages (network-outage schema), under its crisis charter."""
    rows = frame("network-outage", outage_rows(now, spans))
    publish(_batch(OUTAGES, "network-outage", rows), engine=engine)
