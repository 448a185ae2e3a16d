"""CAP areas as GeoJSON: `<polygon>` and `<circle>` texts into WGS84 lon/lat geometry.

CAP writes a polygon as space-separated `lat,lon` pairs (WGS84, first pair repeated last) and a
circle as `lat,lon radius` (radius in km), the same in 1.2, 1.1 and 1.0. GeoJSON wants
`[lon, lat]`: every vertex is swapped here. Vertices keep the sender's order (vertex n of the
file is position n of the ring), so a stored area can be checked against the alert it came from.

An edge is taken the short way round: a step of more than 180° in longitude crosses the
antimeridian. A ring that crosses it is cut there into pieces that each stay in -180..180, as
RFC 7946 §3.1.9 asks (its MultiPolygon is then found by bbox and shape tests on either side), and
its centroid is taken on the unbroken ring. Rings that do not cross it are kept as written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import shapely
from pyproj import Geod
from shapely.geometry.polygon import orient

CIRCLE_VERTICES = 64
CIRCLE_DECIMALS = 7  # 1e-7 degree is about 1 cm: finer digits of a computed circle are noise
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
GEOD = Geod(ellps="WGS84")

Position = list[float]  # [lon, lat]


class AreaError(ValueError):
    """A polygon or circle whose text is not what CAP prescribes."""


@dataclass(frozen=True)
class Shape:
    """One `<polygon>` or `<circle>` of an info block, and how to name it in messages."""

    kind: str  # polygon | circle
    text: str
    label: str  # "area 1 ('Aldabra area'), polygon 1"


@dataclass(frozen=True)
class Ring:
    """A closed ring: its `[lon, lat]` positions as an array and as GeoJSON text."""

    points: np.ndarray  # shape (n, 2), lon then lat, last row = first row
    text: str  # "[[lon,lat],…]"


@dataclass(frozen=True)
class Area:
    """An info block's shapes as one GeoJSON geometry, and a representative point."""

    geometry: str | None  # GeoJSON text: Polygon or MultiPolygon; None without shapes
    longitude: float | None
    latitude: float | None


def area_of(shapes: Sequence[Shape]) -> Area:
    """Shapes as one GeoJSON geometry; the point: first polygon's centroid or circle's centre."""
    rings: list[Ring] = []
    point: Position | None = None
    for shape in shapes:
        if shape.kind == "polygon":
            ring = parse_polygon(shape.text, shape.label)
            rings.append(ring)
            point = point or centroid(ring.points)
        else:
            centre, radius = parse_circle(shape.text, shape.label)
            point = point or centre
            if radius > 0:  # a zero radius marks a point: it has a centre but no surface
                rings.append(circle_ring(centre, radius))
    if point is None:
        return Area(None, None, None)
    return Area(geometry_text(rings), point[0], point[1])


def parse_polygon(text: str, label: str) -> Ring:
    """The closed ring a CAP polygon text gives; vectorised, as polygons run to 40 000 pairs."""
    tokens = pl.Series(text.split(), dtype=pl.Utf8)
    if tokens.is_empty():
        raise AreaError(f"{label} is empty")
    halves = tokens.str.split_exact(",", 1).struct.unnest()
    frame = pl.DataFrame(
        {
            "lon": halves[:, 1].cast(pl.Float64, strict=False),
            "lat": halves[:, 0].cast(pl.Float64, strict=False),
        }
    )
    bad = frame.select(
        (tokens.str.count_matches(",", literal=True) != 1)
        | ~(pl.col("lat").abs() <= 90).fill_null(False)  # NaN and null fail too
        | ~(pl.col("lon").abs() <= 180).fill_null(False)
    ).to_series()
    if bad.any():
        _refuse(tokens, int(bad.arg_true()[0]), label)
    points = frame.to_numpy()
    pairs = frame.select(pl.format("[{},{}]", "lon", "lat")).to_series().to_list()
    if not np.array_equal(points[0], points[-1]):
        points = np.vstack([points, points[:1]])  # CAP repeats the first pair last; some forget
        pairs.append(pairs[0])
    if not _has_three_distinct(points):
        raise AreaError(f"{label} has {len(tokens)} vertices but not 3 distinct ones: no surface")
    return Ring(points, f"[{','.join(pairs)}]")


def _refuse(tokens: pl.Series, index: int, label: str) -> None:
    """Raise the AreaError that the vertex at `index` deserves."""
    token, where = tokens[index], f"{label}, vertex {index + 1}"
    _position(token, where)  # raises with the precise reason
    raise AreaError(f"{where} {token!r} is not a 'lat,lon' pair of numbers")


def _has_three_distinct(points: np.ndarray) -> bool:
    """Whether a ring has three distinct vertices, without sorting 40 000 of them."""
    first = (points != points[0]).any(axis=1)
    others = np.flatnonzero(first)
    return bool(len(others)) and bool((first & (points != points[others[0]]).any(axis=1)).any())


def parse_circle(text: str, label: str) -> tuple[Position, float]:
    """The centre (`[lon, lat]`) and radius (km) of a CAP circle text."""
    parts = text.split()
    if len(parts) != 2:
        raise AreaError(f"{label} {text.strip()!r} is not a 'lat,lon radius' circle")
    centre = _position(parts[0], f"{label}, centre")
    if not NUMBER.fullmatch(parts[1]):
        raise AreaError(f"{label}: radius {parts[1]!r} is not a number of kilometres")
    return centre, float(parts[1])


def _position(token: str, label: str) -> Position:
    """One `lat,lon` pair as `[lon, lat]`, checked."""
    lat_text, comma, lon_text = token.partition(",")
    if not comma or "," in lon_text:
        raise AreaError(f"{label} {token!r} is not a 'lat,lon' pair")
    if not (NUMBER.fullmatch(lat_text) and NUMBER.fullmatch(lon_text)):
        raise AreaError(f"{label} {token!r} is not a pair of numbers")
    lat, lon = float(lat_text), float(lon_text)
    if not -90 <= lat <= 90:
        swapped = " (lon,lat written instead of lat,lon?)" if -90 <= lon <= 90 else ""
        raise AreaError(f"{label} {token!r}: latitude {lat:g} is outside -90..90{swapped}")
    if not -180 <= lon <= 180:
        raise AreaError(f"{label} {token!r}: longitude {lon:g} is outside -180..180")
    return [lon, lat]


def centroid(points: np.ndarray) -> Position:
    """The area centroid of a closed ring in lon/lat degrees (its vertex mean if it is flat)."""
    points = unwrapped(points)  # across the antimeridian, a planar mean would land near 0°
    origin = points[0]
    x, y = (points - origin).T  # relative to a vertex: keeps the products' precision
    cross = x[:-1] * y[1:] - x[1:] * y[:-1]
    double_area = cross.sum()
    if abs(double_area) < 1e-12:
        mean = points[:-1].mean(axis=0)
        return [_wrapped(float(mean[0])), float(mean[1])]
    cx = ((x[:-1] + x[1:]) * cross).sum() / (3 * double_area)
    cy = ((y[:-1] + y[1:]) * cross).sum() / (3 * double_area)
    return [_wrapped(float(origin[0] + cx)), float(origin[1] + cy)]


def unwrapped(points: np.ndarray) -> np.ndarray:
    """The ring with its longitudes continuous from the first vertex (no step over 180°), or
    the ring itself when it has no such step or winds round a pole."""
    steps = np.diff(points[:, 0])
    if not (np.abs(steps) > 180).any():
        return points
    # Whole turns only: a vertex moved by exactly ±360 comes back exactly when cut.
    turns = np.concatenate([[0.0], np.cumsum(-np.round(steps / 360.0))])
    if turns[-1] != 0:
        return points  # round a pole: no cut along the antimeridian would close it
    return np.column_stack([points[:, 0] + 360.0 * turns, points[:, 1]])


def _wrapped(lon: float) -> float:
    """A longitude brought back into -180..180 (one within it is left as it is)."""
    return lon - 360.0 if lon > 180 else lon + 360.0 if lon < -180 else lon


def circle_ring(centre: Position, radius_km: float) -> Ring:
    """A closed, counter-clockwise ring of CIRCLE_VERTICES points on the WGS84 ellipsoid."""
    n = CIRCLE_VERTICES
    azimuths = np.linspace(360.0, 0.0, n, endpoint=False)  # decreasing: counter-clockwise
    lons, lats, _ = GEOD.fwd(
        np.full(n, centre[0]), np.full(n, centre[1]), azimuths, np.full(n, radius_km * 1000.0)
    )
    points = np.round(np.column_stack([lons, lats]), CIRCLE_DECIMALS)
    points = np.vstack([points, points[:1]])
    pairs = ",".join(f"[{lon!r},{lat!r}]" for lon, lat in points.tolist())
    return Ring(points, f"[{pairs}]")


def split_at_antimeridian(ring: Ring) -> list[Ring]:
    """The ring's pieces on each side of the antimeridian; the ring alone if it does not cross."""
    points = unwrapped(ring.points)
    if points is ring.points:
        return [ring]
    polygon = shapely.Polygon(points)
    pieces: list[Ring] = []
    for shift in (-360.0, 0.0, 360.0):  # the unbroken ring lies within one turn of its start
        clipped = shapely.clip_by_rect(polygon, shift - 180, -90, shift + 180, 90)
        for part in shapely.get_parts(clipped):
            if isinstance(part, shapely.Polygon) and part.area > 0:
                # Counter-clockwise, as RFC 7946 §3.1.6 asks: clipping turns rings clockwise.
                moved = np.asarray(orient(part).exterior.coords) - [shift, 0.0]
                pairs = ",".join(f"[{lon!r},{lat!r}]" for lon, lat in moved.tolist())
                pieces.append(Ring(moved, f"[{pairs}]"))
    return pieces or [ring]


def geometry_text(rings: list[Ring]) -> str | None:
    """Rings as compact GeoJSON text: one Polygon, or a MultiPolygon of several (a ring across
    the antimeridian counts as its pieces)."""
    rings = [piece for ring in rings for piece in split_at_antimeridian(ring)]
    if not rings:
        return None
    if len(rings) == 1:
        return f'{{"type":"Polygon","coordinates":[{rings[0].text}]}}'
    polygons = ",".join(f"[{ring.text}]" for ring in rings)
    return f'{{"type":"MultiPolygon","coordinates":[{polygons}]}}'
