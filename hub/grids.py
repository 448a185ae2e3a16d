"""Gridded data (NetCDF): describe a file from its own metadata, and keep it in the data folder.

A grid is described, never loaded: xarray opens it lazily (scipy memory-maps a NetCDF-3 file,
h5netcdf reads an HDF5 one on demand) and only the latitude, longitude and time coordinates are
read, to give the extent (`hub.gridextent`) and the time range (`hub.gridtimes`). The engine
is chosen from the file's first bytes, never guessed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

from hub.batches import GridVariable
from hub.gridextent import NotDegrees, bbox_of
from hub.gridtimes import time_range

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
DATASET_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
HASH_PREFIX = 16  # hex digits of the content hash that name a stored grid file
# xarray's words for a grid_mapping, cell_measures or formula_terms attribute that is neither a
# variable name nor `name: names` pairs (ARPEGE's CRM032 writes its rotated pole there as text)
UNPARSED_REFERENCE = re.compile(r"of \[(?P<value>.*)\] misses ':', cannot decode '(?P<name>\w+)'")
MAX_NOTE_VALUE_CHARS = 200  # of an attribute quoted in a note: ARPEGE's is 130


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
    notes: list[str] = field(default_factory=list)  # what of the file could not be read, and why


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
    ds, notes = _opened(path, engine)
    with ds:
        try:
            return GridDescription(
                engine=engine,
                variables=[_variable(str(name), ds[name]) for name in ds.data_vars],
                dimensions={str(name): int(size) for name, size in ds.sizes.items()},
                bbox=bbox_of(ds),
                attributes=_attributes(ds.attrs),
                notes=notes,
                **time_range(ds),
            )
        except NotDegrees as exc:
            raise GridError(f"{path.name}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 — a coordinate the parser cannot read
            raise GridError(f"{path.name}: cannot read its coordinates: {exc}") from exc


def _opened(path: Path, engine: str) -> tuple[xr.Dataset, list[str]]:
    """The dataset opened lazily and what of it was left unread, or GridError saying why not."""
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


def _open(path: Path, engine: str, decode_times: bool) -> tuple[xr.Dataset, list[str]]:
    """xarray's lazy open, with CF coordinates, bounds and grid mappings as coordinates.

    A grid_mapping (cell_measures, formula_terms) attribute xarray cannot parse does not make
    the file unreadable: it is opened again with CF coordinates only, and a note says so.
    """
    with warnings.catch_warnings():
        # e.g. ERA-Interim's NaN _FillValue on packed shorts: xarray copes, the log need not
        warnings.simplefilter("ignore", category=xr.SerializationWarning)
        try:
            return _lazy(path, engine, decode_times, "all"), []
        except ValueError as exc:
            unparsed = UNPARSED_REFERENCE.search(str(exc))
            if unparsed is None:
                raise
        ds = _lazy(path, engine, decode_times, True)
        note = _unparsed_note(ds, unparsed["name"], unparsed["value"])
        log.warning("%s: %s", path.name, note)
        return ds, [note]


def _lazy(
    path: Path, engine: str, decode_times: bool, decode_coords: Literal["all"] | bool
) -> xr.Dataset:
    """xarray's own lazy open, its file handles not cached."""
    return xr.open_dataset(
        path, engine=engine, decode_times=decode_times, decode_coords=decode_coords, cache=False
    )


def _unparsed_note(ds: xr.Dataset, name: str, value: str) -> str:
    """What a description says of an attribute naming variables that could not be parsed."""
    # xarray quotes the value it read, once it has closed up "crs :" to "crs:"
    holders = [
        str(key)
        for key, var in ds.variables.items()
        if repr(str(var.attrs.get(name, "")).replace(" :", ":")) == value
    ]
    text = value.strip("'\"")
    if len(text) > MAX_NOTE_VALUE_CHARS:
        text = text[: MAX_NOTE_VALUE_CHARS - 1] + "…"
    return (
        f"the {name} attribute of {', '.join(holders) or 'a variable'} could not be read "
        f"('{text}' names no variable, nor 'variable: coordinates' pairs): "
        "the file's grid mappings, bounds and cell measures were left undecoded"
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
