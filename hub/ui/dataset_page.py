"""One page per dataset: charter, interview, chart, map, grid, validation, runs, preview, downloads.

Everything computed from records comes through `hub.reading` with the visitor's caller, so a
page shows only the rows its visitor may read and each read of non-open data is logged. The
page reads once, and a bounded amount: the newest `NEWEST_ROWS` records feed the preview, the
chart and the map's summary, whatever the size of the dataset.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from hub import access, catalogue, charters, charterterms, crises, licences, reading
from hub.access import AccessDenied
from hub.api.dcat import documents as dcat_documents
from hub.api.dcat import routes as dcat_routes
from hub.api.deps import SessionDep
from hub.api.guards import base_url
from hub.api.shapes import describe, describe_run
from hub.models import Dataset, HarvestRun, QuarantinedRow
from hub.records import Layout, QueryError
from hub.selfdata import scopes
from hub.ui import alertlist, chartselection, i18n, interview, mapplaces, refusals
from hub.ui.charts import chart_of, chart_texts
from hub.ui.gridpictures import grid_preview
from hub.ui.pages import render
from hub.ui.situation import SEVERITY_NAMES
from hub.ui.territory import MEDIA_TYPE, map_settings
from hub.ui.visitors import Visitor, VisitorDep

log = logging.getLogger(__name__)

PREVIEW_ROWS = 20
NEWEST_ROWS = 600  # one bounded read feeds the preview, the chart and the map's summary
MAP_ROWS = 2_000  # newest rows the map's GeoJSON reads …
MAP_FEATURES = 500  # … and the places it sends at most (the newest record of each)
QUARANTINE_SHOWN = 20
RUNS_SHOWN = 20


router = APIRouter(include_in_schema=False)


@router.get("/datasets/{dataset_id}")
def render_dataset(
    request: Request, session: SessionDep, visitor: VisitorDep, dataset_id: str
) -> Response:
    """One dataset: charter in plain words, interview card, chart, map, grid preview,
    validation, runs, preview and ways to get the data; its DCAT-AP document when `Accept`
    prefers Turtle, JSON-LD or RDF/XML to HTML."""
    try:
        dataset = catalogue.get(session, dataset_id)
    except catalogue.NotFound:
        return render(request, visitor, "missing.html", {"dataset_id": dataset_id}, 404)
    caller = visitor.caller
    syntax = dcat_documents.negotiate(request.headers.get("accept", ""))
    if syntax is not None:
        return dcat_routes.dataset_answer(
            request, session, dataset, caller.actor, syntax, {"Vary": "Accept"}
        )
    language = i18n.negotiate(
        request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
    )
    given = grant_of(session, dataset, visitor)
    whole = given.whole
    root = base_url(request)
    detail = describe(session, dataset, root, whole)
    runs = catalogue.runs_of(session, dataset_id, limit=RUNS_SHOWN)
    newest, shape = read_newest(session, dataset, caller, given)
    charter = charter_of(dataset)
    term = charterterms.term(dataset.charter_id)
    sees_members = charter is not None and access.sees_members(charter, caller.actor)
    with i18n.speaking(language):  # the sentences built here are in the page's language
        facts = interview.card(
            session,
            dataset,
            detail,
            runs,
            charter,
            whole,
            reads_log=caller.actor.role == "admin",
            term=term,
            sees_members=sees_members,
        )
        card = interview.answers(facts)
        refusal = None if given.reads_rows else refusal_text(given)
        validation = summarise_validation(runs) if whole else None
        quarantined = quarantine_of(session, dataset, caller, validation)
        notes = {r.id: run_note(r, whole) for r in runs}
        alerts = alertlist.is_alert(shape)  # listed, not charted: their one number is an index
        chosen = chartselection.selection_of(request.query_params)
        charted = selected = select(session, dataset, caller, shape, chosen, given, alerts)
        if not chosen.chosen:
            charted = newest
        if chosen.daily and shape:
            charted = chartselection.daily_means(shape, charted)
        chart = chart_of(shape, charted) if shape and not alerts else None
        chart_rows = chart_texts(chart) if chart else []
    columns = [f.name for f in detail.schema_.fields]
    grid = grid_preview(session, dataset, caller) if whole else None
    page = render(
        request,
        visitor,
        "dataset.html",
        {
            "d": detail,
            "charter": charter,
            # how long its versions share it today: what hub.access judges reads by
            "term": term,
            "expired": bool(term and term.ended),
            "sees_members": sees_members,
            "purposes": list(charter.purposes) if charter else [],
            "licence_open": licences.is_open(dataset.licence_id),
            "interview": card,
            "runs": [describe_run(r, whole) for r in runs],
            "validation": validation,
            "quarantine": quarantined,
            "preview": newest[:PREVIEW_ROWS],
            "denied": refusal,
            "columns": alertlist.columns_in_reading_order(columns) if alerts else columns,
            "types": {f.name: f.type for f in detail.schema_.fields},
            "titles": {f.name: f.title for f in detail.schema_.fields if f.title},
            "run_errors": notes,
            "chart": chart,
            "chart_rows": chart_rows,
            "selection": chosen,
            "chart_places": chartselection.places(shape, newest + selected, chosen.place)
            if shape and not alerts
            else [],
            "selection_links": chartselection.download_links(root, dataset.id, shape, chosen)
            if shape and given.reads_rows and "records" in detail.links
            else {},
            "alerts": alertlist.alert_lines(newest) if alerts else None,
            "severity_names": SEVERITY_NAMES,
            "map": map_of(request, dataset, shape, newest, whole, given.reads_rows),
            "grid": grid,
            "snippets": snippets(session, dataset, root, detail.links),
        },
        language=language,
    )
    # the same URL answers DCAT-AP documents (above)
    page.headers["Vary"] = f"Accept, {page.headers['Vary']}"
    return page


@router.get("/datasets/{dataset_id}/map.geojson")
def dataset_places(session: SessionDep, visitor: VisitorDep, dataset_id: str) -> JSONResponse:
    """The places of a dataset's newest records the visitor may read, as GeoJSON points (the
    newest record of each place, absences apart, with the count of records there: hub.mapplaces),
    for the page's map; 403 when the charter opens none."""
    try:
        dataset = catalogue.get(session, dataset_id)
        shape = reading.layout(session, dataset)
    except catalogue.NotFound as missing:
        return JSONResponse({"detail": str(missing)}, 404)
    lon, lat = reading.coordinates(shape)
    if not (lon and lat):
        return JSONResponse(
            {"type": "FeatureCollection", "features": []},
            media_type=MEDIA_TYPE,
            headers={"Vary": "Cookie, Authorization"},
        )
    try:
        rows = reading.read_latest(session, dataset, visitor.caller, MAP_ROWS)
    except AccessDenied as denied:  # an asked-for read: the refusal is logged (hub.reading)
        return JSONResponse({"detail": denied.reason}, 403)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [p.row[lon], p.row[lat]]},
            "properties": mapplaces.popup_properties(p.row, shape, lon, lat),
            # a foreign member (RFC 7946 §6.1): how the map draws it, apart from the record
            "hub": {"records": p.records, "absent": p.absent},
        }
        for p in mapplaces.places_of(rows, lon, lat)[:MAP_FEATURES]
    ]
    return JSONResponse(
        {"type": "FeatureCollection", "features": features},
        media_type=MEDIA_TYPE,
        # what it holds depends on who asks: no shared cache may keep one visitor's answer
        headers={"Cache-Control": "private, no-store", "Vary": "Cookie, Authorization"},
    )


def grant_of(session: Session, dataset: Dataset, visitor: Visitor) -> access.Grant:
    """The visitor's grant, as hub.reading computes it (a subject's own rows, a crisis cell's
    area count)."""
    engine = reading.engine_of(session)
    held = scopes.readable(engine, dataset, visitor.actor, "")
    zones = crises.zones(engine, dataset, visitor.actor)
    # purpose "": a page's reads declare none (hub.reading then asks what this grant asks)
    return access.grant(dataset, visitor.actor, purpose="", subjects=held, zones=zones)


def read_newest(
    session: Session, dataset: Dataset, caller: reading.Caller, given: access.Grant
) -> tuple[list[dict[str, Any]], Layout | None]:
    """The newest records the caller may read (one logged read), and their table's layout.

    A page view is no attempt to read: a visitor granted nothing is not read for, so no
    refusal is logged; reads are (by hub.reading).
    """
    try:
        shape = reading.layout(session, dataset)
    except catalogue.NotFound:
        return [], None
    if not given.reads_rows:
        return [], shape
    try:
        return reading.read_latest(session, dataset, caller, NEWEST_ROWS), shape
    except AccessDenied:  # the grant changed between the two looks
        return [], shape


def select(
    session: Session,
    dataset: Dataset,
    caller: reading.Caller,
    shape: Layout | None,
    chosen: chartselection.Selection,
    given: access.Grant,
    alerts: bool,
) -> list[dict[str, Any]]:
    """The rows of the visitor's chart selection (one logged read), none when nothing is chosen
    or nothing may be read."""
    if not chosen.chosen or shape is None or alerts or not given.reads_rows:
        return []
    try:
        return chartselection.read_selection(session, dataset, caller, shape, chosen)
    except (AccessDenied, QueryError):  # a place value its field cannot hold: nothing found
        return []


def refusal_text(given: access.Grant) -> str:
    """Why the visitor sees no records, in the page's language (from the grant's code)."""
    return refusals.message_text(given.message, i18n.gettext)


def error_type_text(kind: str) -> str:
    """A validation error type in the page's language."""
    return refusals.error_type_text(kind, i18n.gettext)


def run_note(run: HarvestRun, whole: bool) -> str:
    """A run's error in the page's language: all of it, or only its kind (`whole` False)."""
    shown = access.run_error(run.error, whole)
    return refusals.message_text(shown, i18n.gettext) if shown else ""


def charter_of(dataset: Dataset) -> charters.Charter | None:
    """The charter version a dataset was published under (else its latest version)."""
    try:
        versions = charters.charter_versions(dataset.charter_id)
    except charters.CharterError:
        log.warning("charter %s of %s not found", dataset.charter_id, dataset.id)
        return None
    matching = [c for c in versions if c.version == dataset.charter_version] or versions
    return matching[-1] if matching else None


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
        "by_type": [(kind, error_type_text(kind), n) for kind, n in by_type],
        "partial": len(listed) < report.get("stats", {}).get("errors", 0),
    }


@dataclass(frozen=True)
class Quarantined:
    """A quarantined row as the page lists it: its number and each problem's field and cell."""

    row: int
    problems: list[tuple[str, str, str]]  # (type in words, field, cell)


def quarantine_of(
    session: Session,
    dataset: Dataset,
    caller: reading.Caller,
    validation: dict[str, Any] | None,
) -> list[Quarantined]:
    """The first quarantined rows of the validated run, for those who may read every row (the
    validation summary exists only for them); one logged read."""
    if not validation or not validation["run"].rows_quarantined:
        return []
    try:
        found = reading.read_quarantine(
            session, dataset, caller, validation["run"].id, QUARANTINE_SHOWN
        )
    except AccessDenied:
        return []
    return [quarantined_row(r) for r in found.rows]


def quarantined_row(row: QuarantinedRow) -> Quarantined:
    """A quarantined row's problems: the error type, the field and the cell it is about."""
    problems = []
    for error in row.errors:
        name = str(error.get("fieldName") or error.get("field") or "")
        cell = error.get("cell")
        if cell is None and name:
            cell = row.cells.get(name)
        problems.append(
            (error_type_text(str(error.get("type", "error"))), name, "" if cell is None else cell)
        )
    return Quarantined(row.row_number, problems)


# --- map -----------------------------------------------------------------------------------


def map_of(
    request: Request,
    dataset: Dataset,
    shape: Layout | None,
    newest: list[dict[str, Any]],
    whole: bool,
    reads_rows: bool,
) -> dict[str, Any] | None:
    """What the page's map draws: the records' places (a GeoJSON URL of this UI, read with
    the visitor's session), else the extent for those who may see it; None: nothing to draw."""
    lon, lat = reading.coordinates(shape) if shape else (None, None)
    bbox = dataset.bbox if whole and dataset.bbox else None
    found = mapplaces.places_of(newest, lon, lat) if lon and lat else []
    places = len(found)
    absences, crowded = mapplaces.summary_counts(found)
    if not places and not bbox:
        return None
    return {
        **map_settings(),
        "geojson": str(request.url_for("dataset_places", dataset_id=dataset.id))
        if places and reads_rows
        else "",
        "bbox": ",".join(f"{v:.5f}" for v in bbox) if bbox else "",
        "box": bbox,
        "places": places,
        "absences": absences,
        "crowded": crowded,
        "read": len(newest),
    }


# --- ways to get the data -------------------------------------------------------------------


def snippets(
    session: Session, dataset: Dataset, root: str, links: dict[str, str]
) -> dict[str, str]:
    """Copy-ready calls for this dataset: curl, the ckanapi command, Python (httpx, ckanapi);
    its records, else its grid, else its metadata (as its detail's `links` name them)."""
    api = f"{root}api/v1/datasets/{dataset.id}"
    token = access.shared_level(dataset) != "open"
    auth_header = ' \\\n  -H "Authorization: Bearer $HUB_TOKEN"' if token else ""
    py_headers = (
        '\n    headers={"Authorization": f"Bearer {os.environ[\'HUB_TOKEN\']}"},' if token else ""
    )
    py_import = "import os\n\n" if token else ""
    key = ' -c "$HUB_TOKEN"' if token else ""
    ckan_key = ', apikey=os.environ["HUB_TOKEN"]' if token else ""
    try:
        resource = catalogue.resource_of(session, dataset.id).id
    except catalogue.NotFound:
        resource = ""
    ckan_cli = f"ckanapi action package_show id={dataset.id} -r {root.rstrip('/')}{key}"
    ckan_py = (
        f"{py_import}from ckanapi import RemoteCKAN\n\n"
        f'hub = RemoteCKAN("{root.rstrip("/")}"{ckan_key})\n'
        f'package = hub.action.package_show(id="{dataset.id}")\n'
    )
    if resource:
        ckan_cli += (
            f"\nckanapi action datastore_search resource_id={resource} limit=100"
            f" -r {root.rstrip('/')}{key}"
        )
        ckan_py += (
            f'rows = hub.action.datastore_search(resource_id="{resource}", limit=100)["records"]\n'
        )
    if "records" in links:
        curl = (
            f'curl -sS "{api}/records?limit=100"{auth_header}\n'
            f'curl -sS -o {dataset.id}.csv "{api}/records?format=csv"{auth_header}'
        )
        url, params, read = f"{api}/records", '{"limit": 100}', 'rows = response.json()["records"]'
    elif "grid" in links:
        curl = (
            f'curl -sS "{api}/grid"{auth_header}\n'
            f'curl -sS -o {dataset.id}.nc "{api}/grid?format=netcdf"{auth_header}'
        )
        url, params, read = f"{api}/grid", "{}", "grid = response.json()"
    else:  # a portal's files: the metadata names them
        curl = f'curl -sS "{api}"{auth_header}'
        url, params, read = api, "{}", "dataset = response.json()"
    return {
        "curl": curl,
        "ckanapi": ckan_cli,
        "httpx": (
            f"{py_import}import httpx\n\n"
            f"response = httpx.get(\n"
            f'    "{url}",\n'
            f"    params={params},{py_headers}\n"
            f")\n"
            f"response.raise_for_status()\n"
            f"{read}\n"
        ),
        "ckanapi_python": ckan_py,
    }
