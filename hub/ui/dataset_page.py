"""One page per dataset: charter, schema, validation, runs, preview and ways to get the data."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from hub import access, catalogue, charters, reading
from hub.api.dcat import documents as dcat_documents
from hub.api.dcat import routes as dcat_routes
from hub.api.deps import SessionDep
from hub.api.guards import base_url
from hub.api.shapes import describe, describe_run
from hub.models import Dataset, HarvestRun
from hub.ui.pages import render
from hub.ui.visitors import VisitorDep

log = logging.getLogger(__name__)

PREVIEW_ROWS = 20

router = APIRouter(include_in_schema=False)


@router.get("/datasets/{dataset_id}")
def render_dataset(
    request: Request, session: SessionDep, visitor: VisitorDep, dataset_id: str
) -> Response:
    """One dataset: charter, schema, validation, runs, preview and API links; its DCAT-AP
    document when `Accept` prefers Turtle, JSON-LD or RDF/XML to HTML."""
    try:
        dataset = catalogue.get(session, dataset_id)
    except catalogue.NotFound:
        return render(request, visitor, "missing.html", {"dataset_id": dataset_id}, 404)
    caller = visitor.caller
    syntax = dcat_documents.negotiate(request.headers.get("accept", ""))
    if syntax is not None:
        return dcat_routes.dataset_answer(
            session, dataset, base_url(request), caller.actor, syntax, {"Vary": "Accept"}
        )
    whole = access.sees_computed(dataset, caller.actor)
    detail = describe(session, dataset, base_url(request), whole)
    runs = catalogue.runs_of(session, dataset_id, limit=20)
    preview, denied = read_preview(session, dataset, caller)
    page = render(
        request,
        visitor,
        "dataset.html",
        {
            "d": detail,
            "purposes": purposes_of(dataset),
            "runs": [describe_run(r, whole) for r in runs],
            "validation": summarise_validation(runs) if whole else None,
            "preview": preview,
            "denied": denied,
            "columns": [f.name for f in detail.schema_.fields],
            "run_errors": {r.id: access.redact_run_error(r.error, whole) for r in runs},
        },
    )
    # the same URL answers DCAT-AP documents (above)
    page.headers["Vary"] = f"Accept, {page.headers['Vary']}"
    return page


def read_preview(
    session: Session, dataset: Dataset, caller: reading.Caller
) -> tuple[list[dict[str, Any]], str | None]:
    """The latest records the caller may read, else why none are shown.

    A page view is no attempt to read: refusals are not logged, reads are (by hub.reading).
    """
    given = access.grant(dataset, caller.actor)
    if not given.reads_rows:
        return [], given.reason
    try:
        return reading.read_latest(session, dataset, caller, PREVIEW_ROWS), None
    except catalogue.NotFound:
        return [], None


def purposes_of(dataset: Dataset) -> list[str]:
    """The purposes of the charter version a dataset was published under."""
    try:
        versions = charters.charter_versions(dataset.charter_id)
    except charters.CharterError:
        log.warning("charter %s of %s not found", dataset.charter_id, dataset.id)
        return []
    matching = [c for c in versions if c.version == dataset.charter_version] or versions
    return list(matching[-1].purposes)


def summarise_validation(runs: list[HarvestRun]) -> dict[str, Any] | None:
    """The newest run's report reduced to what a page shows: validity, counts, errors by type."""
    run = next((r for r in runs if r.report is not None), None)
    if run is None or run.report is None:
        return None
    report = run.report
    listed = [e for task in report.get("tasks", []) for e in task.get("errors", [])]
    by_type = Counter(str(e.get("type", "error")) for e in listed).most_common()
    rows = sum(t.get("stats", {}).get("rows", 0) for t in report.get("tasks", []))
    return {
        "run": run,
        "valid": report.get("valid", False),
        "rows": rows,
        "errors": report.get("stats", {}).get("errors", len(listed)),
        "by_type": by_type,
        "partial": len(listed) < report.get("stats", {}).get("errors", 0),
    }
