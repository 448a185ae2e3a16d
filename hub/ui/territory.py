"""The territory's outline (GET /territory.geojson) and the settings the pages' maps draw with."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from threading import Lock
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from hub import access
from hub.api.deps import SessionDep
from hub.config import get_settings
from hub.models import Dataset

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

MEDIA_TYPE = "application/geo+json"
GEOMETRIES = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}  # how deep positions sit in each geometry's `coordinates`
# The old (2008) GeoJSON `crs` member: only names of WGS84 longitude/latitude are accepted.
WGS84_NAMES = {"urn:ogc:def:crs:ogc:1.3:crs84", "urn:ogc:def:crs:epsg::4326", "epsg:4326"}
Point = tuple[float, float]
Box = list[float]  # west, south, east, north
# An extent wider than this (a country's, a continent's, the globe's) says nothing of where the
# territory is: one global dataset made the hull the whole world, and the map no reference.
LOCAL_SPAN = 5.0  # degrees of longitude or latitude

_cache: dict[Any, dict[str, Any]] = {}  # one entry: the last file or catalogue state, its answer
_cache_lock = Lock()


class TerritoryFileError(ValueError):
    """HUB_TERRITORY_FILE is no GeoJSON in WGS84 longitude/latitude."""


def map_settings() -> dict[str, str]:
    """What a page's maps need from the settings: the tile URL template and its credit line."""
    settings = get_settings()
    return {"tiles": settings.tiles_url, "attribution": settings.tiles_attribution}


@router.get("/territory.geojson")
def territory(session: SessionDep) -> JSONResponse:
    """The territory's outline: HUB_TERRITORY_FILE, or the hull of the open datasets' extents."""
    path = get_settings().territory_file
    try:
        body = outline_from_file(path) if path else computed_outline(session)
    except TerritoryFileError as exc:
        log.error("HUB_TERRITORY_FILE %s: %s", path, exc)
        return JSONResponse({"detail": f"HUB_TERRITORY_FILE is not usable: {exc}"}, 500)
    # Maps ask for it on every page: a few minutes' reuse spares the query.
    headers = {"Cache-Control": "public, max-age=300"}
    return JSONResponse(body, media_type=MEDIA_TYPE, headers=headers)


def outline_from_file(path: Path) -> dict[str, Any]:
    """The territory file, checked (read again only when it changes)."""
    try:
        stat = path.stat()
        key = ("file", str(path), stat.st_mtime_ns, stat.st_size)
        if (cached := _cache.get(key)) is not None:
            return cached
        document = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        raise TerritoryFileError(f"cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise TerritoryFileError(f"is not JSON ({exc})") from None
    check_geojson(document)
    return _remember(key, document)


def check_geojson(document: Any) -> None:
    """Raise TerritoryFileError unless `document` is a GeoJSON FeatureCollection, Feature or
    geometry whose positions are WGS84 longitude/latitude."""
    if not isinstance(document, dict):
        raise TerritoryFileError("is not a GeoJSON object")
    crs = document.get("crs")
    if crs is not None:
        name = (
            str(((crs or {}).get("properties") or {}).get("name", ""))
            if isinstance(crs, dict)
            else ""
        )
        if name.lower() not in WGS84_NAMES:
            raise TerritoryFileError(
                f"declares the CRS {name or json.dumps(crs)}: GeoJSON is in WGS84 (EPSG:4326)"
            )
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise TerritoryFileError("is a FeatureCollection without a `features` list")
        for number, feature in enumerate(features, 1):
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                raise TerritoryFileError(f"feature {number} is not a GeoJSON Feature")
            _check_geometry(feature.get("geometry"), f"feature {number}")
    elif kind == "Feature":
        _check_geometry(document.get("geometry"), "the feature")
    elif kind in GEOMETRIES or kind == "GeometryCollection":
        _check_geometry(document, "the geometry")
    else:
        raise TerritoryFileError(
            f"has type {kind!r}: a FeatureCollection, a Feature or a geometry is expected"
        )


def _check_geometry(geometry: Any, where: str) -> None:
    if geometry is None:
        return  # a feature without a place is valid GeoJSON; it just draws nothing
    if not isinstance(geometry, dict):
        raise TerritoryFileError(f"{where}: the geometry is not an object")
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        parts = geometry.get("geometries")
        if not isinstance(parts, list):
            raise TerritoryFileError(f"{where}: a GeometryCollection without `geometries`")
        for part in parts:
            _check_geometry(part, where)
        return
    if kind not in GEOMETRIES:
        raise TerritoryFileError(f"{where}: {kind!r} is no GeoJSON geometry type")
    try:
        positions = list(_positions(geometry.get("coordinates"), GEOMETRIES[kind]))
    except (TypeError, ValueError):
        raise TerritoryFileError(f"{where}: the {kind}'s coordinates are malformed") from None
    for lon, lat in positions:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise TerritoryFileError(
                f"{where}: position ({lon:g}, {lat:g}) is no longitude/latitude; "
                "GeoJSON is in WGS84 (EPSG:4326): reproject the file"
            )


def _positions(coordinates: Any, depth: int) -> Iterator[Point]:
    """The positions of a geometry's coordinates nested `depth` lists deep."""
    if depth == 0:
        if not isinstance(coordinates, list) or not 2 <= len(coordinates) <= 4:
            raise ValueError("a position is a list of two to four numbers")
        lon, lat = coordinates[0], coordinates[1]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in coordinates):
            raise ValueError("a position holds numbers only")
        yield float(lon), float(lat)
        return
    if not isinstance(coordinates, list):
        raise ValueError("coordinates nest in lists")
    for part in coordinates:
        yield from _positions(part, depth - 1)


def computed_outline(session: Session) -> dict[str, Any]:
    """A Feature around the open datasets' extents: their convex hull (a line or a point when
    they are aligned or one place), `computed` in its properties; no geometry when none has one."""
    closed = access.closed_open_ids(session)  # open once, closed by a charter version since
    is_open = (col(Dataset.access) == "open") & col(Dataset.id).not_in(closed)
    state = session.exec(
        select(func.count(), func.max(Dataset.modified_at), func.max(Dataset.published_at)).where(
            is_open
        )
    ).one()
    # Per database (tests run many), per state of the open catalogue: a harvest changes it.
    key = ("catalogue", str(session.get_bind().engine.url), *state, *sorted(closed))
    if (cached := _cache.get(key)) is not None:
        return cached
    stored = session.exec(select(Dataset.bbox).where(is_open, col(Dataset.bbox).is_not(None)))
    boxes = territory_boxes([list(box) for box in stored if box is not None and _usable(box)])
    corners = {(x, y) for w, s, e, n in boxes for x in (w, e) for y in (s, n)}
    hull = convex_hull(corners)
    geometry: dict[str, Any] | None
    if len(hull) >= 3:
        geometry = {"type": "Polygon", "coordinates": [[*map(list, hull), list(hull[0])]]}
    elif len(hull) == 2:
        geometry = {"type": "LineString", "coordinates": [list(p) for p in hull]}
    elif hull:
        geometry = {"type": "Point", "coordinates": list(hull[0])}
    else:
        geometry = None
    feature: dict[str, Any] = {
        "type": "Feature",
        "properties": {
            "name": "Territory (computed from the open datasets' extents)",
            "computed": True,
            "datasets": len(boxes),
        },
        "geometry": geometry,
    }
    if boxes:
        feature["bbox"] = [
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        ]
    return _remember(key, feature)


def territory_boxes(boxes: list[Box]) -> list[Box]:
    """The extents the territory is drawn from: the local ones that meet the local extent most
    others meet (where most open datasets are about; the widest of equals); every extent when
    none is local."""
    local = [b for b in boxes if b[2] - b[0] <= LOCAL_SPAN and b[3] - b[1] <= LOCAL_SPAN]
    if not local:
        return boxes

    def met_by(core: Box) -> list[Box]:
        return [b for b in local if _meet(b, core)]

    core = max(local, key=lambda b: (len(met_by(b)), (b[2] - b[0]) * (b[3] - b[1]), b))
    return met_by(core)


def _meet(box: Box, other: Box) -> bool:
    return box[0] <= other[2] and other[0] <= box[2] and box[1] <= other[3] and other[1] <= box[3]


def outline_box(session: Session) -> Box | None:
    """The territory's bounding box (of HUB_TERRITORY_FILE, else of the computed outline), or
    None when it has no place; an unusable file gives None here (the outline's URL says why)."""
    path = get_settings().territory_file
    try:
        document = outline_from_file(path) if path else computed_outline(session)
    except TerritoryFileError:
        return None
    points = list(_points_of(document))
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [min(xs), min(ys), max(xs), max(ys)]


def _points_of(document: dict[str, Any]) -> Iterator[Point]:
    """Every position of a checked GeoJSON object (a collection, a feature or a geometry)."""
    kind = document.get("type")
    if kind == "FeatureCollection":
        for feature in document.get("features", []):
            yield from _points_of(feature)
    elif kind == "Feature":
        if document.get("geometry"):
            yield from _points_of(document["geometry"])
    elif kind == "GeometryCollection":
        for part in document.get("geometries", []):
            yield from _points_of(part)
    elif kind in GEOMETRIES:
        yield from _positions(document.get("coordinates"), GEOMETRIES[kind])


def example_area(session: Session) -> str:
    """An area to show as an example of `west,south,east,north`: the territory's box, rounded
    outward to two decimals; "" when the territory has no place."""
    box = outline_box(session)
    if box is None:
        return ""
    # rounded to 1e-6 first, so that 0.29 * 100 (28.999999999999996) stays 0.29
    west, south = (math.floor(round(v * 100, 6)) / 100 for v in box[:2])
    east, north = (math.ceil(round(v * 100, 6)) / 100 for v in box[2:])
    return ",".join(f"{v:g}" for v in (west, south, east, north))


def _usable(box: Any) -> bool:
    """A [west, south, east, north] extent in longitude/latitude (grids in 0–360° are not)."""
    if not isinstance(box, list) or len(box) != 4:
        return False
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in box):
        return False
    west, south, east, north = box
    return -180 <= west <= east <= 180 and -90 <= south <= north <= 90


def convex_hull(points: Iterable[Point]) -> list[Point]:
    """The convex hull, counter-clockwise from the lowest-leftmost point (Andrew's monotone
    chain); aligned points give their two ends, one point itself."""
    ordered = sorted(set(points))
    if len(ordered) <= 2:
        return ordered

    def turn(o: Point, a: Point, b: Point) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[Point] = []
    for p in ordered:
        while len(lower) >= 2 and turn(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(ordered):
        while len(upper) >= 2 and turn(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    return hull if len(hull) >= 3 else [ordered[0], ordered[-1]]


def _remember(key: Any, answer: dict[str, Any]) -> dict[str, Any]:
    with _cache_lock:  # one entry: the newest state replaces the last
        _cache.clear()
        _cache[key] = answer
    return answer
