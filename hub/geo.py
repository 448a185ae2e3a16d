"""Coordinate transforms to WGS84 and bounding boxes, with pyproj."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import polars as pl
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

WGS84 = "EPSG:4326"

Coordinates = Sequence[float | None] | pl.Series


class GeoError(ValueError):
    """A coordinate, CRS or bounding box the hub cannot use."""


class UnknownCRSError(GeoError):
    """A CRS that pyproj does not know."""


class OutOfAreaError(GeoError):
    """Points that lie outside the area of use of their CRS."""


class BBoxError(GeoError):
    """A malformed `minlon,minlat,maxlon,maxlat` bounding box."""


class BBox(NamedTuple):
    """A WGS84 bounding box; minlon > maxlon means it crosses the antimeridian."""

    minlon: float
    minlat: float
    maxlon: float
    maxlat: float


def parse_crs(crs: str | int) -> CRS:
    """The pyproj CRS for an EPSG code (`EPSG:2154`, `2154`) or any pyproj input."""
    try:
        return _crs_from(_crs_key(crs))
    except CRSError as exc:
        raise UnknownCRSError(
            f"unknown CRS {str(crs)!r}: pyproj does not recognise it "
            "(write an EPSG code such as 'EPSG:2154' for Lambert-93 or 'EPSG:4326' for WGS84)"
        ) from exc


def _crs_key(crs: str | int) -> str:
    text = str(crs).strip()
    # A bare EPSG number is how many operators write it.
    return f"EPSG:{text}" if text.isdigit() else text


@lru_cache(maxsize=64)
def _crs_from(key: str) -> CRS:
    return CRS.from_user_input(key)


@lru_cache(maxsize=64)
def _transformer_to_wgs84(key: str) -> Transformer:
    # Transformers are thread-safe since pyproj 3.1 and costly to build: one per CRS.
    return Transformer.from_crs(_crs_from(key), WGS84, always_xy=True)


def to_wgs84(
    xs: Coordinates, ys: Coordinates, crs: str | int, *, strict: bool = True
) -> tuple[pl.Series, pl.Series]:
    """Transform x/y (easting/northing, or lon/lat) in `crs` to WGS84 lon/lat Float64 series.

    Missing (null or NaN) inputs come back null. A point outside the CRS's area of use raises
    OutOfAreaError when `strict`, otherwise it comes back null so the caller can report it.
    """
    source = parse_crs(crs)
    x = _as_series(xs, "x")
    y = _as_series(ys, "y")
    if x.len() != y.len():
        raise GeoError(f"got {x.len()} x values but {y.len()} y values")
    # pyproj transforms a whole buffer in C; array('d') keeps numpy out of the dependencies.
    xbuf = array("d", x.fill_null(math.nan).to_list())
    ybuf = array("d", y.fill_null(math.nan).to_list())
    lons, lats = _transformer_to_wgs84(_crs_key(crs)).transform(xbuf, ybuf, errcheck=False)
    frame = pl.DataFrame(
        {
            "x": x,
            "y": y,
            "lon": pl.Series(lons, dtype=pl.Float64),
            "lat": pl.Series(lats, dtype=pl.Float64),
        }
    ).with_columns(
        given=pl.col("x").is_not_null() & pl.col("y").is_not_null(),
        inside=_inside_area(source),
    )
    outside = frame.filter(pl.col("given") & ~pl.col("inside"))
    if strict and outside.height:
        first = outside.row(0, named=True)
        raise OutOfAreaError(
            f"{outside.height} point(s) lie outside the area of use of {_name(source)} "
            f"(first: x={first['x']}, y={first['y']})"
        )
    keep = pl.col("given") & pl.col("inside")
    result = frame.select(
        lon=pl.when(keep).then(pl.col("lon")), lat=pl.when(keep).then(pl.col("lat"))
    )
    return result["lon"], result["lat"]


def outside_area(xs: Coordinates, ys: Coordinates, crs: str | int) -> pl.Series:
    """A boolean mask of the given points that lie outside the area of use of `crs`."""
    lons, _ = to_wgs84(xs, ys, crs, strict=False)
    x = _as_series(xs, "x")
    y = _as_series(ys, "y")
    return (lons.is_null() & x.is_not_null() & y.is_not_null()).alias("outside")


def _as_series(values: Coordinates, name: str) -> pl.Series:
    """Coordinates as a Float64 series with NaN turned into null."""
    series = (
        values
        if isinstance(values, pl.Series)
        else pl.Series(name, list(values), dtype=pl.Float64, strict=False)
    )
    series = series.cast(pl.Float64, strict=False)
    return series.fill_nan(None)


def area_of_use(crs: str | int) -> BBox:
    """The WGS84 bounding box where `crs` is meant to be used (the world if undeclared)."""
    return _area_box(parse_crs(crs)) or BBox(-180.0, -90.0, 180.0, 90.0)


def _area_box(crs: CRS) -> BBox | None:
    area = crs.area_of_use
    return None if area is None else BBox(area.west, area.south, area.east, area.north)


def _inside_area(crs: CRS) -> pl.Expr:
    """Whether `lon`/`lat` are finite, on the globe and inside the CRS's area of use."""
    lon, lat = pl.col("lon"), pl.col("lat")
    valid = lon.is_finite() & lat.is_finite() & (lon.abs() <= 180.0) & (lat.abs() <= 90.0)
    box = _area_box(crs)
    if box is None:  # custom PROJ strings declare no area: only the globe bounds apply
        return valid.fill_null(False)
    # Areas of use are published rounded to 0.01°; allow that much slack at the border.
    slack = 0.01
    padded = BBox(box.minlon - slack, box.minlat - slack, box.maxlon + slack, box.maxlat + slack)
    return (valid & _contains(padded, lon, lat)).fill_null(False)


def _name(crs: CRS) -> str:
    code = crs.to_epsg()
    return f"EPSG:{code} ({crs.name})" if code else crs.name


def bbox_contains(bbox: BBox, lon: float, lat: float) -> bool:
    """Whether the WGS84 point lies inside `bbox` (borders included)."""
    frame = pl.DataFrame({"lon": [float(lon)], "lat": [float(lat)]})
    return bool(frame.select(_contains(bbox, pl.col("lon"), pl.col("lat")))[0, 0])


def bbox_mask(bbox: BBox, lons: Coordinates, lats: Coordinates) -> pl.Series:
    """A boolean mask of the WGS84 points inside `bbox`; missing points are outside."""
    frame = pl.DataFrame({"lon": _as_series(lons, "lon"), "lat": _as_series(lats, "lat")})
    return frame.select(inside=_contains(bbox, pl.col("lon"), pl.col("lat")).fill_null(False))[
        "inside"
    ]


def _contains(bbox: BBox, lon: pl.Expr, lat: pl.Expr) -> pl.Expr:
    in_lat = (lat >= bbox.minlat) & (lat <= bbox.maxlat)
    if bbox.minlon <= bbox.maxlon:
        in_lon = (lon >= bbox.minlon) & (lon <= bbox.maxlon)
    else:  # crosses the antimeridian: the box is the union of two longitude ranges
        in_lon = (lon >= bbox.minlon) | (lon <= bbox.maxlon)
    return in_lat & in_lon


def parse_bbox(text: str) -> BBox:
    """Parse a `minlon,minlat,maxlon,maxlat` WGS84 bounding box, checking its ranges."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4:
        raise BBoxError(
            f"bbox {text!r} must have 4 comma-separated numbers: minlon,minlat,maxlon,maxlat"
        )
    try:
        minlon, minlat, maxlon, maxlat = (float(p) for p in parts)
    except ValueError as exc:
        raise BBoxError(f"bbox {text!r} must contain only numbers: {exc}") from exc
    if not all(math.isfinite(v) for v in (minlon, minlat, maxlon, maxlat)):
        raise BBoxError(f"bbox {text!r} must contain finite numbers")
    for name, lon in (("minlon", minlon), ("maxlon", maxlon)):
        if not -180.0 <= lon <= 180.0:
            raise BBoxError(f"bbox {name} {lon} is outside [-180, 180]")
    for name, lat in (("minlat", minlat), ("maxlat", maxlat)):
        if not -90.0 <= lat <= 90.0:
            raise BBoxError(f"bbox {name} {lat} is outside [-90, 90]")
    if minlat > maxlat:
        raise BBoxError(f"bbox minlat {minlat} is greater than maxlat {maxlat}")
    return BBox(minlon, minlat, maxlon, maxlat)
