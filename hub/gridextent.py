"""The WGS84 extent of a grid: from its latitude/longitude coordinates, or from projected x/y
(or a geostationary satellite's scanning angles) and a CF grid mapping through pyproj. Only
coordinates are read, never the data."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pyproj
import xarray as xr

log = logging.getLogger(__name__)

LAT_UNITS = {"degrees_north", "degree_north", "degrees_n", "degree_n", "degreesn", "degreen"}
LON_UNITS = {"degrees_east", "degree_east", "degrees_e", "degree_e", "degreese", "degreee"}
PLAIN_DEGREES = {"", "degree", "degrees"}  # what a `lat` or `lon` named by name alone may carry
# Units of projected x/y coordinates, in metres (none given: the grid mapping's own unit).
LENGTH_UNITS = {
    **dict.fromkeys(("m", "metre", "metres", "meter", "meters"), 1.0),
    **dict.fromkeys(("km", "kilometre", "kilometres", "kilometer", "kilometers"), 1000.0),
}
# Units of a geostationary grid's x/y: scanning angles, in metres once times the satellite height.
ANGLE_UNITS = {"rad", "radian", "radians"}
# The attributes that make a variable a CF grid mapping (GDAL writes `spatial_ref` alone).
GRID_MAPPING_ATTRIBUTES = ("grid_mapping_name", "crs_wkt", "spatial_ref")
# NetCDF's default fill value for floats: what a file holds where nothing was written, when no
# _FillValue names another (xarray masks only a _FillValue the file declares)
NETCDF_FLOAT_FILL = 9.969209968386869e36
MAX_EDGE_POINTS = 2000  # cells transformed along each edge of a projected grid, at most
MIN_EDGE_POINTS = 100  # points along an edge of a coarse grid: its edges bulge between cells


class NotDegrees(ValueError):
    """Coordinates named latitude or longitude whose values cannot be degrees."""


def bbox_of(ds: xr.Dataset) -> list[float] | None:
    """[min lon, min lat, max lon, max lat] in WGS84 from latitude/longitude or projected x/y."""
    lat, lon = _coordinate(ds, "latitude"), _coordinate(ds, "longitude")
    if lat is None or lon is None:
        return _projected_bbox(ds)
    lats, lons = finite(lat), finite(lon)
    if lats.size == 0 or lons.size == 0:
        return None
    if np.abs(lats).max() > 90 + 1e-6:
        raise NotDegrees(f"latitude {lat.name!r} reaches {np.abs(lats).max()}: not degrees north")
    if lons.min() < -360 or lons.max() > 720:
        raise NotDegrees(f"longitude {lon.name!r} spans {lons.min()} to {lons.max()}: not degrees")
    west, east = longitude_extent(lons)
    if lon.ndim == 2 and _wraps_round(lon, west, east):
        west, east = -180.0, 180.0
    return [round(v, 6) for v in (west, float(lats.min()), east, float(lats.max()))]


def _wraps_round(lon: xr.DataArray, west: float, east: float) -> bool:
    """Whether a curvilinear grid's longitudes circle the globe (a polar grid, like RASM's).

    The arc left out is then no wider than a step between neighbouring cells: no hole, only
    the spacing of the grid, which a box of cell centres should not cut out.
    """
    values = np.asarray(lon.values, dtype=float)
    left_out = (west - east) % 360.0
    steps = [np.abs((np.diff(values, axis=axis) + 180.0) % 360.0 - 180.0) for axis in (0, 1)]
    finite = [step[np.isfinite(step)] for step in steps if step.size]
    widest = max((float(step.max()) for step in finite if step.size), default=0.0)
    return 0.0 < left_out <= widest


def _coordinate(ds: xr.Dataset, axis: str) -> xr.DataArray | None:
    """The latitude or longitude variable, found by its CF attributes first, then by name."""
    units, names = (
        (LAT_UNITS, ("lat", "latitude"))
        if axis == "latitude"
        else (LON_UNITS, ("lon", "longitude"))
    )
    # a 0-dimensional latitude is one place (GOES's satellite subpoint), never an axis of the grid
    candidates = [var for var in (*ds.coords.values(), *ds.data_vars.values()) if var.ndim]
    for var in candidates:
        unit = str(var.attrs.get("units", "")).strip().lower()
        if var.attrs.get("standard_name") == axis or unit in units:
            return var
    for var in candidates:  # no CF attributes: a plain `lat`/`lon` in degrees (or unitless)
        unit = str(var.attrs.get("units", "")).strip().lower()
        if str(var.name).lower() in names and unit in PLAIN_DEGREES:
            return var
    return None


def finite(var: xr.DataArray) -> np.ndarray:
    """A coordinate's values as floats, fill values (NaN once masked, NetCDF's default) left out."""
    values = np.asarray(var.values, dtype=float).ravel()
    return values[np.isfinite(values) & (values != NETCDF_FLOAT_FILL)]


def longitude_extent(lons: np.ndarray) -> tuple[float, float]:
    """West and east edges of the smallest arc holding every longitude, in -180..180.

    0..360 longitudes are brought to -180..180 first. The arc leaves out the widest gap between
    neighbouring longitudes; when that gap is not the one across the antimeridian, the grid
    crosses it and west > east (the hub's bbox convention).
    """
    unique = np.unique((np.asarray(lons, dtype=float) + 180.0) % 360.0 - 180.0)
    if unique.size == 1:
        return float(unique[0]), float(unique[0])
    gaps = np.diff(unique)
    widest = int(np.argmax(gaps))
    across = unique[0] + 360.0 - unique[-1]  # the gap that wraps round through 180°
    if gaps[widest] > across:
        west, east = float(unique[widest + 1]), float(unique[widest])
    else:
        west, east = float(unique[0]), float(unique[-1])
    if west > east and east == -180.0:  # ends on 180° (written -180): no crossing after all
        east = 180.0
    return west, east


def _projected_bbox(ds: xr.Dataset) -> list[float] | None:
    """The WGS84 box of a grid on projected x/y coordinates and a CF grid mapping, if any."""
    x, y = _projection_axis(ds, "x"), _projection_axis(ds, "y")
    mapping = _grid_mapping(ds)
    if x is None or y is None or mapping is None:
        return None
    try:
        crs = pyproj.CRS.from_cf(mapping.attrs)  # reads `crs_wkt` or `spatial_ref` first
        if not crs.is_projected:
            raise ValueError(f"{crs.name!r} is not a projected CRS")
        to_wgs84 = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        xs, ys = (_in_crs_units(axis, crs, mapping) for axis in (x, y))
        return _outline_bbox(to_wgs84, xs, ys)
    except Exception as exc:  # noqa: BLE001 — a grid mapping PROJ cannot read still opens
        source = Path(str(ds.encoding.get("source", "grid"))).name
        log.warning("%s: no bbox from grid mapping %r: %s", source, mapping.name, exc)
        return None


def _projection_axis(ds: xr.Dataset, axis: str) -> xr.DataArray | None:
    """The 1-D projected x or y coordinate: by CF standard name, then `axis`, then name."""
    one_d = [var for var in ds.coords.values() if var.ndim == 1]
    for matches in (
        lambda var: var.attrs.get("standard_name") == f"projection_{axis}_coordinate",
        lambda var: str(var.attrs.get("axis", "")).lower() == axis,
        lambda var: str(var.name).lower() == axis,
    ):
        found = [var for var in one_d if matches(var)]
        if found:
            return found[0]
    return None


def _grid_mapping(ds: xr.Dataset) -> xr.DataArray | None:
    """The grid mapping a data variable names (`crs` or `crs: x y …`), else any there is."""
    for var in ds.data_vars.values():
        # xarray moves the `grid_mapping` attribute into encoding when it decodes coordinates
        text = str(var.encoding.get("grid_mapping") or var.attrs.get("grid_mapping") or "")
        names = re.findall(r"(\S+):", text) or text.split()
        for name in names:
            if name in ds.variables:
                return ds[name]
    for var in [*ds.coords.values(), *ds.data_vars.values()]:
        if any(key in var.attrs for key in GRID_MAPPING_ATTRIBUTES):
            return var
    return None


def _in_crs_units(axis: xr.DataArray, crs: pyproj.CRS, mapping: xr.DataArray) -> np.ndarray:
    """A projected coordinate's finite values, converted to the unit of the CRS's axes."""
    unit = str(axis.attrs.get("units", "")).strip().lower()
    values = finite(axis)
    if not unit:
        return values
    if unit in ANGLE_UNITS:  # CF geostationary x/y: PROJ's geos x/y are the angles times height
        height = mapping.attrs.get("perspective_point_height")
        if mapping.attrs.get("grid_mapping_name") != "geostationary" or height is None:
            raise ValueError(f"{axis.name!r} is in {unit!r} on a grid that is not geostationary")
        values = values * float(np.asarray(height).ravel()[0])
        return values / crs.axis_info[0].unit_conversion_factor
    if unit not in LENGTH_UNITS:
        raise ValueError(f"{axis.name!r} is in {unit!r}, not a length")
    return values * LENGTH_UNITS[unit] / crs.axis_info[0].unit_conversion_factor


def _outline_bbox(
    to_wgs84: pyproj.Transformer, xs: np.ndarray, ys: np.ndarray
) -> list[float] | None:
    """The box of a projected grid's four edges in WGS84, and of a pole inside them."""
    if xs.size == 0 or ys.size == 0:
        return None
    x_edge, y_edge = _edge(xs), _edge(ys)
    outline_x = np.concatenate(
        [x_edge, x_edge, np.full(y_edge.size, x_edge[0]), np.full(y_edge.size, x_edge[-1])]
    )
    outline_y = np.concatenate(
        [np.full(x_edge.size, y_edge[0]), np.full(x_edge.size, y_edge[-1]), y_edge, y_edge]
    )
    lons, lats = (np.asarray(v, dtype=float) for v in to_wgs84.transform(outline_x, outline_y))
    kept = np.isfinite(lons) & np.isfinite(lats)
    if not kept.any():
        raise ValueError("no point of the grid's outline has a longitude and latitude")
    west, east = longitude_extent(lons[kept])
    south, north = float(lats[kept].min()), float(lats[kept].max())
    for pole in (90.0, -90.0):  # a pole inside the grid is on no edge, and has every longitude
        px, py = to_wgs84.transform(0.0, pole, direction="INVERSE")
        if x_edge[0] <= px <= x_edge[-1] and y_edge[0] <= py <= y_edge[-1]:
            west, east = -180.0, 180.0
            south, north = min(south, pole), max(north, pole)
    return [round(v, 6) for v in (west, south, east, north)]


def _edge(values: np.ndarray) -> np.ndarray:
    """Points along one edge of a grid, sorted: its cells (some, if many), densified."""
    cells = np.unique(values)
    if cells.size > MAX_EDGE_POINTS:
        cells = cells[np.linspace(0, cells.size - 1, MAX_EDGE_POINTS).round().astype(int)]
    return np.union1d(cells, np.linspace(cells[0], cells[-1], MIN_EDGE_POINTS))
