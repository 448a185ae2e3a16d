"""Gridded data (NetCDF): describe a file from its own metadata, and keep it in the data folder.

A grid is described, never loaded: xarray opens it lazily (scipy memory-maps a NetCDF-3 file,
h5netcdf reads an HDF5 one on demand) and only the latitude, longitude and time coordinates are
read, to give the extent. The engine is chosen from the file's first bytes, never guessed.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from hub.batches import GridVariable

log = logging.getLogger(__name__)

# The first bytes of each NetCDF flavour, and the xarray engine that reads it.
ENGINES = {b"CDF\x01": "scipy", b"CDF\x02": "scipy", b"\x89HDF": "h5netcdf"}
# The CF global attributes a catalogue shows.
GLOBAL_ATTRIBUTES = (
    "title",
    "institution",
    "source",
    "history",
    "references",
    "comment",
    "Conventions",
)
MAX_ATTRIBUTE_CHARS = 4000  # a history can grow without end; a catalogue row should not
LAT_UNITS = {"degrees_north", "degree_north", "degrees_n", "degree_n", "degreesn", "degreen"}
LON_UNITS = {"degrees_east", "degree_east", "degrees_e", "degree_e", "degreese", "degreee"}
PLAIN_DEGREES = {"", "degree", "degrees"}  # what a `lat` or `lon` named by name alone may carry
DATASET_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# `months since 1960-1-1`: undecoded by xarray in a real calendar (see `_month_range`)
MONTHS_SINCE = re.compile(
    r"^\s*(months?|years?)\s+since\s+(\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?",
    re.IGNORECASE,
)
HASH_PREFIX = 16  # hex digits of the content hash that name a stored grid file


class GridError(ValueError):
    """A file that is not a NetCDF grid the hub can describe (wrong format, truncated, corrupt)."""


@dataclass
class GridDescription:
    """What a NetCDF file holds, read from its metadata and its coordinates."""

    engine: str  # the xarray engine that read it: scipy (NetCDF-3) or h5netcdf (NetCDF-4)
    variables: list[GridVariable] = field(default_factory=list)
    dimensions: dict[str, int] = field(default_factory=dict)
    bbox: list[float] | None = None  # [min lon, min lat, max lon, max lat]; min > max: crosses
    time_min: datetime | None = None
    time_max: datetime | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def engine_for(path: Path) -> str:
    """The xarray engine for a file, from its magic bytes, or GridError."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise GridError(f"{path.name}: cannot read the file: {exc.strerror or exc}") from exc
    if magic == b"CDF\x05":
        raise GridError(f"{path.name}: NetCDF-3 64-bit data (CDF-5) files are not supported")
    if magic not in ENGINES:
        raise GridError(
            f"{path.name}: not a NetCDF file (it starts with {magic!r}; NetCDF-3 starts with "
            "CDF\\x01 or CDF\\x02, NetCDF-4 with \\x89HDF)"
        )
    return ENGINES[magic]


def describe_grid(path: Path) -> GridDescription:
    """Variables, dimensions, WGS84 extent, UTC time range and global attributes of a file."""
    path = Path(path)
    engine = engine_for(path)
    with _opened(path, engine) as ds:
        try:
            return GridDescription(
                engine=engine,
                variables=[_variable(str(name), ds[name]) for name in ds.data_vars],
                dimensions={str(name): int(size) for name, size in ds.sizes.items()},
                bbox=_bbox(ds),
                attributes=_attributes(ds.attrs),
                **_time_range(ds),
            )
        except GridError as exc:  # coordinates that are not degrees
            raise GridError(f"{path.name}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 — a coordinate the parser cannot read
            raise GridError(f"{path.name}: cannot read its coordinates: {exc}") from exc


def _opened(path: Path, engine: str) -> xr.Dataset:
    """The dataset opened lazily, or GridError saying why the file cannot be opened."""
    # scipy warns when a half-read, memory-mapped file is let go: a refused file is let go at
    # the end of the handler below, where the warning is silenced instead of surfacing later.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            try:
                return _open(path, engine, decode_times=True)
            except ImportError as exc:  # a model calendar (noleap, 360_day) needs cftime
                log.warning("%s: times left undecoded: %s", path.name, exc)
                return _open(path, engine, decode_times=False)
            except ValueError as exc:  # "months since" in a real calendar: read as months
                if "unable to decode time" not in str(exc).lower():
                    raise
                log.warning("%s: times left undecoded: %s", path.name, exc)
                return _open(path, engine, decode_times=False)
        except Exception as exc:  # noqa: BLE001 — HDF5 and scipy parsers fail in many types
            reason = _open_failure(path, exc)
    raise GridError(f"{path.name}: {reason}")  # not chained: its traceback holds the file


def _open(path: Path, engine: str, decode_times: bool) -> xr.Dataset:
    """xarray's lazy open, with CF coordinates, bounds and grid mappings as coordinates."""
    with warnings.catch_warnings():
        # e.g. ERA-Interim's NaN _FillValue on packed shorts: xarray copes, the log need not
        warnings.simplefilter("ignore", category=xr.SerializationWarning)
        return xr.open_dataset(
            path, engine=engine, decode_times=decode_times, decode_coords="all", cache=False
        )


def _open_failure(path: Path, exc: Exception) -> str:
    """Why a file with NetCDF magic bytes did not open, for people."""
    size = path.stat().st_size
    text = str(exc).strip() or type(exc).__name__
    if "cannot reshape array" in text or "truncated file" in text:
        # scipy maps the file and finds a variable reaching past its end; HDF5 says the same
        return (
            f"truncated NetCDF file: its header describes more data than the {size} bytes "
            f"the file holds ({text})"
        )
    if "unable to decode time" in text.lower():
        return f"cannot decode its time coordinate ({text})"
    return f"truncated or corrupt NetCDF file ({size} bytes): {text}"


def _variable(name: str, var: xr.DataArray) -> GridVariable:
    """One data variable as the catalogue lists it."""
    units = var.attrs.get("units") or var.encoding.get("units") or ""  # decoded times move it
    return GridVariable(
        name=name,
        units=_text(units),
        long_name=_text(var.attrs.get("long_name", "")),
        dimensions=tuple(str(d) for d in var.dims),
    )


def _attributes(attrs: dict[Any, Any]) -> dict[str, str]:
    """The CF global attributes a catalogue shows, as strings."""
    found = {key: _text(attrs[key]) for key in GLOBAL_ATTRIBUTES if key in attrs}
    return {key: value for key, value in found.items() if value}


def _text(value: Any) -> str:
    """An attribute value as one string (bytes decoded, arrays joined), capped in length."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    elif isinstance(value, np.ndarray | list | tuple):
        value = ", ".join(str(v) for v in np.asarray(value).ravel().tolist())
    text = str(value).strip()
    return text if len(text) <= MAX_ATTRIBUTE_CHARS else text[: MAX_ATTRIBUTE_CHARS - 1] + "…"


# --- extent ----------------------------------------------------------------------------------


def _bbox(ds: xr.Dataset) -> list[float] | None:
    """[min lon, min lat, max lon, max lat] in WGS84 from the CF latitude/longitude, if any."""
    lat, lon = _coordinate(ds, "latitude"), _coordinate(ds, "longitude")
    if lat is None or lon is None:
        return None
    lats, lons = _finite(lat), _finite(lon)
    if lats.size == 0 or lons.size == 0:
        return None
    if np.abs(lats).max() > 90 + 1e-6:
        raise GridError(f"latitude {lat.name!r} reaches {np.abs(lats).max()}: not degrees north")
    if lons.min() < -360 or lons.max() > 720:
        raise GridError(f"longitude {lon.name!r} spans {lons.min()} to {lons.max()}: not degrees")
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
    candidates = [*ds.coords.values(), *ds.data_vars.values()]
    for var in candidates:
        unit = str(var.attrs.get("units", "")).strip().lower()
        if var.attrs.get("standard_name") == axis or unit in units:
            return var
    for var in candidates:  # no CF attributes: a plain `lat`/`lon` in degrees (or unitless)
        unit = str(var.attrs.get("units", "")).strip().lower()
        if str(var.name).lower() in names and unit in PLAIN_DEGREES:
            return var
    return None


def _finite(var: xr.DataArray) -> np.ndarray:
    """A coordinate's values as floats, fill values (masked to NaN) left out."""
    values = np.asarray(var.values, dtype=float).ravel()
    return values[np.isfinite(values)]


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


# --- time ------------------------------------------------------------------------------------


def _time_range(ds: xr.Dataset) -> dict[str, datetime | None]:
    """First and last time of the time coordinate, in UTC; none when the grid has no time."""
    var = _time_coordinate(ds)
    if var is None:
        return _month_range(ds)
    values = np.asarray(var.values).ravel()
    if np.issubdtype(values.dtype, np.datetime64):
        values = values[~np.isnat(values)]
        values = values[[values.argmin(), values.argmax()]] if values.size else values
    # (cftime dates are compared as the Gregorian dates they stand for)
    ends = sorted(m for m in map(_utc, values) if m is not None)
    return {"time_min": ends[0] if ends else None, "time_max": ends[-1] if ends else None}


def _time_coordinate(ds: xr.Dataset) -> xr.DataArray | None:
    """The decoded time coordinate: CF `standard_name: time` or `axis: T` first, else any."""
    decoded = [var for var in ds.coords.values() if _is_time(var)]
    for var in decoded:
        if var.attrs.get("standard_name") == "time" or var.attrs.get("axis") == "T":
            return var
    dimensional = [var for var in decoded if var.name in ds.dims]
    return (dimensional or decoded or [None])[0]


def _month_range(ds: xr.Dataset) -> dict[str, datetime | None]:
    """The range of an undecoded `months since` or `years since` time axis.

    xarray decodes these units in a 360_day calendar only (a CF month is 1/12 of a year); NOAA's
    and IRI's monthly files count calendar months in a real calendar (452.5: the middle of the
    453rd month), read so here.
    """
    for var in ds.coords.values():
        match = MONTHS_SINCE.match(str(var.attrs.get("units", "")))
        if match is None or var.name not in ds.dims:
            continue
        values = _finite(var)
        year, month, day, hour, minute = (int(n) for n in match.groups(default="0")[1:])
        try:
            origin = datetime(year, month, day, hour, minute, tzinfo=UTC)
        except ValueError:  # month 13, day 0 …
            continue
        if values.size == 0 or np.abs(values).max() > 120_000:  # past year 9999: not months
            continue
        per = 12 if match.group(1).lower().startswith("year") else 1
        ends = [_months_after(origin, v * per) for v in (values.min(), values.max())]
        return {"time_min": ends[0], "time_max": ends[1]}
    return {"time_min": None, "time_max": None}


def _months_after(origin: datetime, months: float) -> datetime:
    """`origin` moved by whole calendar months, then by the fraction of the month reached."""
    whole = math.floor(months)
    year, month = divmod(origin.month - 1 + whole, 12)
    days = calendar.monthrange(origin.year + year, month + 1)[1]
    start = origin.replace(year=origin.year + year, month=month + 1, day=min(origin.day, days))
    return start + timedelta(days=(months - whole) * days)


def _is_time(var: xr.DataArray) -> bool:
    """Whether xarray decoded a variable into datetimes (numpy or cftime)."""
    if np.issubdtype(var.dtype, np.datetime64):
        return True
    return var.dtype == object and var.size > 0 and hasattr(var.values.flat[0], "calendar")


def _utc(value: Any) -> datetime | None:
    """One decoded time as an aware UTC datetime (xarray decodes CF times to UTC)."""
    if isinstance(value, np.datetime64):
        moment = value.astype("datetime64[us]").item()
        return moment.replace(tzinfo=UTC) if isinstance(moment, datetime) else None
    try:  # cftime: a model calendar (noleap, 360_day …); its dates may not exist in ours
        # 360_day's 29 and 30 February (30 April …) stand for the month's last day
        last = calendar.monthrange(value.year, value.month)[1]
        return datetime(
            value.year, value.month, min(value.day, last), value.hour, value.minute,
            value.second, tzinfo=UTC,
        )  # fmt: skip
    except (AttributeError, ValueError):
        log.warning("time %r has no Gregorian equivalent: left out of the time range", value)
        return None


# --- storage ---------------------------------------------------------------------------------


def store_grid(path: Path, data_dir: Path, dataset_id: str) -> Path:
    """Copy a grid file to `<data_dir>/grids/<dataset_id>/<sha256 prefix>.nc`, atomically."""
    if not DATASET_ID.match(dataset_id):
        raise GridError(f"dataset id {dataset_id!r} cannot name a folder")
    folder = Path(data_dir) / "grids" / dataset_id
    folder.mkdir(parents=True, exist_ok=True)
    partial, digest = _copied(Path(path), folder)
    target = folder / f"{digest[:HASH_PREFIX]}.nc"
    if target.exists():  # the same content is already stored: keep that copy
        partial.unlink()
    else:
        os.replace(partial, target)  # readers see the whole file or none of it
    log.info("grid of %s stored as %s", dataset_id, target.name)
    return target


def _copied(path: Path, folder: Path) -> tuple[Path, str]:
    """A complete copy of `path` under a temporary name in `folder`, and its SHA-256."""
    digest = hashlib.sha256()
    descriptor, name = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".part")
    partial = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle, path.open("rb") as source:
            while block := source.read(1 << 20):
                digest.update(block)
                handle.write(block)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:  # a failed or interrupted copy leaves nothing behind
        partial.unlink(missing_ok=True)
        raise
    return partial, digest.hexdigest()
