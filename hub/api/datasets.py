"""/api/v1/datasets: search, metadata, validation reports, run history and quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from hub import access, catalogue, geo, quarantine, reading, search, searchsuggestions
from hub.api import csvtext, etags, exports, records, withdrawn
from hub.api.auth import CallerDep, refusal
from hub.api.deps import SessionDep
from hub.api.guards import base_url, find_dataset, find_run, refuse_unknown
from hub.api.instants import Instant
from hub.api.shapes import (
    DatasetDetail,
    DatasetPage,
    FacetCount,
    QuarantinedRowOut,
    QuarantinePage,
    RunsPage,
    describe,
    describe_run,
    summarise,
)
from hub.models import Dataset, HarvestRun, QuarantinedRow

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])
# The facets a search counts: the index's field → the name the REST API gives it.
FACETS = {
    "theme": "theme",
    "organization": "organization",
    "license_id": "licence",
    "access": "access",
    "res_format": "format",
    "tags": "tag",
}
SEARCH_PARAMETERS = {
    *("q", "theme", "organization", "licence", "access", "format", "tag", "bbox", "schema"),
    *("updated_since", "from", "to", "sort", "limit", "offset"),
}
router.include_router(withdrawn.router)  # before /{dataset_id}, which would take its name
router.include_router(records.router)
router.include_router(exports.router)

QUARANTINE_PAGE = 1000
PROTECTED: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token (a challenge is in WWW-Authenticate)"},
    403: {"description": "the charter does not open this to the caller"},
}


@router.get("", response_model=DatasetPage, responses={400: {"description": "a bad filter"}})
def list_datasets(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    q: str = Query(
        "",
        max_length=2000,
        description="words that must all appear in the title, description, keywords, "
        "organization, schema fields or, for open datasets, the places and taxa their records "
        "name (stemmed in English and French; an enum label such as `dioxydes d'azote` also "
        "finds its code, `no2`; `PM 10` is `PM10`)",
    ),
    theme: Annotated[list[str] | None, Query(description="air-quality, energy, …")] = None,
    organization: Annotated[list[str] | None, Query(description="organization id")] = None,
    licence: Annotated[list[str] | None, Query(description="licence id (`etalab-2.0`, …)")] = None,
    access_level: Annotated[
        list[str] | None,
        Query(alias="access", description="open | restricted | personal | crisis"),
    ] = None,
    resource_format: Annotated[
        list[str] | None, Query(alias="format", description="CSV, NetCDF, …")
    ] = None,
    tag: Annotated[list[str] | None, Query(description="a keyword (repeated: any)")] = None,
    schema: Annotated[
        list[str] | None,
        Query(description="a schema name (`emergency-shelter`; repeated: any), as /api/v1/schemas"),
    ] = None,
    bbox: str | None = Query(
        None, description="west,south,east,north (WGS84): datasets whose extent intersects it"
    ),
    updated_since: Annotated[
        Instant | None,
        Query(
            description="metadata or data changed at or after this time (ISO 8601): rows "
            "published, updated or withdrawn, a grid replaced; a harvest that changed nothing "
            "is no change"
        ),
    ] = None,
    time_from: Annotated[
        Instant | None,
        Query(alias="from", description="datasets whose records reach this time or later"),
    ] = None,
    time_to: Annotated[
        Instant | None,
        Query(alias="to", description="datasets whose records start at this time or earlier"),
    ] = None,
    sort: str = Query(
        "relevance",
        max_length=200,
        description="relevance, name, title, modified or created; `-` first for descending "
        "(`-modified`: newest first); comma-separated for ties",
    ),
    limit: int = Query(20, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**62),
) -> DatasetPage:
    """Search the catalogue: words, filters, area and dates, with facet counts."""
    refuse_unknown(request, sorted(SEARCH_PARAMETERS), "the search takes")
    filters = {
        "theme": theme or [],
        "organization": organization or [],
        "license_id": licence or [],
        "access": access_level or [],
        "res_format": resource_format or [],
        "tags": tag or [],
        "schema": schema or [],
    }
    try:
        query = search.Query(
            text=q,
            filters={k: v for k, v in filters.items() if v},
            bbox=geo.parse_bbox(bbox) if bbox else None,
            updated_since=updated_since,
            covers_from=time_from,
            covers_until=time_to,
            sort=search.sort_of(sort),
            limit=limit,
            offset=offset,
            facets=tuple(FACETS),
            facets_beside_filters=True,
        )
    except (ValueError, search.BadQuery) as bad:
        raise HTTPException(400, str(bad)) from None
    found = search.find(session, query, caller.actor)
    root = base_url(request)
    organizations = {o.id: o for o in catalogue.organizations(session)}
    found_datasets = search.datasets(session, found.ids)
    summaries = [
        summarise(
            d,
            organizations.get(d.organization_id),
            root,
            access.sees_computed(d, caller.actor),
        )
        for d in found_datasets
    ]
    more = offset + len(found.ids) < found.total
    following = str(request.url.include_query_params(offset=offset + limit)) if more else None
    facets = {
        FACETS[name]: [FacetCount(value=v, count=n) for v, n in counts]
        for name, counts in found.facets.items()
    }
    # Nothing found: a correction from the catalogue's own words, if it finds something.
    suggestion = (
        searchsuggestions.suggest(session, query, caller.actor) if not found.total else None
    )
    return DatasetPage(
        count=found.total,
        datasets=summaries,
        next=following,
        facets=facets,
        suggestion=suggestion,
    )


@router.get(
    "/{dataset_id}",
    response_model=DatasetDetail,
    responses={304: {"description": "If-None-Match holds the current ETag"}},
)
def show_dataset(request: Request, session: SessionDep, caller: CallerDep, dataset_id: str) -> Any:
    """One dataset: metadata, charter, schema, freshness and last run (with an ETag)."""
    dataset = find_dataset(session, dataset_id)
    detail = describe(
        session, dataset, base_url(request), access.sees_computed(dataset, caller.actor)
    )
    # The ETag is the representation's own hash: it changes exactly when the answer does,
    # computed fields withheld or not included.
    body = detail.model_dump_json(by_alias=True).encode()
    answer = Response(body, media_type="application/json")
    return etags.conditional(request, answer, shared=access.shared_level(dataset) == "open")


@router.get("/{dataset_id}/runs", response_model=RunsPage)
def list_runs(
    session: SessionDep, caller: CallerDep, dataset_id: str, limit: int = Query(50, ge=1, le=1000)
) -> RunsPage:
    """A dataset's history of runs, newest first (row counts and errors to readers of all rows)."""
    dataset = find_dataset(session, dataset_id)
    whole = access.sees_computed(dataset, caller.actor)
    runs = catalogue.runs_of(session, dataset_id, limit=limit)
    return RunsPage(
        dataset=dataset_id,
        runs=[describe_run(r, whole, access.redact_run_error(r.error, whole)) for r in runs],
    )


@router.get("/{dataset_id}/validation", responses=PROTECTED)
def show_validation(
    session: SessionDep,
    caller: CallerDep,
    dataset_id: str,
    run: int | None = Query(
        None, ge=1, le=2**31 - 1, description="a run id; default the latest run that validated rows"
    ),
) -> dict[str, Any]:
    """A run's validation report, frictionless-shaped (to those who may read every row)."""
    dataset = find_dataset(session, dataset_id)
    _check_whole(session, dataset, caller)
    chosen = (
        find_run(session, dataset_id, run)
        if run is not None
        else latest_report(session, dataset_id)
    )
    if chosen.report is None:
        why = chosen.error or "no rows were checked"
        raise HTTPException(
            404,
            f"run {chosen.id} of {dataset_id!r} has no validation report "
            f"(it {chosen.status}: {why})",
        )
    try:
        return reading.read_report(session, dataset, caller, chosen)
    except access.AccessDenied as denied:
        raise refusal(denied) from None


def _check_whole(session: Session, dataset: Dataset, caller: reading.Caller) -> None:
    """Refuse (and log) before any lookup a caller who may not read every row: a run id's
    existence is row-level information too."""
    if not access.sees_computed(dataset, caller.actor):
        try:
            reading.admit(reading.engine_of(session), dataset, caller, whole=True)
        except access.AccessDenied as denied:
            raise refusal(denied) from None


def latest_report(session: Session, dataset_id: str) -> HarvestRun:
    """The newest run that checked rows (refused batches have no report), or a 404."""
    for run in catalogue.runs_of(session, dataset_id, limit=1000):
        if run.report is not None:
            return run
    raise HTTPException(404, f"dataset {dataset_id!r} has no validation report yet")


@router.get(
    "/{dataset_id}/quarantine",
    response_model=QuarantinePage,
    responses={
        200: {"content": {"text/csv": {}}},
        400: {"description": "a forged or damaged cursor"},
        **PROTECTED,
    },
)
def list_quarantine(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    dataset_id: str,
    run: int | None = Query(
        None, ge=1, le=2**31 - 1, description="a run id; default the latest run"
    ),
    format: Literal["json", "csv"] = Query("json"),
    limit: int = Query(QUARANTINE_PAGE, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=2**62),
    cursor: str | None = Query(
        None, max_length=64, description="opaque, from the previous page's `next`"
    ),
) -> Any:
    """Rows the gate quarantined, with their row number, cells and reasons; a data subject
    gets their own quarantined rows of a personal dataset, of every run."""
    dataset = find_dataset(session, dataset_id)
    if dataset.access == "personal" and caller.actor.role == "subject":
        return _own_quarantine(request, session, dataset, caller, limit, cursor)
    _check_whole(session, dataset, caller)
    chosen = (
        find_run(session, dataset_id, run) if run is not None else _latest_run(session, dataset_id)
    )
    run_id = chosen.id if chosen else None
    try:
        if format == "csv":
            pages = reading.stream_quarantine(session, dataset, caller, run_id)
            fields = records.field_names(session, dataset_id)
            return StreamingResponse(
                quarantine_csv(pages, fields),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="{dataset_id}-quarantine.csv"'
                },
            )
        page = (
            reading.read_quarantine(session, dataset, caller, run_id, limit, offset, cursor)
            if run_id is not None
            else quarantine.Page([], None)
        )
    except access.AccessDenied as denied:
        raise refusal(denied) from None
    except quarantine.BadCursor as bad:
        raise HTTPException(400, str(bad)) from None
    # The next page names its run: a harvest landing between two pages must not switch runs.
    following = (
        str(
            request.url.remove_query_params("offset").include_query_params(
                run=run_id, cursor=page.next_cursor
            )
        )
        if page.next_cursor
        else None
    )
    return QuarantinePage(
        dataset=dataset_id,
        run=run_id,
        count=chosen.rows_quarantined if chosen else 0,
        rows=[
            QuarantinedRowOut(row=r.row_number, cells=r.cells, errors=r.errors) for r in page.rows
        ],
        next=following,
    )


def _own_quarantine(
    request: Request,
    session: Session,
    dataset: Dataset,
    caller: reading.Caller,
    limit: int,
    cursor: str | None,
) -> QuarantinePage:
    """A subject's own quarantined rows (no run, no count: those say how many rows others
    have), paged by id."""
    try:
        after = quarantine.decode_cursor(cursor)[1] if cursor else 0
        rows = reading.read_own_quarantine(session, dataset, caller, limit, after)
    except access.AccessDenied as denied:
        raise refusal(denied) from None
    except quarantine.BadCursor as bad:
        raise HTTPException(400, str(bad)) from None
    shown = rows[:limit]
    following = (
        str(
            request.url.remove_query_params(["offset", "run"]).include_query_params(
                cursor=quarantine.encode_cursor(0, shown[-1].id or 0)
            )
        )
        if len(rows) > limit
        else None
    )
    return QuarantinePage(
        dataset=dataset.id,
        run=None,
        count=len(shown),
        rows=[QuarantinedRowOut(row=r.row_number, cells=r.cells, errors=r.errors) for r in shown],
        next=following,
    )


def _latest_run(session: Session, dataset_id: str) -> HarvestRun | None:
    latest = catalogue.runs_of(session, dataset_id, limit=1)
    return latest[0] if latest else None


def quarantine_csv(pages: Iterator[list[QuarantinedRow]], fields: list[str]) -> Iterator[str]:
    """CSV of quarantined rows: `_row`, the schema's fields (then any others), `_errors`."""
    header: list[str] | None = None
    for rows in pages:
        if header is None:
            extra = sorted({k for r in rows for k in r.cells} - set(fields))
            header = [*fields, *extra]
            yield csvtext.to_csv_lines([["_row", *header, "_errors"]])
        yield csvtext.to_csv_lines([quarantine_line(r, header) for r in rows])
    if header is None:
        yield csvtext.to_csv_lines([["_row", *fields, "_errors"]])


def quarantine_line(row: QuarantinedRow, header: list[str]) -> list[Any]:
    """One quarantined row as CSV cells, its reasons joined in the last column."""
    reasons = "; ".join(str(e.get("message") or e.get("type") or e) for e in row.errors)
    return [row.row_number, *(row.cells.get(f) for f in header), reasons]
