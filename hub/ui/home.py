"""The catalogue's home: full-text search with facets, area, dates, sort and pages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlmodel import Session, col, select
from starlette.responses import Response

from hub import access, catalogue, geo, search, searchsuggestions
from hub.api.deps import SessionDep
from hub.api.guards import base_url
from hub.api.shapes import summarise, summarise_grid
from hub.models import Dataset, Resource
from hub.ui import i18n
from hub.ui.i18n import gettext as _
from hub.ui.pages import N_, access_name, render, theme_name
from hub.ui.territory import example_area, map_settings
from hub.ui.visitors import Visitor, VisitorDep

PAGE_SIZE = 20
PAGE_WINDOW = 2  # page links either side of the current one
MAX_TEXT = 500  # characters of search words
MAX_CHOSEN = 20  # values chosen in one facet
MAX_VALUE = 200  # characters of one chosen value


@dataclass(frozen=True)
class Facet:
    """One filter group: its query parameter, the search field it counts and its legend."""

    parameter: str
    field: str
    legend: str


FACETS = (
    Facet("theme", "theme", N_("Theme")),
    Facet("organization", "organization", N_("Organization")),
    Facet("licence", "license_id", N_("Licence")),
    Facet("access", "access", N_("Access")),
    Facet("format", "res_format", N_("Format")),
    Facet("freshness", "freshness", N_("Last new data")),
    Facet("timeliness", "timeliness", N_("Up to date?")),
)
FRESHNESS_NAMES = {
    "day": N_("less than a day ago"),
    "week": N_("1 to 7 days ago"),
    "month": N_("7 to 30 days ago"),
    "older": N_("more than 30 days ago"),
    "never": N_("no data yet"),
}
# Licence ids named by the hub, not by a dataset (hub.licences): "custom" gathers bespoke
# licences, each dataset titling its own, so no one dataset's title may stand for them all.
LICENCE_NAMES = {
    "etalab-2.0": N_("Licence Ouverte 2.0 (Etalab)"),
    "ODbL-1.0": N_("ODbL 1.0 (share-alike)"),
    "ODC-BY-1.0": N_("ODC-BY 1.0 (attribution)"),
    "PDDL-1.0": N_("PDDL 1.0 (public domain)"),
    "CC0-1.0": N_("CC0 1.0 (public domain)"),
    "public-domain": N_("Public domain"),
    "CC-BY-4.0": N_("CC BY 4.0 (attribution)"),
    "CC-BY-3.0": N_("CC BY 3.0 (attribution)"),
    "CC-BY-SA-4.0": N_("CC BY-SA 4.0 (share-alike)"),
    "CC-BY-SA-3.0": N_("CC BY-SA 3.0 (share-alike)"),
    "CC-BY-NC-4.0": N_("CC BY-NC 4.0 (non-commercial use only)"),
    "other-at": N_("Other licence (attribution)"),
    "notspecified": N_("Licence not specified: no reuse without the producer's agreement"),
    "custom": N_("the dataset's own licence"),
}
TIMELINESS_NAMES = {
    "fresh": N_("up to date"),
    "stale": N_("late for its theme"),
}
SORTS = {
    "relevance": (N_("Relevance"), search.RELEVANCE),
    "title": (N_("Title (A to Z)"), (("title", False),)),
    "modified": (N_("Last modified"), (("metadata_modified", True),)),
}
# The fields as the page labels them: the form and its error summary name them alike.
FIELD_NAMES = {
    "q": N_("Search datasets"),
    "bbox": N_("Area"),
    "from": N_("From"),
    "until": N_("Until"),
    "page": N_("Page"),
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def render_home(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    """Search the catalogue: words, facets, area and time coverage, sorted and paged."""
    # The labels and messages built here speak the page's language.
    language = i18n.negotiate(
        request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
    )
    with i18n.speaking(language):
        return _home(request, session, visitor, language)


def _home(request: Request, session: Session, visitor: Visitor, language: str) -> Response:
    """The page in `language`: bad parameters are explained (400) and left out of the search."""
    params = request.query_params
    errors: dict[str, str] = {}
    text = params.get("q", "").strip()
    if len(text) > MAX_TEXT:
        errors["q"] = _("Use at most %(n)s characters.") % {"n": MAX_TEXT}
        text = text[:MAX_TEXT]  # shown in the box to be shortened, not searched
    chosen = {f.parameter: _chosen(params.getlist(f.parameter)) for f in FACETS}
    bbox_text = params.get("bbox", "").strip()
    example = example_area(session)  # the territory's own box, not a city elsewhere
    bbox = _area(bbox_text, example, errors) if bbox_text else None
    from_text, until_text = params.get("from", "").strip(), params.get("until", "").strip()
    covers_from = _day(from_text, "from", errors)
    covers_until = _day(until_text, "until", errors)
    if covers_from and covers_until and covers_from > covers_until:
        errors["until"] = _("The end date must be on or after the start date.")
        covers_until = None
    sort = params.get("sort", "relevance")
    sort = sort if sort in SORTS else "relevance"
    page = _page(params.get("page", "1"), errors)

    actor = visitor.actor
    query = search.Query(
        text="" if "q" in errors else text,
        filters={f.field: chosen[f.parameter] for f in FACETS if chosen[f.parameter]},
        bbox=bbox,
        covers_from=datetime.combine(covers_from, time.min, UTC) if covers_from else None,
        covers_until=datetime.combine(covers_until, time.max, UTC) if covers_until else None,
        sort=SORTS[sort][1],
        limit=PAGE_SIZE,
        offset=min((page - 1) * PAGE_SIZE, 2**62),
        facets=tuple(f.field for f in FACETS),
        facets_beside_filters=True,
    )
    found = search.find(session, query, actor)
    # Nothing found: a correction from the catalogue's own words, if it finds something.
    suggestion = searchsuggestions.suggest(session, query, actor) if not found.total else None
    organizations = {o.id: o for o in catalogue.organizations(session)}
    root = base_url(request)
    listed = search.datasets(session, found.ids)
    shown = [
        summarise(d, organizations.get(d.organization_id), root, access.sees_computed(d, actor))
        for d in listed
    ]
    # a grid holds values, not records: its result says how many (as its page does)
    sized = {d.id for d in listed if access.sees_computed(d, actor)}
    grids = {
        r.dataset_id: summarise_grid(r, r.dataset_id in sized)
        for r in session.exec(
            select(Resource).where(
                col(Resource.dataset_id).in_([d.id for d in listed]), Resource.kind == "grid"
            )
        )
    }
    licences = [v for v, _n in found.facets.get("license_id", [])] + chosen["licence"]
    names = _value_names(session, organizations, licences)
    # What the visitor asked for, as the form and the links keep it (bad values left out).
    kept: list[tuple[str, str]] = [("q", text)] if text else []
    for facet in FACETS:
        kept += [(facet.parameter, v) for v in chosen[facet.parameter]]
    kept += [(k, v) for k, v in (("bbox", bbox_text), ("from", from_text), ("until", until_text))]
    kept = [(k, v) for k, v in kept if v and k not in errors]
    if sort != "relevance":
        kept.append(("sort", sort))
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    return render(
        request,
        visitor,
        "index.html",
        {
            "q": text,
            "count": found.total,
            "suggestion": suggestion,
            "suggestion_url": _url([("q", suggestion), *[p for p in kept if p[0] != "q"]])
            if suggestion
            else None,
            "datasets": shown,
            "grids": grids,
            "facets": [
                _facet(facet, found.facets.get(facet.field, []), chosen, names) for facet in FACETS
            ],
            "chosen": _chips(chosen, names, kept),
            "bbox": bbox_text,
            "example_area": example,
            "covers_from": from_text,
            "covers_until": until_text,
            "sort": sort,
            "sorts": [(key, _(label)) for key, (label, _keys) in SORTS.items()],
            "page": page,
            "pages": pages,
            "page_links": _page_links(page, pages, kept),
            "last_page_url": _url(kept, page=pages),
            "prev_url": _url(kept, page=page - 1),
            "next_url": _url(kept, page=page + 1),
            "errors": errors,
            "field_names": {k: _(v) for k, v in FIELD_NAMES.items()},
            "clear_url": _url([("q", text)] if text else []),
            **map_settings(),
        },
        status_code=400 if errors else 200,
        language=language,
    )


def _chosen(values: list[str]) -> list[str]:
    """A facet's chosen values, once each, within bounds (an absurd query is cut, not refused)."""
    unique = list(dict.fromkeys(v.strip()[:MAX_VALUE] for v in values if v.strip()))
    return unique[:MAX_CHOSEN]


def _area(
    text: str, example: str, errors: dict[str, str]
) -> tuple[float, float, float, float] | None:
    """The typed or picked area as (west, south, east, north), or an error message for it."""
    try:
        box = geo.parse_bbox(text)
    except ValueError:
        errors["bbox"] = _(
            "Type the area as four numbers separated by commas: west, south, east, north "
            "(longitudes from -180 to 180, latitudes from -90 to 90)."
        )
        if example:
            errors["bbox"] += " " + _("For example %(area)s.") % {"area": example}
        return None
    if box[0] > box[2]:
        errors["bbox"] = _("The west edge of the area must be less than its east edge.")
        return None
    return (box[0], box[1], box[2], box[3])


def _day(text: str, name: str, errors: dict[str, str]) -> date | None:
    """A date typed as YYYY-MM-DD (the date field's value), or an error message for it."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = _("Type a date as year-month-day, for example 2026-03-01.")
        return None


def _page(text: str, errors: dict[str, str]) -> int:
    """The page asked for (1 when it is not a whole number from 1)."""
    try:
        page = int(text)
    except ValueError:
        page = 0
    if page < 1 or len(text) > 30:
        errors["page"] = _("A page is a whole number, 1 or more.")
        return 1
    return page


def _value_names(
    session: Session, organizations: dict[str, Any], licence_ids: list[str]
) -> dict[str, dict[str, str]]:
    """How each facet's values read, per facet parameter (values missing here read as-is)."""
    licences = {k: _(v) for k, v in LICENCE_NAMES.items()}
    for licence_id in dict.fromkeys(i for i in licence_ids if i not in licences):
        # One indexed look-up per licence shown, not a scan of the catalogue.
        title = session.exec(
            select(Dataset.licence_title).where(Dataset.licence_id == licence_id).limit(1)
        ).first()
        if title:
            licences.setdefault(licence_id, title)
    return {
        "organization": {o.id: o.name for o in organizations.values()},
        "licence": licences,
        "freshness": {k: _(v) for k, v in FRESHNESS_NAMES.items()},
        "timeliness": {k: _(v) for k, v in TIMELINESS_NAMES.items()},
    }


def _label(parameter: str, value: str, names: dict[str, dict[str, str]]) -> str:
    if parameter == "theme":
        return theme_name(value)
    if parameter == "access":
        return access_name(value)
    return names.get(parameter, {}).get(value, value)


def _facet(
    facet: Facet,
    counts: list[tuple[str, int]],
    chosen: dict[str, list[str]],
    names: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """One filter group as the template shows it: each value with its count and whether it is
    chosen (a chosen value the search no longer counts stays, at 0, so it can be removed)."""
    picked = chosen[facet.parameter]
    counted = dict(counts)
    values = [v for v, _n in counts] + [v for v in picked if v not in counted]
    return {
        "parameter": facet.parameter,
        "legend": _(facet.legend),
        "values": [
            {
                "value": value,
                "label": _label(facet.parameter, value, names),
                "count": counted.get(value, 0),
                "chosen": value in picked,
            }
            for value in values
        ],
    }


def _chips(
    chosen: dict[str, list[str]],
    names: dict[str, dict[str, str]],
    kept: list[tuple[str, str]],
) -> list[dict[str, str]]:
    """The filters in force, each with the link that removes it."""
    chips = []
    for facet in FACETS:
        for value in chosen[facet.parameter]:
            chips.append(
                {
                    "group": _(facet.legend),
                    "label": _label(facet.parameter, value, names),
                    "url": _url([p for p in kept if p != (facet.parameter, value)]),
                }
            )
    for key, group in (("bbox", N_("Area")), ("from", N_("From")), ("until", N_("Until"))):
        typed = next((v for k, v in kept if k == key), "")
        if typed:
            chips.append(
                {
                    "group": _(group),
                    "label": typed if key == "bbox" else i18n.day(date.fromisoformat(typed)),
                    "url": _url([p for p in kept if p[0] != key]),
                }
            )
    return chips


def _page_links(page: int, pages: int, kept: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The first, last and nearby pages, with a gap (None) where pages are skipped."""
    numbers = sorted(
        {1, pages, *range(max(1, page - PAGE_WINDOW), min(pages, page + PAGE_WINDOW) + 1)}
    )
    links: list[dict[str, Any]] = []
    for number in numbers:
        if links and number - links[-1]["number"] > 1:
            links.append({"number": None})
        links.append({"number": number, "url": _url(kept, page=number)})
    return links


def _url(params: list[tuple[str, str]], page: int = 1) -> str:
    """The home page with these parameters (and the page, when not the first)."""
    query = urlencode([*params, *([("page", str(page))] if page > 1 else [])])
    return f"/?{query}" if query else "/"
