"""The catalogue's home: full-text search with facets, server-rendered."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from hub import access, catalogue, search
from hub.api.deps import SessionDep
from hub.api.guards import base_url
from hub.api.shapes import summarise
from hub.ui.pages import render
from hub.ui.visitors import VisitorDep

PAGE_SIZE = 50

router = APIRouter(include_in_schema=False)


@router.get("/")
def render_home(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    q: str = "",
    theme: str | None = None,
    organization: str | None = None,
    page: int = Query(1, ge=1),
) -> Response:
    """Search the catalogue, with theme and organization facets."""
    actor = visitor.actor
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
        actor,
    )
    root = base_url(request)
    shown = [
        summarise(d, organizations.get(d.organization_id), root, access.sees_computed(d, actor))
        for d in search.datasets(session, found.ids)
    ]
    return render(
        request,
        visitor,
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
