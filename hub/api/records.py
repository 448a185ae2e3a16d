"""/api/v1/datasets/{id}/records: time, bbox and cursor queries as JSON, CSV or GeoJSON."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlmodel import Session

from hub import access, catalogue, geo, reading, records
from hub.api.auth import CallerDep, refusal
from hub.api.deps import SessionDep
from hub.api.guards import find_dataset, page_url
from hub.api.shapes import RecordsPage

router = APIRouter()

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
CSV_PAGE = 5_000
# A `+` in an unencoded query string arrives as a space: "…T10:00:00 02:00" meant "+02:00".
_SPACED_ZONE = re.compile(r" (\d{2}(:?\d{2})?)$")


@router.get(
    "/{dataset_id}/records",
    response_model=RecordsPage,
    responses={
        200: {"content": {"text/csv": {}, "application/geo+json": {}}},
        400: {"description": "bad date, bbox, limit or cursor"},
        401: {
            "description": "no valid token, and the charter does not open these records to everyone"
        },
        403: {"description": "the charter does not open these records to the caller"},
    },
)
def read_records(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    dataset_id: str,
    start: str | None = Query(
        None,
        alias="from",
        description="ISO 8601, inclusive; no zone = UTC",
        examples=["2024-05-01T00:00:00Z"],
    ),
    end: str | None = Query(None, alias="to", description="ISO 8601, exclusive; no zone = UTC"),
    bbox: str | None = Query(
        None, description="minlon,minlat,maxlon,maxlat (WGS84)", examples=["-1.8,48.0,-1.5,48.2"]
    ),
    limit: int | None = Query(
        None, description=f"1–{MAX_LIMIT}; default {DEFAULT_LIMIT} (csv: every matching row)"
    ),
    cursor: str | None = Query(None, description="opaque, from the previous page's `next`"),
    format: Literal["json", "csv", "geojson"] = Query("json"),
) -> Any:
    """Records in a time range and bounding box, ordered by time, paged by cursor."""
    dataset = find_dataset(session, dataset_id)
    criteria = reading.Criteria(
        parse_moment("from", start), parse_moment("to", end), parse_box(bbox)
    )
    if criteria.start and criteria.end and criteria.start > criteria.end:
        raise HTTPException(400, f"from ({start}) is after to ({end})")
    cap = check_limit(limit)
    try:
        if format == "csv":
            layout, pages = reading.stream_records(session, dataset, caller, criteria, cap, cursor)
            return StreamingResponse(
                csv_lines(layout, pages),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{dataset_id}.csv"'},
            )
        page = reading.read_records(
            session, dataset, caller, criteria, cap or DEFAULT_LIMIT, cursor
        )
        layout = reading.layout(session, dataset)
    except access.AccessDenied as denied:
        raise refusal(denied) from None
    except catalogue.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except records.QueryError as exc:
        raise HTTPException(400, str(exc)) from None
    following = page_url(request, cursor=page.next_cursor) if page.next_cursor else None
    if format == "geojson":
        lon, lat = reading.coordinates(layout)
        if not (lon and lat):
            raise HTTPException(
                400, f"dataset {dataset_id!r} has no coordinates: ask for format=json or format=csv"
            )
        collection = to_feature_collection(page.records, lon, lat, following)
        return JSONResponse(collection, media_type="application/geo+json")
    return RecordsPage(records=page.records, next=following)


def parse_moment(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 query value as aware UTC (a value without a zone is UTC), or a 400."""
    if text is None or not text.strip():
        return None
    cleaned = _SPACED_ZONE.sub(r"+\1", text.strip())
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise HTTPException(
            400,
            f"{name}={text!r} is not an ISO 8601 date-time; write e.g. "
            "2024-05-01T00:00:00Z (a value without a zone is UTC)",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_box(text: str | None) -> tuple[float, float, float, float] | None:
    """A WGS84 `minlon,minlat,maxlon,maxlat` query value, or a 400."""
    if text is None or not text.strip():
        return None
    try:
        box = geo.parse_bbox(text)
    except geo.BBoxError as exc:
        raise HTTPException(400, str(exc)) from None
    return tuple(box)  # type: ignore[return-value]


def check_limit(limit: int | None) -> int | None:
    """The page size asked for, within bounds, or a 400."""
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise HTTPException(400, f"limit must be between 1 and {MAX_LIMIT} (got {limit})")
    return limit


def csv_lines(layout: records.Layout, pages: Iterator[list[dict[str, Any]]]) -> Iterator[str]:
    """The header, then every page of records, as CSV."""
    yield to_csv_lines([list(layout.columns)])
    for rows in pages:
        yield to_csv_lines([[csv_value(v) for v in r.values()] for r in rows])


def csv_value(value: Any) -> Any:
    """A record value as CSV text: empty for null, lower-case booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def to_csv_lines(rows: list[list[Any]]) -> str:
    """CSV lines (RFC 4180 quoting, CRLF)."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def to_feature_collection(
    rows: list[dict[str, Any]], lon: str, lat: str, following: str | None
) -> dict[str, Any]:
    """Records as a GeoJSON FeatureCollection of Points; `next` is a foreign member."""
    features = [
        {
            "type": "Feature",
            "geometry": (
                {"type": "Point", "coordinates": [r[lon], r[lat]]}
                if r.get(lon) is not None and r.get(lat) is not None
                else None
            ),
            "properties": r,
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features, "next": following}


def field_names(session: Session, dataset_id: str) -> list[str]:
    """The schema's field names of a dataset's records, in order."""
    try:
        descriptor = catalogue.resource_of(session, dataset_id).schema_descriptor
    except catalogue.NotFound:
        return []
    return [f["name"] for f in descriptor.get("fields", [])]
