"""/api/v1/access-log: who read the non-open data of an operator's datasets, and who was refused.

The log names subjects' token ids and purposes, so reading it is itself a read that the log
records (scope `log`): who, the route with its filters, how many entries it took. A subject's
read of their own log (/api/v1/me/access-log) is not logged: it shows only reads of their own
rows, to them, and an entry per visit would bury the reads they look for.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session

from hub import audit, reading
from hub.access import Actor
from hub.api.auth import CallerDep, require_role
from hub.api.deps import SessionDep
from hub.api.guards import refuse_unknown
from hub.api.records import parse_moment
from hub.models import as_utc

router = APIRouter(prefix="/api/v1", tags=["access log"])
# An auditor's misspelt filter (`organization=`, `cursor=`) is a 400 naming these, never the
# whole log passed off as a filtered one; paging is by `after`, as `next` writes it.
PARAMETERS = ("dataset", "from", "to", "after", "limit")


class AccessEventOut(BaseModel):
    """One read (or refused read) of non-open data."""

    id: int = Field(description="position in the hash chain")
    at: datetime
    actor_id: str = Field(description="the token's id (`anonymous` without one)")
    actor_role: str
    organization: str = Field(description="the actor's organizations, comma-separated")
    dataset: str
    outcome: str = Field(description="granted | denied")
    scope: str = Field(
        description="all | subjects | area | none for reads; `log` for a read of this log; "
        "`token` for a token issued or revoked (the reason says which); `crisis` for a crisis "
        "declared, updated or closed (its window, cells and area's SHA-256)"
    )
    purpose: str
    rows: int | None = Field(description="rows sent; null for a streamed download")
    route: str
    reason: str
    hash: str
    prev_hash: str


class AccessLogPage(BaseModel):
    """Entries in chain order and the URL of the next page."""

    entries: list[AccessEventOut]
    next: str | None


@router.get(
    "/access-log",
    response_model=AccessLogPage,
    responses={
        400: {"description": "an unknown parameter (paging is by `after`), a bad date or bound"},
        401: {"description": "no valid token"},
        403: {"description": "not an operator or admin token"},
    },
)
def read_access_log(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    dataset: str | None = Query(None, description="one dataset's entries"),
    start: str | None = Query(None, alias="from", description="ISO 8601, inclusive"),
    end: str | None = Query(None, alias="to", description="ISO 8601, exclusive"),
    # ids are INTEGER columns, 32-bit on PostgreSQL: a larger bound fails there as a 500
    after: int = Query(0, ge=0, le=2**31 - 1, description="entries after this id (paging)"),
    limit: int = Query(100, ge=1, le=1000),
) -> AccessLogPage:
    """The access log of the caller's organization's datasets (an admin reads all of it)."""
    actor = require_role(caller, "operator", "admin")
    refuse_unknown(request, PARAMETERS, "the access log takes")
    producers = None if actor.role == "admin" else set(actor.organizations)
    begin, finish = parse_moment("from", start), parse_moment("to", end)
    if begin and finish and begin > finish:
        raise HTTPException(400, f"from ({start}) is after to ({end})")
    found = audit.entries(
        session,
        producers=producers,
        dataset=dataset,
        start=begin,
        end=finish,
        after=after,
        limit=limit,
    )
    log_read(session, actor, request, dataset, len(found))
    following = (
        str(request.url.include_query_params(after=found[-1].id)) if len(found) == limit else None
    )
    return AccessLogPage(
        entries=[
            AccessEventOut(
                id=e.id or 0,
                at=as_utc(e.at),
                actor_id=e.actor_id,
                actor_role=e.actor_role,
                organization=e.organization,
                dataset=e.dataset_id,
                outcome=e.outcome,
                scope=e.scope,
                purpose=e.purpose,
                rows=e.rows,
                route=e.route,
                reason=e.reason,
                hash=e.hash,
                prev_hash=e.prev_hash,
            )
            for e in found
        ],
        next=following,
    )


def log_read(
    session: Session, actor: Actor, request: Request, dataset: str | None, taken: int
) -> None:
    """Append the entry of this read of the log: one per organization whose entries an
    operator read (their own log then shows it), one for an admin's read of everything."""
    route = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    producers = sorted(actor.organizations) if actor.role == "operator" else []
    for producer in producers or [""]:
        audit.append(
            reading.engine_of(session),
            audit.Entry(
                actor_id=actor.id,
                actor_role=actor.role,
                organization=",".join(sorted(actor.organizations))[:100],
                dataset_id=(dataset or "*")[:100],
                producer=producer,
                outcome="granted",
                scope="log",
                route=route[:200],
                reason=f"read of the access log: {taken} entries",
                rows=taken,
            ),
        )
