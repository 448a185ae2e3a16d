"""DCAT-AP 3 routes: `/catalog.{jsonld,ttl,rdf}` paged with Hydra, and one document a dataset.

The catalogue's IRI, `{base}catalog`, dereferences too: 303 to the document in the syntax
`Accept` prefers, or to the catalogue's page for a browser (a dataset's IRI is its page).

Harvesters (data.europa.eu, ckanext-dcat, udata) follow the catalogue's `hydra:next`. Every URL
in the documents comes from HUB_PUBLIC_URL (`base_url`), never from the request's Host header.
Each document carries an ETag of what it says (`documents.fingerprint`): a nightly harvester
sending it back in If-None-Match gets a 304 for every page and dataset that has not changed for
it.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from hub.access import Actor, shared_level
from hub.api.auth import CallerDep
from hub.api.dcat import documents, graph, listing
from hub.api.deps import SessionDep
from hub.api.guards import base_url, find_dataset
from hub.api.headers import shows_credentials
from hub.api.instants import Instant
from hub.models import Dataset, as_utc

router = APIRouter(tags=["dcat"])
PAGE_SIZE = 100  # datasets a catalogue page, as ckanext-dcat's default
MAX_PAGE = 2**31  # far past any catalogue, and no offset overflows
RDF_ANSWERS: dict[int | str, dict[str, object]] = {
    200: {
        "description": "the DCAT-AP 3 document",
        "content": {s.media_type: {} for s in documents.SYNTAXES.values()},
    },
    304: {"description": "If-None-Match holds the current ETag"},
    404: {"description": "no such syntax, page or dataset"},
}


@router.get(
    "/catalog",
    status_code=303,
    responses={303: {"description": "to `catalog.{jsonld,ttl,rdf}`, or to the catalogue's page"}},
    response_class=RedirectResponse,
)
def dereference_catalog(request: Request) -> RedirectResponse:
    """The catalogue's IRI: 303 to its DCAT-AP document in the syntax `Accept` prefers (its
    query, a page say, kept), or to the catalogue's page."""
    root = base_url(request)
    syntax = documents.negotiate(request.headers.get("accept", ""))
    query = f"?{request.url.query}" if request.url.query else ""
    target = f"{root}catalog.{syntax.suffix}{query}" if syntax else root
    return RedirectResponse(target, status_code=303, headers={"Vary": "Accept"})


@router.get("/catalog.{suffix}", responses=RDF_ANSWERS, response_class=Response)
def read_catalog(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    suffix: str,
    page: int = Query(1, ge=1, le=MAX_PAGE, description=f"from 1; {PAGE_SIZE} datasets a page"),
    modified_since: Annotated[
        Instant | None,
        Query(
            description="only datasets whose metadata or data changed at or after this time "
            "(ISO 8601): rows published, updated or withdrawn, a grid replaced"
        ),
    ] = None,
) -> Response:
    """The catalogue in DCAT-AP 3 (jsonld, ttl or rdf), 100 datasets a page, paged with Hydra."""
    syntax = syntax_named(suffix)
    since = as_utc(modified_since) if modified_since else None
    found = listing.load_page(session, page, PAGE_SIZE, since)
    last = max(1, -(-found.total // PAGE_SIZE))
    if page > last:
        raise HTTPException(404, f"no page {page}: the catalogue has {last} page(s)")
    root = base_url(request)

    def link(number: int) -> str:
        query = {"page": number} | ({"modified_since": since.isoformat()} if since else {})
        return f"{root}catalog.{syntax.suffix}?{urlencode(query)}"

    view = graph.View(page, last, link)
    document = graph.catalog_graph(found, root, view, caller.actor)
    # A page shows a token holder more (extents, counts of the datasets opened to them).
    shared = not shows_credentials(request.scope)
    return documents.answer(request, document, syntax, shared, pager_links(view))


@router.get(
    "/api/v1/datasets/{dataset_id}/dcat.{suffix}", responses=RDF_ANSWERS, response_class=Response
)
def read_dataset_document(
    request: Request, session: SessionDep, caller: CallerDep, dataset_id: str, suffix: str
) -> Response:
    """One dataset in DCAT-AP 3 (jsonld, ttl or rdf); also at its page, by `Accept`."""
    syntax = syntax_named(suffix)
    dataset = find_dataset(session, dataset_id)
    return dataset_answer(request, session, dataset, caller.actor, syntax)


def dataset_answer(
    request: Request,
    session: Session,
    dataset: Dataset,
    actor: Actor,
    syntax: documents.Syntax,
    headers: dict[str, str] | None = None,
) -> Response:
    """A dataset's DCAT-AP document as `actor` may see it, with its ETag (as the detail's)."""
    entry = listing.load_entry(session, dataset)
    document = graph.dataset_graph(entry, base_url(request), actor)
    return documents.answer(request, document, syntax, shared_level(dataset) == "open", headers)


def syntax_named(suffix: str) -> documents.Syntax:
    """The syntax a path's suffix names, or a 404 that lists them."""
    syntax = documents.SYNTAXES.get(suffix)
    if syntax is None:
        known = ", ".join(sorted(documents.SYNTAXES))
        raise HTTPException(404, f"no DCAT document in {suffix!r}: ask for {known}")
    return syntax


def pager_links(view: graph.View) -> dict[str, str]:
    """The page's neighbours as a Link header, for clients that read no Hydra."""
    links = {"first": 1, "last": view.last}
    if view.number > 1:
        links["prev"] = view.number - 1
    if view.number < view.last:
        links["next"] = view.number + 1
    return {"Link": ", ".join(f'<{view.link(n)}>; rel="{rel}"' for rel, n in links.items())}
