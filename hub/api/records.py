"""/api/v1/datasets/{id}/records: time, bbox and cursor queries as JSON, CSV or GeoJSON."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import Connection, Engine
from sqlmodel import Session

from hub import access, catalogue, geo, records
from hub.api.deps import SessionDep
from hub.api.guards import find_dataset, require
from hub.api.shapes import RecordsPage

router = APIRouter()

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
CSV_PAGE = 5_000
# A `+` in an unencoded query string arrives as a space: "…T10:00:00 02:00" meant "+02:00".
_SPACED_ZONE = re.compile(r" (\d{2}(:?\d{2})?)$")


@dataclass(frozen=True)
class Criteria:
    """Which records a request asks for."""

    start: datetime | None
    end: datetime | None
    bbox: tuple[float, float, float, float] | None


@router.get(
    "/{dataset_id}/records", response_model=RecordsPage,
    responses={200: {"content": {"text/csv": {}, "application/geo+json": {}}},
               400: {"description": "bad date, bbox, limit or cursor"},
               403: {"description": "the charter does not open these records to the caller"}})
def read_records(
    request: Request, session: SessionDep, dataset_id: str,
    start: str | None = Query(None, alias="from", description="ISO 8601, inclusive; no zone = "
                              "UTC", examples=["2024-05-01T00:00:00Z"]),
    end: str | None = Query(None, alias="to", description="ISO 8601, exclusive; no zone = UTC"),
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat (WGS84)",
                             examples=["-1.8,48.0,-1.5,48.2"]),
    limit: int | None = Query(None, description=f"1–{MAX_LIMIT}; default {DEFAULT_LIMIT} "
                              "(csv: every matching row)"),
    cursor: str | None = Query(None, description="opaque, from the previous page's `next`"),
    format: Literal["json", "csv", "geojson"] = Query("json"),
) -> Any:
    """Records in a time range and bounding box, ordered by time, paged by cursor."""
    dataset = find_dataset(session, dataset_id)
    require(access.require_records, dataset)
    try:
        resource = catalogue.resource_of(session, dataset_id)
    except catalogue.NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    layout = catalogue.layout_of(resource)
    criteria = Criteria(parse_moment("from", start), parse_moment("to", end), parse_box(bbox))
    if criteria.start and criteria.end and criteria.start > criteria.end:
        raise HTTPException(400, f"from ({start}) is after to ({end})")
    cap = check_limit(limit)
    if format == "csv":
        page = fetch(session.connection(), layout, criteria, min(cap or CSV_PAGE, CSV_PAGE),
                     cursor)
        lines = stream_csv(session.get_bind(), layout, criteria, page, cap)  # type: ignore[arg-type]
        return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="{dataset_id}.csv"'})
    page = fetch(session.connection(), layout, criteria, cap or DEFAULT_LIMIT, cursor)
    following = (str(request.url.include_query_params(cursor=page.next_cursor))
                 if page.next_cursor else None)
    if format == "geojson":
        hub = resource.schema_descriptor.get("hub") or {}
        if not (layout.lon and layout.lat):
            raise HTTPException(400, f"dataset {dataset_id!r} has no coordinates: ask for "
                                     "format=json or format=csv")
        collection = to_feature_collection(page.records, hub["lon"], hub["lat"], following)
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
        raise HTTPException(400, f"{name}={text!r} is not an ISO 8601 date-time; write e.g. "
                                 "2024-05-01T00:00:00Z (a value without a zone is UTC)") from None
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


def fetch(connection: Connection, layout: records.Layout, criteria: Criteria, limit: int,
          cursor: str | None) -> records.Page:
    """One page of records; an unanswerable query (forged cursor, no time field) is a 400."""
    try:
        return records.query(connection, layout, start=criteria.start, end=criteria.end,
                            bbox=criteria.bbox, limit=limit, cursor=cursor)
    except records.QueryError as exc:
        raise HTTPException(400, str(exc)) from None


def stream_csv(engine: Engine, layout: records.Layout, criteria: Criteria, first: records.Page,
               cap: int | None) -> Iterator[str]:
    """The header, then every matching row (up to `cap`), one page at a time."""
    yield to_csv_lines([list(layout.columns)])
    page, sent = first, 0
    while True:
        rows = page.records if cap is None else page.records[: cap - sent]
        yield to_csv_lines([[csv_value(v) for v in r.values()] for r in rows])
        sent += len(rows)
        if not page.next_cursor or (cap is not None and sent >= cap):
            return
        size = CSV_PAGE if cap is None else min(CSV_PAGE, cap - sent)
        # A connection per page: a long download must not pin one read transaction.
        with engine.connect() as connection:
            page = records.query(connection, layout, start=criteria.start, end=criteria.end,
                                bbox=criteria.bbox, limit=size, cursor=page.next_cursor)


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


def to_feature_collection(rows: list[dict[str, Any]], lon: str, lat: str,
                          following: str | None) -> dict[str, Any]:
    """Records as a GeoJSON FeatureCollection of Points; `next` is a foreign member."""
    features = [{"type": "Feature",
                 "geometry": ({"type": "Point", "coordinates": [r[lon], r[lat]]}
                              if r.get(lon) is not None and r.get(lat) is not None else None),
                 "properties": r} for r in rows]
    return {"type": "FeatureCollection", "features": features, "next": following}


def field_names(session: Session, dataset_id: str) -> list[str]:
    """The schema's field names of a dataset's records, in order."""
    try:
        descriptor = catalogue.resource_of(session, dataset_id).schema_descriptor
    except catalogue.NotFound:
        return []
    return [f["name"] for f in descriptor.get("fields", [])]
