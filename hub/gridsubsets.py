"""Reading a stored grid: its shape, a subset (variables, bbox, time) or the series of the cell
nearest a point, cut out with xarray and capped in the values one answer may hold.

The file is opened lazily as `hub.grids` opens it (engine from its magic bytes, CF coordinates
decoded); selections are index selections on the lazy arrays, so nothing is read from the file
before the answer's size is known to be within the cap. Latitude and longitude are found as
`hub.gridextent` finds them: 1-D axes (latitudes in either order, longitudes in -180..180 or
0..360) are cut by a box; curvilinear 2-D coordinates by the window of cells inside the box, the
window's other cells masked (NaN); projected x/y grids without latitude/longitude are described
but not cut by a box.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hub import grids
from hub.config import get_settings
from hub.gridextent import _coordinate as coordinate_of
from hub.gridtimes import _time_coordinate as time_coordinate_of
from hub.gridtimes import _utc as utc_of
from hub.models import Resource

EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG), for distances to a cell centre
NETCDF_MEDIA_TYPE = "application/x-netcdf"  # what every client sends and reads; IANA has none
JSON_SHARE = 16  # a JSON answer holds at most this fraction of the cells a NetCDF one may


class GridQueryError(ValueError):
    """A question the grid cannot answer: an unknown variable, no time axis, nothing selected."""


class GridTooLarge(GridQueryError):
    """An answer holding more values than the cap."""

    def __init__(self, cells: int, limit: int, kind: str) -> None:
        self.cells, self.limit = cells, limit
        super().__init__(
            f"this {kind} answer would hold {cells:,} values, over the limit of {limit:,}: "
            "ask for fewer variables, a smaller bbox or a shorter time range"
        )


@dataclass(frozen=True)
class GridQuery:
    """What a caller asks of a grid; empty fields select everything along their axis."""

    variables: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north (WGS84)
    start: datetime | None = None  # inclusive, aware UTC
    end: datetime | None = None  # exclusive
    point: tuple[float, float] | None = None  # lon, lat: the nearest cell's series


@dataclass
class Nearest:
    """The cell chosen for a point: its centre, indices and distance to the point asked."""

    lon: float
    lat: float
    indices: dict[str, int]
    distance_m: float


@dataclass
class Axes:
    """A grid's latitude, longitude and time coordinates, as far as it has them."""

    lat: xr.DataArray | None = None
    lon: xr.DataArray | None = None
    time: xr.DataArray | None = None
    why_no_box: str = ""  # empty when the grid can be cut by a box and asked for a point
    notes: list[str] = field(default_factory=list)


def stored_path(data_dir: Path, dataset_id: str, details: dict[str, Any]) -> Path:
    """Where the publish gate stored a dataset's grid file (`hub.grids.store_grid`)."""
    name = str(details.get("file") or "")
    if not name or Path(name).name != name or name.startswith("."):
        raise GridQueryError(f"the grid of {dataset_id!r} names no stored file")
    return Path(data_dir) / "grids" / dataset_id / name


@contextmanager
def opened(path: Path) -> Iterator[xr.Dataset]:
    """The stored grid, opened lazily (grids.GridError if it cannot be)."""
    ds, _ = grids._opened(path, grids.engine_for(path))  # its notes are in its description
    try:
        yield ds
    finally:
        ds.close()


def axes_of(ds: xr.Dataset) -> Axes:
    """The coordinates a query selects on, and why a box cannot cut the grid, if it cannot."""
    lat, lon = coordinate_of(ds, "latitude"), coordinate_of(ds, "longitude")
    time = time_coordinate_of(ds)
    axes = Axes(lat=lat, lon=lon, time=time if time is not None and time.ndim == 1 else None)
    if lat is None or lon is None:
        axes.why_no_box = "it has no latitude/longitude coordinates (projected x/y only)"
    elif not _rectilinear(lat, lon) and set(lat.dims) != set(lon.dims):
        axes.why_no_box = (
            f"its latitude {lat.name!r} {lat.dims} and longitude {lon.name!r} {lon.dims} "
            "share no grid"
        )
    if time is not None and time.ndim != 1:
        axes.notes.append(f"time {time.name!r} has {time.ndim} dimensions: no from/to")
    return axes


def _rectilinear(lat: xr.DataArray, lon: xr.DataArray) -> bool:
    return lat.ndim == 1 and lon.ndim == 1 and lat.dims != lon.dims


def cells_of(ds: xr.Dataset, names: list[str] | tuple[str, ...] | None = None) -> int:
    """The values the named data variables hold (all of them by default)."""
    chosen = list(names) if names is not None else [str(n) for n in ds.data_vars]
    return sum(int(np.prod(ds[name].shape, dtype=np.int64)) for name in chosen)


def limits(max_cells: int) -> dict[str, int]:
    """The most values a NetCDF and a JSON answer may hold."""
    return {"netcdf": max_cells, "json": max(1, max_cells // JSON_SHARE)}


def whole_formats(cells: int, max_cells: int) -> list[str]:
    """The formats (netcdf, json) in which a whole grid of `cells` values may be read."""
    return [kind for kind, cap in limits(max_cells).items() if cells <= cap]


def fitting_formats(grid: Resource, whole: bool) -> list[str]:
    """The formats a stored grid may be read whole in, as a caller is told: to one its size is
    withheld from, every format (which of them fit would tell the size; reading is refused to
    such a caller anyway)."""
    if not whole:
        return list(limits(get_settings().grid_max_cells))
    return whole_formats(recorded_cells(grid.details or {}), get_settings().grid_max_cells)


def recorded_cells(details: dict[str, Any]) -> int:
    """The values a stored grid's variables hold, from what its harvest recorded of them."""
    sizes = details.get("dimensions") or {}
    return sum(
        math.prod(int(sizes.get(d, 1)) for d in v.get("dimensions") or [])
        for v in details.get("variables") or []
        if isinstance(v, dict)
    )


def select(ds: xr.Dataset, query: GridQuery, limit: int, kind: str) -> xr.Dataset:
    """The subset a query asks for, loaded, or GridQueryError / GridTooLarge (before loading)."""
    names = chosen_variables(ds, query.variables)
    axes = axes_of(ds)
    sub = ds[names]
    if query.start is not None or query.end is not None:
        sub = sub.isel(_time_indexer(axes, query.start, query.end))
    mask: xr.DataArray | None = None
    if query.point is not None:
        if query.bbox is not None:
            raise GridQueryError("ask for a bbox or for a point (lon, lat), not both")
        sub = sub.isel(nearest(axes, *query.point).indices)
    elif query.bbox is not None:
        indexer, mask = _box_indexer(axes, query.bbox)
        sub = sub.isel(indexer)
        mask = mask.isel(indexer) if mask is not None else None  # the window's own cells
    cells = cells_of(sub, names)
    if cells > limit:
        raise GridTooLarge(cells, limit, kind)
    sub = sub.load()
    if mask is not None:  # curvilinear: cells of the window outside the box are no answer
        for name in names:
            if set(mask.dims) <= set(sub[name].dims):
                sub[name] = sub[name].where(mask)
    return sub


def chosen_variables(ds: xr.Dataset, asked: tuple[str, ...]) -> list[str]:
    """The data variables asked for (all by default), or GridQueryError naming the unknown."""
    known = [str(n) for n in ds.data_vars]
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise GridQueryError(
            f"unknown variable {unknown[0]!r}: this grid has {', '.join(known) or 'none'}"
        )
    return list(dict.fromkeys(asked)) or known


def _time_indexer(
    axes: Axes, start: datetime | None, end: datetime | None
) -> dict[str, np.ndarray]:
    """The indices of the time steps in [start, end)."""
    if axes.time is None:
        raise GridQueryError(
            "this grid has no time coordinate that from/to can select on"
            + (f" ({'; '.join(axes.notes)})" if axes.notes else "")
        )
    moments = [utc_of(v) for v in np.asarray(axes.time.values).ravel()]
    keep = [
        i
        for i, moment in enumerate(moments)
        if moment is not None
        and (start is None or moment >= start)
        and (end is None or moment < end)
    ]
    if not keep:
        known = sorted(m for m in moments if m is not None)
        span = f"{known[0].isoformat()} to {known[-1].isoformat()}" if known else "no valid time"
        raise GridQueryError(f"no time step of the grid is in [from, to): it covers {span}")
    return {str(axes.time.dims[0]): np.asarray(keep)}


def _box_indexer(
    axes: Axes, box: tuple[float, float, float, float]
) -> tuple[dict[str, Any], xr.DataArray | None]:
    """Index selections for the cells whose centres lie in the box, and for a curvilinear grid
    the mask of those cells within the selected window."""
    if axes.why_no_box or axes.lat is None or axes.lon is None:
        raise GridQueryError(f"this grid cannot be cut by a bbox: {axes.why_no_box}")
    west, south, east, north = box
    lat, lon = axes.lat, axes.lon
    if _rectilinear(lat, lon):
        lats = np.asarray(lat.values, dtype=float)
        rows = np.flatnonzero((lats >= south) & (lats <= north))
        lons = np.asarray(lon.values, dtype=float)
        inside = np.flatnonzero(_in_longitudes(lons, west, east))
        order = np.argsort(_east_of(lons[inside], west), kind="stable")  # west to east
        columns = inside[order]
        if rows.size == 0 or columns.size == 0:
            raise _nothing_inside(box, lats, lons)
        return {str(lat.dims[0]): rows, str(lon.dims[0]): columns}, None
    lon = lon.transpose(*lat.dims)
    lats, lons = np.asarray(lat.values, dtype=float), np.asarray(lon.values, dtype=float)
    mask = (lats >= south) & (lats <= north) & _in_longitudes(lons, west, east)
    if not mask.any():
        raise _nothing_inside(box, lats, lons)
    dims = [str(d) for d in lat.dims]
    if mask.ndim == 1:
        return {dims[0]: np.flatnonzero(mask)}, None
    window = {}
    for axis, dim in enumerate(dims):
        used = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        window[dim] = slice(int(used[0]), int(used[-1]) + 1)
    return window, xr.DataArray(mask, dims=dims)


def _in_longitudes(lons: np.ndarray, west: float, east: float) -> np.ndarray:
    """Whether each longitude (any convention) lies in [west, east]; west > east crosses 180°."""
    wrapped = (lons + 180.0) % 360.0 - 180.0  # -180 ≤ λ < 180; 180° itself is -180 here
    if west <= east:
        return ((wrapped >= west) & (wrapped <= east)) | (wrapped + 360.0 <= east)
    return (wrapped >= west) | (wrapped <= east)


def _east_of(lons: np.ndarray, west: float) -> np.ndarray:
    """Degrees east of `west`, 0..360: longitudes sorted by it run west to east."""
    return (lons - west) % 360.0


def _nothing_inside(box: tuple[float, ...], lats: np.ndarray, lons: np.ndarray) -> GridQueryError:
    """Why a box selects nothing: where the grid's cell centres are instead."""
    lats, lons = lats[np.isfinite(lats)], lons[np.isfinite(lons)]
    if lats.size == 0 or lons.size == 0:
        return GridQueryError("the grid's coordinates hold no valid value")
    return GridQueryError(
        f"no cell centre of the grid lies in bbox {','.join(f'{v:g}' for v in box)} "
        f"(its latitudes run from {lats.min():g} to {lats.max():g}, its longitudes from "
        f"{lons.min():g} to {lons.max():g})"
    )


def nearest(axes: Axes, lon: float, lat: float) -> Nearest:
    """The grid cell whose centre is nearest (lon, lat), on the sphere."""
    if axes.why_no_box or axes.lat is None or axes.lon is None:
        raise GridQueryError(f"this grid has no cell for a point: {axes.why_no_box}")
    lats, lons = np.asarray(axes.lat.values, dtype=float), np.asarray(axes.lon.values, dtype=float)
    if _rectilinear(axes.lat, axes.lon):
        # The nearest meridian is nearest on every parallel; then the nearest parallel on it.
        steps = np.abs((lons - lon + 180.0) % 360.0 - 180.0)
        if not np.isfinite(steps).any() or not np.isfinite(lats).any():
            raise GridQueryError("the grid's coordinates hold no valid value")
        column = int(np.nanargmin(steps))
        distances = _distance(lat, lon, lats, np.full_like(lats, lons[column]))
        row = int(np.nanargmin(distances))
        return Nearest(
            lon=float(lons[column]),
            lat=float(lats[row]),
            indices={str(axes.lat.dims[0]): row, str(axes.lon.dims[0]): column},
            distance_m=round(float(distances[row]), 1),
        )
    lon_values = np.asarray(axes.lon.transpose(*axes.lat.dims).values, dtype=float)
    distances = _distance(lat, lon, lats, lon_values)
    if not np.isfinite(distances).any():
        raise GridQueryError("the grid's coordinates hold no valid value")
    flat = int(np.nanargmin(distances))
    where = np.unravel_index(flat, distances.shape)
    return Nearest(
        lon=float(lon_values[where]),
        lat=float(lats[where]),
        indices={str(d): int(i) for d, i in zip(axes.lat.dims, where, strict=True)},
        distance_m=round(float(distances[where]), 1),
    )


def _distance(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Great-circle distances in metres from (lat, lon) to each (lats, lons), by haversine."""
    phi1, phi2 = math.radians(lat), np.radians(lats)
    dphi, dlambda = phi2 - phi1, np.radians(lons - lon)
    a = np.sin(dphi / 2) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


# --- answers ---------------------------------------------------------------------------------


def to_netcdf(ds: xr.Dataset, done: str = "") -> bytes:
    """A subset as a NetCDF-4 file, its values written as decoded (no packing carried over),
    with `done` (what the hub did) appended to its `history` as CF asks."""
    clean = ds.drop_encoding()
    # xarray gives every float variable a NaN _FillValue; CF forbids missing values in
    # coordinate variables, and checkers flag the attribute (the harvested files have none).
    for name in clean.coords:
        clean[name].encoding["_FillValue"] = None
    if done:
        before = str(clean.attrs.get("history") or "").rstrip("\n")
        clean.attrs["history"] = f"{before}\n{done}" if before else done
    written = clean.to_netcdf(engine="h5netcdf")
    return bytes(written) if written is not None else b""


def to_json(ds: xr.Dataset) -> dict[str, Any]:
    """A subset as JSON-ready data: dimensions, coordinates and variables; NaN as null."""
    return {
        "dims": {str(k): int(v) for k, v in ds.sizes.items()},
        "coordinates": {str(k): plain(v) for k, v in ds.coords.items()},
        "variables": {
            str(name): {
                "units": grids._text(var.attrs.get("units", "")),
                "long_name": grids._text(var.attrs.get("long_name", "")),
                "dims": [str(d) for d in var.dims],
                "values": plain(var),
            }
            for name, var in ds.data_vars.items()
        },
    }


def plain(var: xr.DataArray) -> Any:
    """An array's values as JSON-ready lists: times as ISO 8601, NaN and infinities as null."""
    values = np.asarray(var.values)
    if np.issubdtype(values.dtype, np.datetime64):
        text = np.char.add(np.datetime_as_string(values, unit="s"), "Z").astype(object)
        text[np.isnat(values)] = None
        return text.tolist()
    if np.issubdtype(values.dtype, np.floating):
        numbers = values.astype(object)
        numbers[~np.isfinite(values)] = None
        return numbers.tolist()
    if np.issubdtype(values.dtype, np.number) or values.dtype == bool:
        return values.tolist()
    return _objects(values)


def _objects(values: np.ndarray) -> Any:
    """Object, string or cftime arrays as nested lists of JSON values."""
    if values.ndim == 0:
        return _one(values.item())
    return [_objects(v) for v in values]


def _one(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "calendar") and hasattr(value, "isoformat"):  # cftime, a model calendar
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
