"""/api/v1/datasets/withdrawn: the datasets portals stopped listing, for incremental harvesters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from hub import tombstones
from hub.api.deps import SessionDep
from hub.api.guards import page_url
from hub.api.instants import Instant
from hub.models import as_utc


class WithdrawnOut(BaseModel):
    """A dataset withdrawn from the catalogue: what it was, and when it went."""

    id: str
    title: str
    organization: str = Field(description="the organization id it belonged to")
    theme: str
    source: str = Field(description="the harvest source whose portal stopped listing it")
    run: int | None = Field(description="the harvest run that withdrew it")
    withdrawn_at: datetime


class WithdrawnPage(BaseModel):
    """One page of withdrawn datasets, oldest withdrawal first."""

    count: int = Field(description="datasets withdrawn since the time asked, over all pages")
    datasets: list[WithdrawnOut]
    next: str | None


router = APIRouter()


@router.get("/withdrawn", response_model=WithdrawnPage)
def list_withdrawn(
    request: Request,
    session: SessionDep,
    since: Annotated[
        Instant | None,
        Query(description="withdrawn at or after this time (ISO 8601); all of them without it"),
    ] = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**62),
) -> WithdrawnPage:
    """Datasets withdrawn because their portal stopped listing them (a dataset listed again
    leaves this list): what `updated_since`, `modified_since` and `metadata_modified` cannot
    show, since the dataset is gone."""
    total, page = tombstones.since(session, as_utc(since) if since else None, limit, offset)
    more = offset + len(page) < total
    return WithdrawnPage(
        count=total,
        datasets=[
            WithdrawnOut(
                id=t.id,
                title=t.title,
                organization=t.organization_id,
                theme=t.theme,
                source=t.source_id,
                run=t.run_id,
                withdrawn_at=as_utc(t.withdrawn_at),
            )
            for t in page
        ],
        next=page_url(request, offset=offset + limit) if more else None,
    )
