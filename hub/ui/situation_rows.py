"""What the situation page shows of a crisis area, read through hub.reading with the visitor's
grant: the latest value of each series measured inside it and the crisis data the visitor may
read there (the alerts over it: hub.ui.situation_alerts).

Queries are narrowed by the area's bounding box (the coordinate indexes serve it) and then kept
only inside the perimeter itself, tested with shapely; crisis rows are narrowed by the grant in
SQL first (hub.access), so a crisis cell never receives a row outside its crises.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import shape as shapely_shape
from sqlmodel import Session, col, select

from hub import access, reading, records
from hub.access import AccessDenied
from hub.alerts import current
from hub.models import Crisis, Dataset, as_utc
from hub.selection import QueryError

log = logging.getLogger(__name__)

OBSERVATIONS_READ = 2_000  # newest rows read per dataset to find each series' latest value
# A series is one place and one measure: the first of these fields a schema has.
PLACE_FIELDS = ("station_id", "site_id", "element_id", "station_name", "name")
PLACE_NAMES = ("station_name", "name", "element_name", "station_id", "site_id")
MEASURE_FIELDS = ("pollutant", "quantity", "parameter", "variable", "measure")
DATA_FIELDS_SHOWN = 8  # a crisis dataset's first fields, coordinates aside


@dataclass(frozen=True)
class Perimeter:
    """A crisis's area as a prepared shapely geometry, and its bounding box."""

    geometry: Any
    bbox: tuple[float, float, float, float]

    def holds(self, lon: Any, lat: Any) -> bool:
        """Whether a point lies inside the area (on its ring counts as inside)."""
        if not isinstance(lon, int | float) or not isinstance(lat, int | float):
            return False
        return bool(shapely.intersects_xy(self.geometry, float(lon), float(lat)))

    def meets(self, geometry: dict[str, Any] | None) -> bool:
        """Whether a GeoJSON geometry touches the area."""
        if not geometry:
            return False
        try:
            return bool(self.geometry.intersects(shapely_shape(geometry)))
        except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
            return False


def perimeter_of(crisis: Crisis) -> Perimeter:
    """The crisis's area, prepared for many point tests."""
    geometry = shapely_shape(crisis.area)
    shapely.prepare(geometry)
    west, south, east, north = (float(v) for v in crisis.bbox)
    return Perimeter(geometry, (west, south, east, north))


@dataclass(frozen=True)
class Observation:
    """The latest value of one series (a place and a measure) inside the area."""

    key: str
    dataset_id: str
    dataset_title: str
    place: str
    measure: str
    value: Any
    unit: str
    time: datetime | None
    lon: float
    lat: float


def observation_datasets(
    session: Session, actor: access.Actor, perimeter: Perimeter, since: datetime
) -> list[Dataset]:
    """Datasets that may hold values measured inside the area since `since` (their newest time
    and extent say so) that the actor may read whole: open ones, and restricted ones its grant
    opens (asked of hub.access without reading, so that a visitor who may not read them leaves
    no refusal in the access log on every view)."""
    chosen = []
    statement = select(Dataset).where(
        col(Dataset.access).in_(("open", "restricted")),
        Dataset.schema_name != current.SCHEMA,
        col(Dataset.time_max) >= since,
    )
    for dataset in session.exec(statement.order_by(col(Dataset.id))).all():
        if dataset.bbox and not _overlap(dataset.bbox, perimeter.bbox):
            continue
        if not access.grant(dataset, actor).reads_rows:  # an open one a new version closed too
            continue
        chosen.append(dataset)
    return chosen


def latest_inside(
    session: Session,
    caller: reading.Caller,
    dataset: Dataset,
    perimeter: Perimeter,
    since: datetime,
) -> list[Observation]:
    """The latest value of each series of a dataset inside the area, measured since `since`."""
    try:
        shape = reading.layout(session, dataset)
    except LookupError:
        return []
    fields = {name for name in shape.columns}
    time_field = _field_of(shape, shape.time)
    lon_field, lat_field = reading.coordinates(shape)
    if "value" not in fields or not (time_field and lon_field and lat_field):
        return []
    criteria = reading.Criteria(start=since, bbox=perimeter.bbox, sort=f"-{time_field}")
    try:
        page = reading.read_records(session, dataset, caller, criteria, OBSERVATIONS_READ)
    except (AccessDenied, QueryError) as refused:
        log.info("situation: %s not read: %s", dataset.id, refused)
        return []
    seen: dict[str, Observation] = {}
    for record in page.records:
        lon: Any = record.get(lon_field)
        lat: Any = record.get(lat_field)
        if not perimeter.holds(lon, lat):
            continue
        key = series_key(dataset.id, record)
        if key in seen:
            continue  # newest first: the first met is the latest
        seen[key] = Observation(
            key=key,
            dataset_id=dataset.id,
            dataset_title=dataset.title,
            place=_first(record, PLACE_NAMES),
            measure=_first(record, MEASURE_FIELDS),
            value=record.get("value"),
            unit=str(record.get("unit") or ""),
            time=_instant(record.get(time_field)),
            lon=float(lon),
            lat=float(lat),
        )
    return list(seen.values())


def series_key(dataset_id: str, record: dict[str, Any]) -> str:
    """A series' key (situation.js makes the same from a feed event's record)."""
    return "|".join((dataset_id, _first(record, PLACE_FIELDS), _first(record, MEASURE_FIELDS)))


@dataclass
class CrisisData:
    """One crisis dataset: the rows the visitor may read inside the area, or why none."""

    dataset: Dataset
    fields: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    points: list[tuple[float, float, dict[str, Any]]] = field(default_factory=list)
    next_cursor: str | None = None
    readable: bool = False
    key_fields: list[str] = field(default_factory=list)  # what tells its rows apart
    types: dict[str, str] = field(default_factory=dict)  # Table Schema type of each field shown

    def key_of(self, record: dict[str, Any]) -> str:
        """A row's key (situation.js makes the same from a feed event's record)."""
        return "|".join("" if record.get(f) is None else str(record[f]) for f in self.key_fields)


def crisis_datasets(session: Session) -> list[Dataset]:
    """Every dataset under a crisis charter (their metadata is public)."""
    statement = select(Dataset).where(Dataset.access == "crisis").order_by(col(Dataset.title))
    return list(session.exec(statement).all())


def may_try(actor: access.Actor, crisis: Crisis, dataset: Dataset) -> bool:
    """Whether reading a crisis dataset for this crisis is worth asking hub.reading: a cell of
    this crisis, or an operator of the data's producer (others would only log a refusal)."""
    if actor.operates(dataset.organization_id):
        return True
    return actor.role == "crisis-cell" and bool(set(crisis.cells) & actor.organizations)


def crisis_rows(
    session: Session,
    caller: reading.Caller,
    dataset: Dataset,
    crisis: Crisis,
    limit: int,
    cursor: str | None = None,
) -> CrisisData:
    """A page of the rows of a crisis dataset that this crisis opens (its area and window, not
    those of the cell's other crises), as the caller's grant opens them."""
    found = CrisisData(dataset)
    perimeter = perimeter_of(crisis)
    about = dataclasses.replace(caller, crisis=crisis.id)
    # its window for the producer's operators too, whose grant is the whole dataset
    window = reading.Criteria(
        start=as_utc(crisis.starts_at), end=as_utc(crisis.ends_at), bbox=perimeter.bbox
    )
    try:
        shape = reading.layout(session, dataset)
        page = reading.read_records(session, dataset, about, window, limit, cursor)
    except (AccessDenied, LookupError, QueryError) as refused:
        log.info("situation: %s not read: %s", dataset.id, refused)
        return found
    lon_field, lat_field = reading.coordinates(shape)
    found.readable = True
    found.fields = [f for f in shape.columns if f not in (lon_field, lat_field)][:DATA_FIELDS_SHOWN]
    keys = [name for name, column in shape.columns.items() if column in shape.key]
    found.key_fields = keys or found.fields  # no primary key: the fields shown
    found.types = {f: shape.types[f] for f in found.fields}
    found.next_cursor = page.next_cursor
    for record in page.records:
        lon: Any = record.get(lon_field or "")
        lat: Any = record.get(lat_field or "")
        if perimeter.holds(lon, lat):  # the producer's grant is not limited to the area
            found.rows.append(record)
            found.points.append((float(lon), float(lat), record))
    return found


def _field_of(shape: records.Layout, column: str | None) -> str | None:
    return next((name for name, stored in shape.columns.items() if stored == column), None)


def _first(record: dict[str, Any], names: tuple[str, ...]) -> str:
    return next((str(record[n]) for n in names if record.get(n) not in (None, "")), "")


def _overlap(box: list[float], other: tuple[float, float, float, float]) -> bool:
    try:
        west, south, east, north = (float(v) for v in box)
    except (TypeError, ValueError):
        return True  # an extent the hub cannot read narrows nothing
    return west <= other[2] and other[0] <= east and south <= other[3] and other[1] <= north


def _instant(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None
