"""A feed client's server-side filters: what it asked for, checked once, tested on every event.

Spatial filters are exact: an event matches `bbox` or `within` when its geometry touches the
area (a point inside it or on its edge, an alert polygon that overlaps it), after a test of its
bounding box. Events without a geometry (dataset changes) never match a spatial filter.
`min_severity` applies to alerts: an alert without a CAP severity counts as `Unknown`, and the
other events (observations, dataset changes, crises) carry none and pass it — combine it with
`types=alert` for alerts only. `status` (default `Actual`) applies to alerts and to crises (an
exercise's events are `Exercise`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import box
from shapely.geometry import shape as shapely_shape

from hub import events, geo
from hub.crises import areas

TYPES = tuple(kind for kind in events.KINDS if kind not in events.INTERNAL)
STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
STATUSED = ("alert", "crisis")  # the events `status` filters (CAP's, and an exercise's)
MAX_VALUES = 200  # datasets or themes one stream may name
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class FilterError(ValueError):
    """A malformed filter, and why (the API answers 400 with it)."""


@dataclass(frozen=True)
class Area:
    """An area to match events against: its bounding boxes (two across the antimeridian) and
    its prepared shapely geometry."""

    boxes: tuple[tuple[float, float, float, float], ...]
    geometry: Any
    crisis: str = ""  # `within=crisis:<id>`: the crisis it came from
    rectangular: bool = False  # the area is exactly its boxes (a `bbox` filter)

    def touches(self, event: events.FeedEvent, shape: Any) -> bool:
        """Whether an event (of bbox `event.bbox`, shapely geometry `shape`, or a Shape that
        makes it when needed) touches the area."""
        if event.bbox is None:
            return False
        west, south, east, north = event.bbox
        for b in self.boxes:  # a loop, not any(): this runs for every candidate client
            if west <= b[2] and east >= b[0] and south <= b[3] and north >= b[1]:
                break
        else:
            return False
        lazy = isinstance(shape, Shape)
        if self.rectangular and (shape.point if lazy else is_point(event)):
            return True  # a point inside a rectangle or on its edge: shapely would agree
        made = shape.get() if lazy else shape
        if made is None:
            return False
        return bool(self.geometry.intersects(made))


class Shape:
    """An event's shapely geometry, made on first use (an event that meets only rectangles
    with its point never needs it)."""

    __slots__ = ("event", "made", "point_", "shape")

    def __init__(self, event: events.FeedEvent) -> None:
        self.event = event
        self.made = False
        self.shape: Any = None
        self.point_: bool | None = None

    @property
    def point(self) -> bool:
        """Whether the event's geometry is a plain Point (decided once)."""
        if self.point_ is None:
            self.point_ = is_point(self.event)
        return self.point_

    def get(self) -> Any:
        """The geometry, or None (absent or not valid GeoJSON)."""
        if not self.made:
            self.shape, self.made = event_shape(self.event), True
        return self.shape


def is_point(event: events.FeedEvent) -> bool:
    """Whether an event's geometry is a GeoJSON Point of plain numbers (which shapely takes)."""
    geometry = event.data.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return False
    coordinates = geometry.get("coordinates")
    return (
        isinstance(coordinates, list)
        and len(coordinates) in (2, 3)
        and all(type(c) in (int, float) for c in coordinates)
    )


@dataclass(frozen=True)
class Filters:
    """What a client wants from the feed (None or empty: no restriction)."""

    types: frozenset[str] = frozenset(TYPES)
    themes: frozenset[str] = frozenset()
    datasets: frozenset[str] = frozenset()
    areas: tuple[Area, ...] = ()  # bbox and within: an event must touch every one
    min_severity: int | None = None
    statuses: frozenset[str] = frozenset({"Actual"})

    def matches(self, event: events.FeedEvent, shape: Any) -> bool:
        """Whether `event` (its geometry as shapely `shape`, None, or a Shape) passes these
        filters."""
        if event.kind not in self.types:
            return False
        if self.themes and event.theme not in self.themes:
            return False
        if self.datasets and event.dataset not in self.datasets:
            return False
        if event.kind in STATUSED and event.status not in self.statuses:
            return False
        minimum = self.min_severity
        if event.kind == "alert" and minimum is not None and (event.severity or 0) < minimum:
            return False
        for area in self.areas:  # noqa: SIM110 — no generator: this runs per candidate client
            if not area.touches(event, shape):
                return False
        return True


def event_shape(event: events.FeedEvent) -> Any:
    """An event's geometry as a shapely geometry, or None (absent or not valid GeoJSON)."""
    geometry = event.data.get("geometry")
    if not isinstance(geometry, dict):
        return None
    try:
        return shapely_shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.ShapelyError):
        return None


def values(raw: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """A filter's values: repeated parameters, each a comma-separated list, blanks dropped."""
    found = [part.strip() for value in raw.get(name, ()) for part in str(value).split(",")]
    return [value for value in found if value]


def parse(
    raw: Mapping[str, Sequence[str]], within: tuple[dict[str, Any], str] | None = None
) -> Filters:
    """Filters from request parameters (`within`: a checked area and its crisis id, if any);
    FilterError says what is wrong."""
    areas_: list[Area] = []
    boxes = [str(value) for value in raw.get("bbox", ())]
    if len(boxes) > 1:
        raise FilterError("give one bbox (minlon,minlat,maxlon,maxlat); use `within` for more")
    if boxes:
        areas_.append(bbox_area(boxes[0]))
    if within is not None:
        areas_.append(polygon_area(*within))
    return Filters(
        types=_types(values(raw, "types")),
        themes=_names(values(raw, "theme"), "theme"),
        datasets=_names(values(raw, "dataset"), "dataset"),
        areas=tuple(areas_),
        min_severity=_severity(values(raw, "min_severity")),
        statuses=_statuses(values(raw, "status")),
    )


def _types(named: list[str]) -> frozenset[str]:
    unknown = sorted(set(named) - set(TYPES))
    if unknown:
        raise FilterError(f"unknown event type {unknown[0]!r}: types are {', '.join(TYPES)}")
    return frozenset(named or TYPES)


def _names(named: list[str], what: str) -> frozenset[str]:
    if len(named) > MAX_VALUES:
        raise FilterError(f"a stream names at most {MAX_VALUES} values of {what}")
    for name in named:
        if not _NAME.match(name):
            raise FilterError(f"{what} {name[:120]!r} is not a {what} id")
    return frozenset(named)


def _severity(named: list[str]) -> int | None:
    if not named:
        return None
    if len(named) > 1:
        raise FilterError("min_severity takes one value")
    spelled = {level.lower(): rank for rank, level in enumerate(events.SEVERITIES)}
    rank = spelled.get(named[0].lower())
    if rank is None:
        levels = " < ".join(events.SEVERITIES)
        raise FilterError(f"min_severity {named[0][:60]!r} is not a CAP severity ({levels})")
    return rank


def _statuses(named: list[str]) -> frozenset[str]:
    if not named:
        return frozenset({"Actual"})
    if "all" in named:
        return frozenset(STATUSES)
    spelled = {status.lower(): status for status in STATUSES}
    chosen = set()
    for status in named:
        if status.lower() not in spelled:
            raise FilterError(
                f"status {status[:60]!r} is not a CAP status ({', '.join(STATUSES)}, or all)"
            )
        chosen.add(spelled[status.lower()])
    return frozenset(chosen)


def bbox_area(text: str) -> Area:
    """A `minlon,minlat,maxlon,maxlat` box as an area (split in two across the antimeridian)."""
    try:
        west, south, east, north = geo.parse_bbox(text)
    except geo.BBoxError as bad:
        raise FilterError(str(bad)) from None
    parts = (
        [(west, south, east, north)]
        if west <= east
        else [
            (west, south, 180.0, north),
            (-180.0, south, east, north),
        ]
    )
    geometry = shapely.union_all([box(*part) for part in parts])
    shapely.prepare(geometry)
    # A box of no width or height is no polygon to shapely: leave those to it.
    solid = all(part[0] < part[2] and part[1] < part[3] for part in parts)
    return Area(tuple(parts), geometry, rectangular=solid)


def moved(filters: Filters, crisis: str, area: Any) -> Filters | None:
    """The filters with the area of `within=crisis:<id>` redrawn to the crisis's new area
    (None: they have no such area, or the new one cannot be read)."""
    if not crisis or not any(a.crisis == crisis for a in filters.areas):
        return None
    try:
        redrawn = polygon_area(area, crisis)
    except FilterError:
        return None
    areas_now = tuple(redrawn if a.crisis == crisis else a for a in filters.areas)
    return dataclasses.replace(filters, areas=areas_now)


def polygon_area(area: dict[str, Any], crisis: str = "") -> Area:
    """A GeoJSON Polygon or MultiPolygon (checked by hub.crises.areas) as an area."""
    try:
        geometry, bounds = areas.parse(area)
    except areas.AreaError as bad:
        raise FilterError(f"within: {bad}") from None
    solid = shapely_shape(geometry)
    shapely.prepare(solid)
    return Area((bounds,), solid, crisis)
