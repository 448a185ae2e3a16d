"""The organizations' pages: every operator and producer, then each one's datasets and charters."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Query, Request
from sqlalchemy import func
from sqlmodel import col, select
from starlette.responses import Response

from hub import access
from hub.api.deps import SessionDep
from hub.api.guards import base_url
from hub.api.shapes import summarise
from hub.models import Dataset, Organization
from hub.ui.charter_pages import STANDINGS, CharterView, charter_views, today
from hub.ui.pages import render
from hub.ui.visitors import VisitorDep

PAGE_SIZE = 50

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Producer:
    """An organization as the list shows it; `kind` is "" for a producer known only from a
    charter (it has published nothing yet, so the catalogue has no row for it)."""

    id: str
    name: str
    kind: str
    datasets: int
    charters: list[CharterView]


def charters_by_producer(views: list[CharterView]) -> dict[str, list[CharterView]]:
    """The readable charters, by the producer that signed them."""
    found: dict[str, list[CharterView]] = {}
    for view in views:
        if view.current is not None:
            found.setdefault(view.current.producer, []).append(view)
    return found


@router.get("/organizations")
def render_organizations(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    """Every organization: its kind, how many datasets it publishes, its charters."""
    counts = dict(
        session.exec(
            select(Dataset.organization_id, func.count()).group_by(col(Dataset.organization_id))
        ).all()
    )
    signed = charters_by_producer(charter_views(today()))
    organizations = session.exec(select(Organization)).all()
    producers = [
        Producer(o.id, o.name, o.kind, counts.get(o.id, 0), signed.get(o.id, []))
        for o in organizations
    ]
    known = {o.id for o in organizations}
    producers += [
        Producer(producer, producer, "", 0, views)
        for producer, views in signed.items()
        if producer not in known
    ]
    producers.sort(key=lambda p: (p.datasets == 0, p.name.casefold(), p.id))
    return render(request, visitor, "organizations.html", {"producers": producers})


@router.get("/organizations/{organization_id}")
def render_organization(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    organization_id: str,
    page: int = Query(1, ge=1, le=1_000_000),
) -> Response:
    """One organization: its datasets (with access and freshness) and its charters' versions."""
    organization = session.get(Organization, organization_id)
    on = today()
    views = charters_by_producer(charter_views(on)).get(organization_id, [])
    if organization is None and not views:
        return render(
            request,
            visitor,
            "organization.html",
            {"missing": organization_id, "name": organization_id},
            status_code=404,
        )
    total = session.exec(
        select(func.count()).select_from(Dataset).where(Dataset.organization_id == organization_id)
    ).one()
    statement = (
        select(Dataset)
        .where(Dataset.organization_id == organization_id)
        .order_by(col(Dataset.title), col(Dataset.id))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    root = base_url(request)
    actor = visitor.actor
    datasets = [
        summarise(d, organization, root, access.sees_computed(d, actor))
        for d in session.exec(statement).all()
    ]
    per_version = dict(
        ((c, v), n)
        for c, v, n in session.exec(
            select(Dataset.charter_id, Dataset.charter_version, func.count())
            .where(Dataset.organization_id == organization_id)
            .group_by(col(Dataset.charter_id), col(Dataset.charter_version))
        ).all()
    )
    return render(
        request,
        visitor,
        "organization.html",
        {
            "missing": None,
            "organization": organization,
            "organization_id": organization_id,
            "name": organization.name if organization else organization_id,
            "datasets": datasets,
            "total": total,
            "page": page,
            "more": page * PAGE_SIZE < total,
            "views": views,
            "per_version": per_version,
            # charters its datasets name that no readable charter file of its own holds
            "named": sorted({c for c, _v in per_version} - {v.id for v in views}),
            "today": on,
            "standings": STANDINGS,
            "operates": actor.operates(organization_id),
        },
    )
