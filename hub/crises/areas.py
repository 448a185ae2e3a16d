"""A crisis's area: a GeoJSON polygon checked with shapely, and the rows inside it as SQL.

The test is exact on both stores, holes and multipolygons included, after a bounding-box
prefilter that the coordinate indexes serve: on SQLite a function registered on every connection
(`hub_in_area`) asks a shapely prepared geometry; on PostgreSQL its native `polygon` and `point`
types do (`@>`; a point on a ring counts as inside on both, as in GeoJSON's `covers`).
PostgreSQL's geometric operators compare with a tolerance of 1e-6 (about 10 cm in latitude), so
a point that close to a ring may fall on either side there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import shapely
import sqlalchemy as sa
from shapely.geometry import shape as shapely_shape
from shapely.validation import explain_validity

from hub import records
from hub.access import Zone
from hub.models import as_utc

log = logging.getLogger(__name__)

MAX_VERTICES = 100_000  # a crisis perimeter, not a coastline at full resolution
KINDS = ("Polygon", "MultiPolygon")
SQL_FUNCTION = "hub_in_area"


class AreaError(ValueError):
    """An area that is not a valid WGS84 GeoJSON Polygon or MultiPolygon, and why."""


def parse(area: Any) -> tuple[dict[str, Any], tuple[float, float, float, float]]:
    """The Polygon or MultiPolygon geometry of a GeoJSON area (a geometry, a Feature, or a
    FeatureCollection, its features' polygons merged), 2D, and its bounding box; AreaError says
    what is wrong. Polygons that overlap (two valleys drawn as two features, or as one
    MultiPolygon whose parts touch) are merged into their union; one polygon that crosses
    itself is refused: which side is inside cannot be told."""
    geometries = _geometries_of(area)
    polygons: list[Any] = []
    for geometry in geometries:
        kind = geometry.get("type")
        if kind not in KINDS:
            raise AreaError(f"the area must be a GeoJSON Polygon or MultiPolygon, not {kind!r}")
        coordinates = geometry.get("coordinates")
        parts = [coordinates] if kind == "Polygon" else coordinates
        if not isinstance(parts, list) or not parts:
            raise AreaError(f"the {kind}'s coordinates must be a non-empty list")
        polygons.extend(parts)
    flat = [
        [_ring(ring, n, r) for r, ring in enumerate(_rings(polygon, n))]
        for n, polygon in enumerate(polygons)
    ]
    vertices = sum(len(ring) for polygon in flat for ring in polygon)
    if vertices > MAX_VERTICES:
        raise AreaError(f"the area has {vertices} vertices, more than {MAX_VERTICES}")
    single = geometries[0].get("type") if len(geometries) == 1 else "MultiPolygon"
    clean = {"type": single, "coordinates": flat[0] if single == "Polygon" else flat}
    solid = shapely_shape(clean)
    if not solid.is_valid:
        solid = _merged(flat)  # parts that overlap, each valid; else AreaError
        clean = _as_geojson(solid)
    if solid.is_empty or solid.area <= 0:
        raise AreaError("the area is empty")
    west, south, east, north = solid.bounds
    return clean, (west, south, east, north)


def _merged(polygons: list[list[list[list[float]]]]) -> Any:
    """The union of polygons that are each valid, or AreaError naming the one that is not."""
    solids = []
    for number, rings in enumerate(polygons, 1):
        solid = shapely_shape({"type": "Polygon", "coordinates": rings})
        if not solid.is_valid:
            where = f"polygon {number}: " if len(polygons) > 1 else ""
            raise AreaError(f"the area is not a valid polygon: {where}{explain_validity(solid)}")
        solids.append(solid)
    return shapely.unary_union(solids)


def _as_geojson(solid: Any) -> dict[str, Any]:
    """A shapely Polygon or MultiPolygon as GeoJSON with plain lists of [lon, lat]."""
    polygons = [solid] if solid.geom_type == "Polygon" else list(solid.geoms)
    rings = [
        [[[x, y] for x, y in ring.coords] for ring in (p.exterior, *p.interiors)] for p in polygons
    ]
    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": rings[0]}
    return {"type": "MultiPolygon", "coordinates": rings}


def _geometries_of(area: Any) -> list[dict[str, Any]]:
    """The geometries a GeoJSON object holds: itself, its feature's, or its features'."""
    if not isinstance(area, dict):
        raise AreaError("the area must be a GeoJSON object")
    found = [area]
    if area.get("type") == "FeatureCollection":
        features = area.get("features")
        if not isinstance(features, list) or not features:
            raise AreaError("a FeatureCollection area must hold at least one feature")
        found = features
    geometries = []
    for item in found:
        geometry = item.get("geometry") if isinstance(item, dict) and _is_feature(item) else item
        if not isinstance(geometry, dict):
            raise AreaError(
                "the area's feature has no geometry"
                if isinstance(item, dict) and _is_feature(item)
                else "the area must be a GeoJSON object"
            )
        geometries.append(geometry)
    return geometries


def _is_feature(item: dict[str, Any]) -> bool:
    return item.get("type") == "Feature"


def _rings(polygon: Any, number: int) -> list[Any]:
    if not isinstance(polygon, list) or not polygon:
        raise AreaError(f"polygon {number + 1} must be a non-empty list of rings")
    return polygon


def _ring(ring: Any, polygon: int, number: int) -> list[list[float]]:
    """A linear ring as 2D positions, checked: numbers, WGS84 bounds, four positions, closed."""
    where = f"ring {number + 1} of polygon {polygon + 1}"
    if not isinstance(ring, list) or len(ring) < 4:
        raise AreaError(f"{where} must have at least 4 positions")
    positions = [_position(position, where) for position in ring]
    if positions[0] != positions[-1]:
        raise AreaError(f"{where} is not closed: its last position must repeat its first")
    return positions


def _position(position: Any, where: str) -> list[float]:
    if (
        not isinstance(position, list)
        or len(position) not in (2, 3)
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in position)
        or not all(math.isfinite(c) for c in position)
    ):
        raise AreaError(f"{where}: {position!r} is not a [longitude, latitude] position")
    lon, lat = float(position[0]), float(position[1])
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise AreaError(
            f"{where}: [{lon}, {lat}] is outside WGS84 longitude [-180, 180] and latitude [-90, 90]"
        )
    return [lon, lat]


def shape_text(geometry: dict[str, Any]) -> str:
    """A geometry as the compact JSON text a Zone keeps."""
    return json.dumps(geometry, separators=(",", ":"))


def covers(
    zone: Zone,
    lon: float | None,
    lat: float | None,
    moment: datetime | None,
    last: datetime | None = None,
    ongoing: bool = False,
) -> bool:
    """Whether a point (at a time; None for an untimed row) lies inside a zone and its window,
    as the SQL condition decides it (for events checked in memory): a row that lasts (until
    `last`, or `ongoing`) counts while it overlaps the window."""
    if lon is None or lat is None:
        return False
    if moment is not None and not in_window(zone, moment, last, ongoing):
        return False
    return bool(_covers_xy(_remember(zone.shape), lon, lat))


def in_window(
    zone: Zone, moment: datetime, last: datetime | None = None, ongoing: bool = False
) -> bool:
    """Whether a row from `moment` to `last` (an instant without it; no end if `ongoing`)
    overlaps the zone's window [start, end)."""
    begins = as_utc(moment)
    if begins >= zone.end:
        return False
    return ongoing or as_utc(last or begins) >= zone.start


def condition(layout: records.Layout, zone: Zone, dialect: str) -> sa.ColumnElement[bool]:
    """The rows of a record table inside a zone's area and, for a timed table, its window."""
    if not (layout.lon and layout.lat):
        return sa.false()
    parts = [records.inside(layout, zone.bbox), _exact(layout, zone, dialect)]
    if layout.time:  # a table without times (a list of sites) is limited by area only
        # The rows that overlap the window, as the records' from/to find them: an outage that
        # began before the crisis and is still ongoing is what is broken now.
        parts += records.overlapping(layout, zone.start, zone.end)
    return sa.and_(*parts)


def _exact(layout: records.Layout, zone: Zone, dialect: str) -> sa.ColumnElement[bool]:
    assert layout.lon and layout.lat
    lon, lat = layout.table.c[layout.lon], layout.table.c[layout.lat]
    if dialect == "sqlite":
        return getattr(sa.func, SQL_FUNCTION)(_remember(zone.shape), lon, lat) == 1
    if dialect == "postgresql":
        point = sa.func.point(sa.cast(lon, sa.Double), sa.cast(lat, sa.Double))
        return sa.or_(*(_pg_polygon(rings, point) for rings in _polygons(zone.shape)))
    return sa.false()  # a store the hub does not know opens nothing


def _polygons(shape: str) -> Iterator[list[list[list[float]]]]:
    geometry = json.loads(shape)
    if geometry["type"] == "Polygon":
        yield geometry["coordinates"]
    else:
        yield from geometry["coordinates"]


class _PgPolygon(sa.types.UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "POLYGON"


class _PgPath(sa.types.UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "PATH"


def _pg_polygon(
    rings: list[list[list[float]]], point: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """Inside the shell (or on it), and not strictly inside a hole."""
    shell, *holes = rings
    parts: list[sa.ColumnElement[bool]] = [
        _pg_ring(shell, _PgPolygon()).op("@>", is_comparison=True)(point)
    ]
    for hole in holes:
        inside = _pg_ring(hole, _PgPolygon()).op("@>", is_comparison=True)(point)
        # an open path through the closed ring's positions: the ring's own line
        on_ring = point.op("<@", is_comparison=True)(_pg_ring(hole, _PgPath(), opened=True))
        parts.append(sa.or_(sa.not_(inside), on_ring))
    return sa.and_(*parts)


def _pg_ring(
    ring: list[list[float]], kind: sa.types.TypeEngine[str], opened: bool = False
) -> sa.ColumnElement[str]:
    points = ",".join(f"({lon!r},{lat!r})" for lon, lat in ring)
    text = f"[{points}]" if opened else f"({points})"
    return sa.cast(sa.literal(text, sa.Text), kind)


# SQLite asks the registered function for every row inside the bbox: it finds the area by a
# short key (hashing the whole text again for each row would cost more than the test), so the
# condition registers the area in this process before the query runs.
_SHAPES: OrderedDict[str, str] = OrderedDict()
_SHAPES_KEPT = 1_024
_lock = threading.Lock()
_local = threading.local()  # GEOS prepared geometries are not shared between threads


def _remember(shape: str) -> str:
    """The key of an area, kept so that the SQLite function can find it."""
    key = hashlib.sha256(shape.encode()).hexdigest()[:32]
    with _lock:
        _SHAPES[key] = shape
        _SHAPES.move_to_end(key)
        while len(_SHAPES) > _SHAPES_KEPT:
            _SHAPES.popitem(last=False)
    return key


def _prepared(key: str) -> Any:
    """This thread's prepared geometry of the area under `key`, or None if it is unknown."""
    kept: OrderedDict[str, Any] | None = getattr(_local, "prepared", None)
    if kept is None:
        kept = _local.prepared = OrderedDict()
    found = kept.get(key)
    if found is None:
        with _lock:
            shape = _SHAPES.get(key)
        if shape is None:
            return None
        found = shapely_shape(json.loads(shape))
        shapely.prepare(found)
        kept[key] = found
        while len(kept) > 64:
            kept.popitem(last=False)
    return found


def _covers_xy(key: str, lon: float | None, lat: float | None) -> int:
    """1 if the point lies inside the area under `key` or on its boundary, else 0 (the SQLite
    function; an unknown key or a missing coordinate opens nothing)."""
    if lon is None or lat is None or not isinstance(key, str):
        return 0
    geometry = _prepared(key)
    if geometry is None:
        log.warning("area %s is not registered in this process: no row opened", key)
        return 0
    return int(shapely.intersects_xy(geometry, float(lon), float(lat)))


def install(dbapi_connection: Any) -> None:
    """Register the area test on a new SQLite connection."""
    dbapi_connection.create_function(SQL_FUNCTION, 3, _covers_xy, deterministic=True)
