"""/api/v1/datasets/{id}/records: time, bbox, field filters, sort and cursor queries as JSON,
CSV or GeoJSON, with a total on request and ETags."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlmodel import Session

from hub import access, catalogue, events, geo, localtimes, reading, records, selection
from hub.api import etags, parameters, workbooks
from hub.api.auth import CallerDep, refusal
from hub.api.csvtext import csv_answer, csv_lines
from hub.api.deps import SessionDep
from hub.api.downloads import DownloadResponse
from hub.api.guards import base_url, find_dataset, page_url
from hub.api.shapes import RecordsPage
from hub.config import get_settings

router = APIRouter()

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
PARAMETERS = (
    "from",
    "to",
    "bbox",
    "limit",
    "cursor",
    "format",
    "dialect",
    "tz",
    "sort",
    "total",
    "purpose",
)
OPERATORS = "__gte, __gt, __lte, __lt, __ne, __null, __contains (and __eq)"
FILTERS = (
    "Filters on the schema's fields (see `/schema`): `field=value` (comma-separated or repeated "
    "values: any of them; `\\,` is a comma inside a value), `field__gte`, `field__gt`, "
    "`field__lte`, `field__lt`, `field__ne` (none of the values, empty cells included), "
    "`field__null=true|false`, `field__contains=words` (each word inside the field's text, "
    "whatever its case), `q=words` (each word inside any field's text), and `field__eq` for a "
    "field named like a parameter. Values are typed by the field (a number, an ISO 8601 "
    "date-time …); an unknown parameter is a 400."
)


@router.get(
    "/{dataset_id}/records",
    response_model=RecordsPage,
    response_model_exclude_unset=True,
    description=FILTERS,
    openapi_extra=parameters.extra(parameters.WORDS, parameters.FILTERS, *parameters.PURPOSE),
    responses={
        200: {"content": {"text/csv": {}, "application/geo+json": {}, workbooks.MEDIA_TYPE: {}}},
        304: {"description": "If-None-Match holds the current ETag"},
        400: {
            "description": "an unknown parameter; a bad date, bbox, limit, cursor, filter value "
            "or sort; a whole CSV or XLSX over the export limit; a dialect without format=csv"
        },
        401: {
            "description": "no valid token, and the charter does not open these records to everyone"
        },
        403: {"description": "the charter does not open these records to the caller"},
    },
)
def read_records(
    request: Request,
    response: Response,
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
        None,
        description=f"1–{MAX_LIMIT}; default {DEFAULT_LIMIT} (csv, xlsx: every matching row)",
    ),
    cursor: str | None = Query(None, description="opaque, from the previous page's `next`"),
    format: Literal["json", "csv", "geojson", "xlsx"] = Query(
        "json",
        description="json, csv, geojson or xlsx. CSV cells are the exact values (a text cell may "
        "begin with = + - @): import them into a spreadsheet as text, never open them directly. "
        "XLSX is a workbook with typed cells (numbers, dates, text), headed by the schema's "
        "titles, its text never read as a formula: what to open in a spreadsheet",
    ),
    dialect: Literal["standard", "excel-fr"] = Query(
        "standard",
        description="with format=csv: `standard` (RFC 4180, comma, dot decimals, ISO 8601 "
        "times) or `excel-fr` (a UTF-8 BOM, `;`, decimal commas, `2026-12-01 13:00:00` times), "
        "the CSV a French spreadsheet opens by double-click",
    ),
    tz: str | None = Query(
        None,
        max_length=64,
        description="an IANA time zone (`Europe/Paris`): date-times are written in it, with "
        "their offset (`2026-12-01T13:00:00+01:00`); by default, in UTC (`…Z`). XLSX and the "
        "excel-fr CSV write them in it without an offset, their heading naming the zone",
        examples=["Europe/Paris"],
    ),
    sort: str | None = Query(
        None,
        max_length=300,
        description="a field, `-field` for descending, comma-separated (at most 3) for ties; "
        "default: time, then insertion. Empty cells sort first going up, last going down",
    ),
    total: bool = Query(False, description="count the matching records over all pages"),
) -> Any:
    """Records in a time range and bounding box, filtered by field, sorted, paged by cursor."""
    dataset = find_dataset(session, dataset_id)
    criteria = reading.Criteria(
        parse_moment("from", start),
        parse_moment("to", end),
        parse_box(bbox),
        filters=tuple((k, v) for k, v in request.query_params.multi_items() if k not in PARAMETERS),
        sort=sort,
    )
    if criteria.start and criteria.end and criteria.start > criteria.end:
        raise HTTPException(400, f"from ({start}) is after to ({end})")
    cap = check_limit(limit)
    zone = parse_zone(tz)
    if dialect != "standard" and format != "csv":
        raise HTTPException(400, f"dialect={dialect} applies to format=csv only")
    if format == "xlsx" and limit is not None:
        raise HTTPException(400, "format=xlsx is a whole download: ask without limit")
    shared, personal = access.shared_level(dataset) == "open", dataset.access == "personal"
    variant = json.dumps([base_url(request), sorted(request.query_params.multi_items())])
    seen = etags.presented(request)
    try:
        # Without `limit`, CSV and GeoJSON are downloads, streamed whole (within the export
        # limit): their clients (spreadsheets, GDAL, QGIS) cannot follow a `next`.
        layout = reading.layout(session, dataset)
        if format == "geojson" and not located(layout):
            # Refused after the grant (401 before 400), before any row is read or logged.
            reading.admit(reading.engine_of(session), dataset, caller)
            raise HTTPException(400, unlocated(dataset_id))
        if format in ("csv", "geojson", "xlsx") and cap is None:
            download = reading.stream_records(
                session,
                dataset,
                caller,
                criteria,
                cap,
                cursor,
                max_rows=export_rows(format),
                variant=variant,
                seen=seen,
                total=total,
            )
            headers = etags.caching(download.etag, shared, personal)
            if download.total is not None:
                headers["X-Total-Count"] = str(download.total)
            if format == "xlsx":
                fields = catalogue.resource_of(session, dataset_id).schema_descriptor["fields"]
                return workbook_answer(dataset_id, fields, headers, download, zone or UTC)
            pages = localtimes.localised_pages(download.pages, download.layout, zone)
            if format == "geojson":
                lines = feature_lines(download.layout, pages, download.total)
                return geojson_answer(dataset_id, lines, headers, download)
            lines = csv_lines(download.layout, pages, dialect, zone or UTC)
            return csv_answer(dataset_id, lines, headers, download)
        page = reading.read_records(
            session,
            dataset,
            caller,
            criteria,
            cap or DEFAULT_LIMIT,
            cursor,
            total=total,
            variant=variant,
            seen=seen,
        )
    except reading.NotModified as unchanged:
        return etags.not_modified(unchanged.etag, shared, personal)
    except READ_ERRORS as error:
        raise answer_to(error, unknown_parameter, "ask for fewer with limit, or narrow") from None
    if zone is not None:
        localtimes.localised(page.records, layout, zone)
    following = page_url(request, cursor=page.next_cursor) if page.next_cursor else None
    headers = etags.caching(page.etag, shared, personal)
    if page.total is not None:
        headers["X-Total-Count"] = str(page.total)
    if following:  # the one place a CSV page can name its next; JSON's body says it too
        headers["Link"] = f'<{following}>; rel="next"'
    if format == "csv":  # a page (`limit`), as JSON's: its rows, total and next
        lines = csv_lines(layout, iter([page.records]), dialect, zone or UTC)
        return csv_answer(dataset_id, lines, headers)
    if format == "geojson":
        collection = to_feature_collection(page.records, layout, following)
        if page.total is not None:
            collection["total"] = page.total
        return JSONResponse(collection, media_type="application/geo+json", headers=headers)
    response.headers.update(headers)
    if page.total is not None:
        return RecordsPage(records=page.records, next=following, total=page.total)
    return RecordsPage(records=page.records, next=following)


# What a read of records may meet, each answered the same way by every route that reads them.
READ_ERRORS = (
    access.AccessDenied,
    catalogue.NotFound,
    selection.UnknownParameter,
    records.QueryError,
    reading.TooLarge,
)


def answer_to(
    error: Exception, unknown: Callable[[selection.UnknownParameter], str], hint: str
) -> HTTPException:
    """The HTTP answer to one of READ_ERRORS: a refusal, a 404, or a 400 that says why
    (`unknown` words a parameter the route does not take, `hint` how to shrink a download)."""
    if isinstance(error, access.AccessDenied):
        return refusal(error)
    if isinstance(error, catalogue.NotFound):
        return HTTPException(404, str(error))
    if isinstance(error, selection.UnknownParameter):
        return HTTPException(400, unknown(error))
    if isinstance(error, reading.TooLarge):
        return HTTPException(400, too_large(error, hint))
    return HTTPException(400, str(error))


def unknown_parameter(unknown: selection.UnknownParameter) -> str:
    """The 400 of a parameter the records route does not take, with what it takes."""
    return (
        f"unknown parameter {unknown.name!r}: records take {', '.join(PARAMETERS)}, and filters "
        f"on this dataset's fields ({', '.join(unknown.fields)}), each as `field=value` or with "
        f"a suffix: {OPERATORS}"
    )


def too_large(large: reading.TooLarge, hint: str) -> str:
    """The 400 of a download past HUB_MAX_EXPORT_ROWS (or, in XLSX, a worksheet's rows)."""
    bound = "HUB_MAX_EXPORT_ROWS" if large.limit != workbooks.MAX_ROWS else "a worksheet's rows"
    return (
        f"this download would hold {large.rows} rows, more than the {large.limit} one download "
        f"may hold ({bound}): {hint} it with from, to, bbox or field filters"
    )


def parse_moment(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 query value as aware UTC (a value without a zone is UTC), or a 400."""
    if text is None or not text.strip():
        return None
    try:
        return selection.parse_instant(name, text)
    except selection.QueryError as exc:
        raise HTTPException(400, str(exc)) from None


def parse_zone(name: str | None) -> ZoneInfo | None:
    """A `tz` query value as its zone (None: UTC, as written by default), or a 400."""
    if name is None or not name.strip():
        return None
    try:
        return localtimes.zone_named(name.strip())
    except localtimes.UnknownZone as exc:
        raise HTTPException(400, str(exc)) from None


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


def export_rows(format: str) -> int:
    """Rows one download of `format` may hold: HUB_MAX_EXPORT_ROWS, and a worksheet's rows."""
    limit = get_settings().max_export_rows
    return min(limit, workbooks.MAX_ROWS) if format == "xlsx" else limit


def workbook_answer(
    dataset_id: str,
    fields: list[dict[str, Any]],
    headers: dict[str, str],
    download: reading.Download,
    zone: tzinfo,
) -> StreamingResponse:
    """A whole download as an XLSX attachment named after the dataset, ended with it."""
    chunks = workbooks.workbook_chunks(download.layout, fields, download.pages, zone)
    return DownloadResponse(
        chunks,
        [download],
        media_type=workbooks.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{dataset_id}.xlsx"', **headers},
    )


def unlocated(dataset_id: str) -> str:
    """The 400 of GeoJSON asked of a dataset whose rows have no place."""
    return f"dataset {dataset_id!r} has no coordinates: ask for format=json or format=csv"


def geojson_answer(
    dataset_id: str, lines: Iterator[str], headers: dict[str, str], download: reading.Download
) -> StreamingResponse:
    """A whole FeatureCollection as an attachment named after the dataset, ended with it."""
    return DownloadResponse(
        lines,
        [download],
        media_type="application/geo+json",
        headers={
            "Content-Disposition": f'attachment; filename="{dataset_id}.geojson"',
            **headers,
        },
    )


def feature_lines(
    layout: records.Layout, pages: Iterator[list[dict[str, Any]]], total: int | None
) -> Iterator[str]:
    """Every page of records as one FeatureCollection, a feature per line, drawn as a page's."""
    yield '{"type":"FeatureCollection",'
    if total is not None:
        yield f'"total":{total},'
    yield '"features":[\n'
    first = True
    for page in pages:
        for feature in to_feature_collection(page, layout, None)["features"]:
            yield ("" if first else ",\n") + json.dumps(feature, ensure_ascii=False)
            first = False
    yield "\n]}\n"


def located(layout: records.Layout) -> bool:
    """Whether a record table's rows have a place: a geometry field, or longitude and latitude."""
    lon, lat = reading.coordinates(layout)
    return bool(layout.geometry or (lon and lat))


def to_feature_collection(
    rows: list[dict[str, Any]], layout: records.Layout, following: str | None
) -> dict[str, Any]:
    """Records as a GeoJSON FeatureCollection, each drawn as the feed draws it (its schema's
    geometry field, else its point); `next` is a foreign member."""
    # The geometry field is the Feature's geometry, not repeated among its properties (as OGR
    # writes a layer): a warning's polygon would otherwise be sent twice.
    drawn = next((f for f, c in layout.columns.items() if c == layout.geometry), None)
    features = [
        {
            "type": "Feature",
            "geometry": events.geometry_of(r, layout),
            "properties": {k: v for k, v in r.items() if k != drawn} if drawn else r,
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
