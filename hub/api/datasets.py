"""/api/v1/datasets: search, metadata, validation reports, run history and quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session

from hub import access, catalogue
from hub.api import records
from hub.api.deps import SessionDep
from hub.api.guards import base_url, find_dataset, find_run, require
from hub.api.shapes import (
    DatasetDetail,
    DatasetPage,
    QuarantinedRowOut,
    QuarantinePage,
    RunsPage,
    describe,
    describe_run,
    summarise,
)
from hub.models import HarvestRun, Organization, QuarantinedRow

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])
router.include_router(records.router)

QUARANTINE_PAGE = 1000


@router.get("", response_model=DatasetPage)
def list_datasets(
    request: Request, session: SessionDep,
    q: str = Query("", description="words that must all appear (title, description, keywords)"),
    theme: str | None = Query(None, description="air-quality | energy | biodiversity | risk"),
    organization: str | None = Query(None, description="organization id"),
    limit: int = Query(20, ge=1, le=1000), offset: int = Query(0, ge=0),
) -> DatasetPage:
    """Search the catalogue."""
    total, page = catalogue.search(session, q=q, theme=theme, organization=organization,
                                   limit=limit, offset=offset)
    root = base_url(request)
    found = [summarise(d, session.get(Organization, d.organization_id), root) for d in page]
    more = offset + len(page) < total
    following = str(request.url.include_query_params(offset=offset + limit)) if more else None
    return DatasetPage(count=total, datasets=found, next=following)


@router.get("/{dataset_id}", response_model=DatasetDetail)
def show_dataset(request: Request, session: SessionDep, dataset_id: str) -> DatasetDetail:
    """One dataset: metadata, charter, schema, freshness and last run."""
    return describe(session, find_dataset(session, dataset_id), base_url(request))


@router.get("/{dataset_id}/runs", response_model=RunsPage)
def list_runs(session: SessionDep, dataset_id: str,
              limit: int = Query(50, ge=1, le=1000)) -> RunsPage:
    """A dataset's history of runs, newest first."""
    dataset = find_dataset(session, dataset_id)
    runs = catalogue.runs_of(session, dataset_id, limit=limit)
    described = [describe_run(r) for r in runs]
    for run in described:
        run.error = access.redact_run_error(dataset, run.error)
    return RunsPage(dataset=dataset_id, runs=described)


@router.get("/{dataset_id}/validation")
def show_validation(session: SessionDep, dataset_id: str,
                    run: int | None = Query(None, description="a run id; default the latest "
                                            "run that validated rows")) -> dict[str, Any]:
    """A run's validation report, frictionless-shaped (cell values only where rows are readable)."""
    dataset = find_dataset(session, dataset_id)
    chosen = find_run(session, dataset_id, run) if run is not None else latest_report(
        session, dataset_id)
    if chosen.report is None:
        why = access.redact_run_error(dataset, chosen.error) or "no rows were checked"
        raise HTTPException(404, f"run {chosen.id} of {dataset_id!r} has no validation report "
                                 f"(it {chosen.status}: {why})")
    return access.redact_report(dataset, chosen.report)


def latest_report(session: Session, dataset_id: str) -> HarvestRun:
    """The newest run that checked rows (refused batches have no report), or a 404."""
    for run in catalogue.runs_of(session, dataset_id, limit=1000):
        if run.report is not None:
            return run
    raise HTTPException(404, f"dataset {dataset_id!r} has no validation report yet")


@router.get("/{dataset_id}/quarantine", response_model=QuarantinePage,
            responses={200: {"content": {"text/csv": {}}}})
def list_quarantine(
    request: Request, session: SessionDep, dataset_id: str,
    run: int | None = Query(None, description="a run id; default the latest run"),
    format: Literal["json", "csv"] = Query("json"),
    limit: int = Query(QUARANTINE_PAGE, ge=1, le=10_000), offset: int = Query(0, ge=0),
) -> Any:
    """Rows the gate quarantined, with their row number, cells and reasons."""
    dataset = find_dataset(session, dataset_id)
    require(access.require_quarantine, dataset)
    chosen = find_run(session, dataset_id, run) if run is not None else _latest_run(
        session, dataset_id)
    run_id = chosen.id if chosen else None
    if format == "csv":
        fields = records.field_names(session, dataset_id)
        return StreamingResponse(
            stream_quarantine(session.get_bind(), dataset_id, run_id, fields),  # type: ignore[arg-type]
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{dataset_id}-quarantine.csv"'})
    rows = catalogue.quarantined(session, dataset_id, run_id, limit=limit, offset=offset) \
        if run_id is not None else []
    count = chosen.rows_quarantined if chosen else 0
    more = offset + len(rows) < count
    return QuarantinePage(
        dataset=dataset_id, run=run_id, count=count,
        rows=[QuarantinedRowOut(row=r.row_number, cells=r.cells, errors=r.errors) for r in rows],
        next=str(request.url.include_query_params(offset=offset + limit)) if more else None)


def _latest_run(session: Session, dataset_id: str) -> HarvestRun | None:
    latest = catalogue.runs_of(session, dataset_id, limit=1)
    return latest[0] if latest else None


def stream_quarantine(engine: Engine, dataset_id: str, run_id: int | None,
                      fields: list[str]) -> Iterator[str]:
    """CSV of quarantined rows: `_row`, the schema's fields, then `_errors`."""
    if run_id is None:
        yield records.to_csv_lines([["_row", *fields, "_errors"]])
        return
    offset, header = 0, None
    while True:
        with Session(engine) as session:  # its own session: the request's may be closed
            rows = catalogue.quarantined(session, dataset_id, run_id, limit=QUARANTINE_PAGE,
                                         offset=offset)
        if header is None:
            extra = sorted({k for r in rows for k in r.cells} - set(fields))
            header = [*fields, *extra]
            yield records.to_csv_lines([["_row", *header, "_errors"]])
        if not rows:
            return
        yield records.to_csv_lines([quarantine_line(r, header) for r in rows])
        offset += len(rows)


def quarantine_line(row: QuarantinedRow, header: list[str]) -> list[Any]:
    """One quarantined row as CSV cells, its reasons joined in the last column."""
    reasons = "; ".join(str(e.get("message") or e.get("type") or e) for e in row.errors)
    return [row.row_number, *(row.cells.get(f) for f in header), reasons]

