"""/api/v1/datasets/{id}/grid: a dataset's grid described, cut (variables, bbox, time) as NetCDF
or JSON, or the series of the cell nearest a point; read through the grant, as records are."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any, Literal

import numpy as np
import xarray as xr
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hub import __version__, access, catalogue, gridsubsets, reading
from hub.api import parameters
from hub.api.auth import CallerDep, refusal
from hub.api.deps import SessionDep
from hub.api.guards import base_url, find_dataset, refuse_unknown
from hub.api.records import parse_box, parse_moment
from hub.config import get_settings
from hub.grids import GridError
from hub.gridsubsets import GridQuery, GridQueryError
from hub.gridtimes import _utc as utc_of
from hub.models import Resource, utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])

NETCDF = gridsubsets.NETCDF_MEDIA_TYPE
PARAMETERS = ("variables", "bbox", "from", "to", "lon", "lat", "format")


class GridVariableOut(BaseModel):
    """One data variable of a grid."""

    name: str
    units: str
    long_name: str
    dims: list[str]
    shape: list[int]
    dtype: str


class GridCoordinateOut(BaseModel):
    """One coordinate of a grid: its dimensions, units and range (times in ISO 8601, UTC)."""

    dims: list[str]
    units: str
    min: float | str | None
    max: float | str | None


class GridSubsets(BaseModel):
    """What a query may cut this grid by, and why not where it may not."""

    variables: bool = True
    time: bool = Field(description="`from`/`to` select time steps")
    bbox: bool = Field(description="`bbox` selects cells (and `lon`/`lat` a nearest cell)")
    point: bool
    why_not: list[str] = Field(default_factory=list)


class GridDescription(BaseModel):
    """A grid: its variables, dimensions, coordinates, extent, time range and limits."""

    dataset: str
    format: str = "NetCDF"
    variables: list[GridVariableOut]
    dimensions: dict[str, int]
    coordinates: dict[str, GridCoordinateOut]
    longitude: str | None = Field(description="the longitude coordinate's name")
    latitude: str | None
    time: str | None
    bbox: list[float] | None = Field(description="west, south, east, north (WGS84)")
    time_min: datetime | None
    time_max: datetime | None
    cells: int = Field(description="values held by all its variables together")
    subsets: GridSubsets
    limits: dict[str, int] = Field(description="most values one answer holds, per format")
    attributes: dict[str, str]
    links: dict[str, str] = Field(
        description="self, and netcdf and json: the whole grid in each format whose answers "
        "may hold it"
    )


class GridValuesVariable(BaseModel):
    """One variable of a JSON answer: nested lists along `dims`, null for missing values."""

    units: str
    long_name: str
    dims: list[str]
    values: Any


class NearestCell(BaseModel):
    """The cell chosen for a point, and how far its centre is from it."""

    lon: float = Field(description="the point asked")
    lat: float
    cell_lon: float = Field(description="the chosen cell's centre")
    cell_lat: float
    distance_m: float = Field(description="great-circle distance, metres")
    indices: dict[str, int]


class GridValues(BaseModel):
    """A subset (or a point's series) as JSON."""

    dataset: str
    cells: int
    dims: dict[str, int]
    coordinates: dict[str, Any]
    variables: dict[str, GridValuesVariable]
    nearest: NearestCell | None = None


@router.get(
    "/{dataset_id}/grid",
    response_model=GridDescription | GridValues,
    openapi_extra=parameters.extra(*parameters.PURPOSE),
    responses={
        200: {"content": {NETCDF: {}}, "description": "the description, or the values asked"},
        400: {"description": "a bad parameter, nothing selected, or an answer over the limit"},
        401: {"description": "no valid token, and the charter does not open the grid to all"},
        403: {"description": "the charter does not open the grid to the caller"},
        404: {"description": "no such dataset, or it has no grid"},
    },
)
def read_grid(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    dataset_id: str,
    variables: str | None = Query(
        None, max_length=2000, description="comma-separated names; default every variable"
    ),
    bbox: str | None = Query(
        None,
        max_length=200,
        description="west,south,east,north (WGS84): the cells whose centres lie inside; "
        "west > east crosses 180°",
    ),
    start: str | None = Query(
        None, alias="from", max_length=64, description="ISO 8601, inclusive; no zone = UTC"
    ),
    end: str | None = Query(
        None, alias="to", max_length=64, description="ISO 8601, exclusive; no zone = UTC"
    ),
    lon: str | None = Query(None, max_length=40, description="with `lat`: the nearest cell"),
    lat: str | None = Query(None, max_length=40, description="with `lon`: the nearest cell"),
    format: Literal["netcdf", "json"] | None = Query(
        None, description="netcdf (default for a subset) or json (default for a point)"
    ),
) -> Any:
    """A grid described (no parameter), or a subset as NetCDF or JSON, or a point's series."""
    refuse_unknown(request, PARAMETERS, "the grid takes")
    dataset = find_dataset(session, dataset_id)
    query = parse_query(variables, bbox, start, end, lon, lat)
    root = base_url(request)
    caps = gridsubsets.limits(get_settings().grid_max_cells)

    def take(grid: Resource) -> tuple[Any, int | None]:
        path = gridsubsets.stored_path(get_settings().data_dir, dataset_id, grid.details or {})
        with gridsubsets.opened(path) as ds:
            if query == GridQuery() and format is None:
                return describe(ds, dataset_id, grid, root, caps), None
            return answer(ds, dataset_id, query, format, caps, cut_by(request))

    try:
        return reading.read_grid(session, dataset, caller, take)
    except access.AccessDenied as denied:
        raise refusal(denied) from None
    except catalogue.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except GridQueryError as exc:
        raise HTTPException(400, str(exc)) from None
    except (GridError, OSError) as exc:
        log.error("grid of %s cannot be read: %s", dataset_id, exc)
        raise HTTPException(500, f"the stored grid of {dataset_id!r} cannot be read") from None


def cut_by(request: Request) -> str:
    """The `history` line of a NetCDF the hub writes: when, which hub, and the request."""
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    when = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{when}: territorial data hub {__version__}, {asked} (subset, values decoded)"


def parse_query(
    variables: str | None,
    bbox: str | None,
    start: str | None,
    end: str | None,
    lon: str | None,
    lat: str | None,
) -> GridQuery:
    """The query parameters as a GridQuery, or a 400 naming the bad one."""
    names = tuple(n.strip() for n in (variables or "").split(",") if n.strip())
    moments = parse_moment("from", start), parse_moment("to", end)
    if moments[0] and moments[1] and moments[0] > moments[1]:
        raise HTTPException(400, f"from ({start}) is after to ({end})")
    point = None
    if (lon or "").strip() or (lat or "").strip():
        if not ((lon or "").strip() and (lat or "").strip()):
            raise HTTPException(400, "a point needs both lon and lat")
        point = (parse_degrees("lon", lon or "", 180.0), parse_degrees("lat", lat or "", 90.0))
        if bbox and bbox.strip():
            raise HTTPException(400, "ask for a bbox or for a point (lon, lat), not both")
    return GridQuery(names, parse_box(bbox), moments[0], moments[1], point)


def parse_degrees(name: str, text: str, bound: float) -> float:
    """A longitude or latitude in decimal degrees within ±bound, or a 400."""
    try:
        value = float(text.strip())
    except ValueError:
        raise HTTPException(400, f"{name}={text!r} is not a number of degrees") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise HTTPException(400, f"{name}={text!r} must be between -{bound:g} and {bound:g}")
    return value


def answer(
    ds: xr.Dataset,
    dataset_id: str,
    query: GridQuery,
    chosen: str | None,
    caps: dict[str, int],
    done: str = "",
) -> tuple[Response, int]:
    """The values asked for, as NetCDF or JSON, and how many they are (`done`: the NetCDF's
    history line)."""
    kind = chosen or ("json" if query.point else "netcdf")
    sub = gridsubsets.select(ds, query, caps[kind], "NetCDF" if kind == "netcdf" else "JSON")
    cells = gridsubsets.cells_of(sub)
    if kind == "netcdf":
        disposition = f'attachment; filename="{dataset_id}-grid.nc"'
        body = gridsubsets.to_netcdf(sub, done)
        return Response(
            body, media_type=NETCDF, headers={"Content-Disposition": disposition}
        ), cells
    content: dict[str, Any] = {"dataset": dataset_id, "cells": cells, **gridsubsets.to_json(sub)}
    if query.point:
        cell = gridsubsets.nearest(gridsubsets.axes_of(ds), *query.point)
        content["nearest"] = {
            "lon": query.point[0],
            "lat": query.point[1],
            "cell_lon": cell.lon,
            "cell_lat": cell.lat,
            "distance_m": cell.distance_m,
            "indices": cell.indices,
        }
    return JSONResponse(content), cells


def describe(
    ds: xr.Dataset, dataset_id: str, grid: Resource, root: str, caps: dict[str, int]
) -> GridDescription:
    """What the grid holds and what a query may cut it by."""
    details = grid.details or {}
    axes = gridsubsets.axes_of(ds)
    why_not = [f"bbox and point: {axes.why_no_box}"] if axes.why_no_box else []
    if axes.time is None:
        why_not.append("time: " + ("; ".join(axes.notes) or "no time coordinate"))
    url = f"{root}api/v1/datasets/{dataset_id}/grid"
    cells = gridsubsets.cells_of(ds)
    return GridDescription(
        dataset=dataset_id,
        variables=[
            GridVariableOut(
                name=str(name),
                units=str(var.attrs.get("units", "")),
                long_name=str(var.attrs.get("long_name", "")),
                dims=[str(d) for d in var.dims],
                shape=[int(n) for n in var.shape],
                dtype=str(var.dtype),
            )
            for name, var in ds.data_vars.items()
        ],
        dimensions={str(k): int(v) for k, v in ds.sizes.items()},
        coordinates={str(k): coordinate(v) for k, v in ds.coords.items()},
        longitude=str(axes.lon.name) if axes.lon is not None else None,
        latitude=str(axes.lat.name) if axes.lat is not None else None,
        time=str(axes.time.name) if axes.time is not None else None,
        bbox=details.get("bbox"),
        time_min=details.get("time_min"),
        time_max=details.get("time_max"),
        cells=cells,
        subsets=GridSubsets(
            time=axes.time is not None,
            bbox=not axes.why_no_box,
            point=not axes.why_no_box,
            why_not=why_not,
        ),
        limits=caps,
        attributes={str(k): str(v) for k, v in (details.get("attributes") or {}).items()},
        # a whole grid over an answer's limit is read cut, never at a link that answers 400
        links={
            "self": url,
            **{kind: f"{url}?format={kind}" for kind in caps if cells <= caps[kind]},
        },
    )


def coordinate(var: xr.DataArray) -> GridCoordinateOut:
    """A coordinate's dimensions, units and range."""
    values = np.asarray(var.values).ravel()
    low: float | str | None = None
    high: float | str | None = None
    if np.issubdtype(values.dtype, np.number) and values.size:
        finite = values[np.isfinite(values.astype(float))]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
    elif values.size and (
        np.issubdtype(values.dtype, np.datetime64) or hasattr(values[0], "calendar")
    ):
        moments = sorted(m for m in map(utc_of, values) if m is not None)
        if moments:
            low, high = moments[0].isoformat(), moments[-1].isoformat()
    units = var.attrs.get("units") or var.encoding.get("units") or ""
    return GridCoordinateOut(dims=[str(d) for d in var.dims], units=str(units), min=low, max=high)
