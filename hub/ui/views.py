"""The catalogue's pages: home (search and facets) and one page per dataset, server-rendered."""

from __future__ import annotations

import logging
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlmodel import Session

from hub import access, catalogue, charters, reading, search
from hub.api.auth import CallerDep
from hub.api.dcat import documents as dcat_documents
from hub.api.dcat import routes as dcat_routes
from hub.api.deps import SessionDep
from hub.api.guards import base_url
from hub.api.shapes import THEMES, as_utc, describe, describe_run, summarise
from hub.models import Dataset, HarvestRun

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
PAGE_SIZE = 50
PREVIEW_ROWS = 20

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in words: "just now", "12 min ago", "3 h ago", "5 days ago"."""
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - as_utc(moment)).total_seconds()  # type: ignore[operator]
    if seconds < 60:
        return "just now"
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day")):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return f"{int(seconds // 3600)} h ago" if seconds >= 3600 else f"{int(seconds // 60)} min ago"


def utc(moment: datetime | str | None, precise: bool = False) -> str:
    """A time for people: `2024-05-01 12:00 UTC`."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    stamp = as_utc(moment)
    assert stamp is not None
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC" if precise else "%Y-%m-%d %H:%M UTC")


def iso(moment: datetime | None) -> str:
    """A machine-readable time for <time datetime="…">."""
    stamp = as_utc(moment)
    return stamp.isoformat().replace("+00:00", "Z") if stamp else ""


def sentence(text: str) -> str:
    """Text starting with a capital letter (the gate's reasons start lower-case)."""
    return text[:1].upper() + text[1:]


def ticks(text: str | None) -> Markup:
    """Escape text and show `backticked` words as code, as schema descriptions write them."""
    escaped = str(escape(text or ""))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


def link(base: Any, **params: str | None) -> str:
    """`base` with the non-empty query parameters (so facet links stay clean)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{base}?{query}" if query else str(base)


templates.env.filters.update(
    ago=ago,
    utc=utc,
    iso=iso,
    number=lambda n: "—" if n is None else f"{n:,}",
    sentence=sentence,
    ticks=ticks,
)
templates.env.globals.update(themes=THEMES, link=link)


@router.get("/", response_class=HTMLResponse)
def render_home(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    q: str = "",
    theme: str | None = None,
    organization: str | None = None,
    page: int = Query(1, ge=1),
) -> HTMLResponse:
    """Search the catalogue, with theme and organization facets."""
    organizations = {o.id: o for o in catalogue.organizations(session)}
    start = (page - 1) * PAGE_SIZE
    filters = {
        "theme": [theme] if theme else [],
        "organization": [organization] if organization else [],
    }
    found = search.find(
        session,
        search.Query(
            text=q,
            filters=filters,
            limit=PAGE_SIZE,
            offset=start,
            facets=("theme", "organization"),
            facets_beside_filters=True,
        ),
        caller.actor,
    )
    root = base_url(request)
    shown = [
        summarise(
            d, organizations.get(d.organization_id), root, access.sees_computed(d, caller.actor)
        )
        for d in search.datasets(session, found.ids)
    ]
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "q": q,
            "theme": theme,
            "organization": organization,
            "page": page,
            "count": found.total,
            "datasets": shown,
            "more": start + PAGE_SIZE < found.total,
            "theme_facets": found.facets["theme"],
            "organization_facets": [
                (organizations[o].name if o in organizations else o, o, n)
                for o, n in found.facets["organization"]
            ],
        },
    )


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def render_dataset(
    request: Request, session: SessionDep, caller: CallerDep, dataset_id: str
) -> Response:
    """One dataset: charter, schema, validation, runs, preview and API links; its DCAT-AP
    document when `Accept` prefers Turtle, JSON-LD or RDF/XML to HTML."""
    try:
        dataset = catalogue.get(session, dataset_id)
    except catalogue.NotFound:
        return templates.TemplateResponse(
            request, "missing.html", {"dataset_id": dataset_id}, status_code=404
        )
    syntax = dcat_documents.negotiate(request.headers.get("accept", ""))
    if syntax is not None:
        return dcat_routes.dataset_answer(
            session, dataset, base_url(request), caller.actor, syntax, {"Vary": "Accept"}
        )
    whole = access.sees_computed(dataset, caller.actor)
    detail = describe(session, dataset, base_url(request), whole)
    runs = catalogue.runs_of(session, dataset_id, limit=20)
    preview, denied = read_preview(session, dataset, caller)
    page = templates.TemplateResponse(
        request,
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
    page.headers["Vary"] = "Accept"  # the same URL answers DCAT-AP documents (above)
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
