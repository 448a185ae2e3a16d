"""A grid's preview: one variable at its latest time step as a picture, with its legend."""

from __future__ import annotations

import base64
import logging
import math
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import xarray as xr
from sqlmodel import Session

from hub import catalogue, gridsubsets, reading
from hub.access import AccessDenied
from hub.config import get_settings
from hub.grids import GridError
from hub.gridsubsets import GridQueryError, coordinate_of, time_coordinate_of, utc_of
from hub.models import Dataset, Resource

log = logging.getLogger(__name__)

GRID_SIDE = 240  # a grid preview's larger side, in cells (larger grids are sampled)
GRID_SLICE_CELLS = 4_000_000  # a slice larger than this is not previewed (nothing loaded)


@dataclass
class GridPicture:
    """One variable of a grid at one time step, as a picture with its legend and summary."""

    variable: str
    long_name: str
    units: str
    time: datetime | None
    low: float
    high: float
    mean: float
    width: int
    height: int
    png: str  # data: URL
    legend: str  # data: URL of the colour ramp
    sampled: int = 1  # one cell in `sampled` along each axis is shown
    fixed: list[str] = field(default_factory=list)  # other dimensions, at their first index
    steps: int = 1


def grid_preview(session: Session, dataset: Dataset, caller: reading.Caller) -> GridPicture | None:
    """The picture of a dataset's stored grid (read through the grant, logged), or None."""
    if session.get(Resource, f"{dataset.id}-grid"[:64]) is None:
        return None

    def take(grid: Resource) -> tuple[GridPicture | None, int | None]:
        path = gridsubsets.stored_path(get_settings().data_dir, dataset.id, grid.details or {})
        with gridsubsets.opened(path) as ds:
            picture = picture_of(ds)
        return picture, None if picture is None else picture.width * picture.height

    try:
        return reading.read_grid(session, dataset, caller, take)
    except (AccessDenied, catalogue.NotFound):
        return None
    except (GridError, GridQueryError, OSError, ValueError) as exc:
        log.error("grid preview of %s: %s", dataset.id, exc)
        return None


def picture_of(ds: xr.Dataset) -> GridPicture | None:
    """The first variable with two spatial dimensions, at its latest time step and the first
    index of any other dimension (a level), sampled to `GRID_SIDE` cells a side."""
    time = time_coordinate_of(ds)
    time_dim = str(time.dims[0]) if time is not None and time.ndim == 1 else None
    for name, var in ds.data_vars.items():
        spatial = [str(d) for d in var.dims if d != time_dim][-2:]
        if len(spatial) < 2 or not np.issubdtype(var.dtype, np.number):
            continue
        chosen: dict[str, Any] = {}
        fixed = []
        for dim in var.dims:
            dim = str(dim)
            if dim == time_dim:
                chosen[dim] = var.sizes[dim] - 1
            elif dim not in spatial:
                chosen[dim] = 0
                fixed.append(dim)
        plane = var.isel(chosen)
        rows, cols = (plane.sizes[d] for d in spatial)
        if rows * cols > GRID_SLICE_CELLS or rows < 2 or cols < 2:
            continue
        step = max(1, math.ceil(max(rows, cols) / GRID_SIDE))
        plane = plane.isel(
            {spatial[0]: slice(None, None, step), spatial[1]: slice(None, None, step)}
        )
        values = np.asarray(plane.transpose(*spatial).values, dtype=float)
        values = oriented(ds, plane, spatial, values)
        finite = values[np.isfinite(values)]
        if not finite.size:
            continue
        moment = utc_of(time.values[-1]) if time_dim is not None and time is not None else None
        low, high = float(finite.min()), float(finite.max())
        return GridPicture(
            variable=str(name),
            long_name=str(var.attrs.get("long_name", "")),
            units=str(var.attrs.get("units", "")),
            time=moment,
            low=low,
            high=high,
            mean=float(finite.mean()),
            width=values.shape[1],
            height=values.shape[0],
            png=data_url(png_of(indices(values, low, high))),
            legend=data_url(png_of(np.arange(255, dtype=np.uint8).reshape(1, 255))),
            sampled=step,
            fixed=fixed,
            steps=int(time.size) if time is not None and time_dim is not None else 1,
        )
    return None


def oriented(
    ds: xr.Dataset, plane: xr.DataArray, spatial: list[str], values: np.ndarray
) -> np.ndarray:
    """North up and longitudes from west to east, when the grid says where they are."""
    lat, lon = coordinate_of(ds, "latitude"), coordinate_of(ds, "longitude")
    if lat is not None and lat.ndim == 1 and str(lat.dims[0]) == spatial[0]:
        lats = np.asarray(plane[spatial[0]].values, dtype=float)
        if lats.size > 1 and lats[0] < lats[-1]:
            values = values[::-1]
    elif spatial[0] in plane.coords and plane[spatial[0]].ndim == 1:
        ys = np.asarray(plane[spatial[0]].values)
        if np.issubdtype(ys.dtype, np.number) and ys.size > 1 and ys[0] < ys[-1]:
            values = values[::-1]  # projected y grows northwards
    if lon is not None and lon.ndim == 1 and str(lon.dims[0]) == spatial[1]:
        lons = np.asarray(plane[spatial[1]].values, dtype=float)
        if lons.size > 1 and np.nanmax(lons) > 180:  # 0–360: the western half goes first
            values = values[:, np.argsort(np.where(lons > 180, lons - 360, lons), kind="stable")]
    return values


# A perceptually ordered ramp (viridis' anchors), readable by the colour-blind; index 255:
# no value (transparent).
RAMP = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]


def palette() -> bytes:
    """255 colours along the ramp, then the transparent one."""
    colours = []
    for i in range(255):
        position = i / 254 * (len(RAMP) - 1)
        low = min(int(position), len(RAMP) - 2)
        share = position - low
        colours.append(
            bytes(round(a + (b - a) * share) for a, b in zip(RAMP[low], RAMP[low + 1], strict=True))
        )
    return b"".join(colours) + bytes((255, 255, 255))


def indices(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Each value's colour index (0–254), 255 where there is none."""
    span = high - low or 1.0
    scaled = np.clip(np.round((values - low) / span * 254), 0, 254)
    return np.where(np.isfinite(values), scaled, 255).astype(np.uint8)


def png_of(pixels: np.ndarray) -> bytes:
    """A palette PNG of colour indices (rows top to bottom)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)),
            chunk(b"PLTE", palette()),
            chunk(b"tRNS", b"\xff" * 255 + b"\x00"),
            chunk(b"IDAT", zlib.compress(raw, 9)),
            chunk(b"IEND", b""),
        ]
    )


def data_url(png: bytes) -> str:
    """A PNG inside the page (the CSP allows `data:` images; no second request)."""
    return "data:image/png;base64," + base64.b64encode(png).decode()
