"""/api/v1/org/tokens: an operator (or a service or crisis-cell token) lists, issues and revokes
the tokens of its own organization and role (hub.orgtokens), so that it rotates a token without
asking the hub's admin. Another organization's or role's tokens are unknown here (404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hub import orgtokens, tokens
from hub.access import Actor
from hub.api.auth import CallerDep, require_role
from hub.api.deps import SessionDep
from hub.api.mytokens import TokenOut, token_out

router = APIRouter(prefix="/api/v1/org/tokens", tags=["organization tokens"])

TEAM_ONLY: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "not an operator, service or crisis-cell token of one organization"},
}


class NewToken(BaseModel):
    """A token to issue: its role and organization are the caller's, never chosen here."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="who or what holds it")
    expires: str = Field(
        max_length=40,
        description="required: a duration (90d, 12h, 2w) or an ISO 8601 date or time, within "
        "HUB_MAX_TOKEN_DAYS (365 by default)",
    )


class IssuedOut(TokenOut):
    """The new token, with its secret: shown this once, kept by the hub only as a hash."""

    token: str = Field(description="the secret to send as `Authorization: Bearer …`")
    role: str
    organization: str


@router.get(
    "",
    response_model=list[TokenOut],
    responses=TEAM_ONLY,
    operation_id="list_organization_tokens",
)
def list_tokens(session: SessionDep, caller: CallerDep) -> list[TokenOut]:
    """The tokens of the caller's organization and role, newest first (never a secret)."""
    actor = team_member(caller)
    return [token_out(row, actor.id) for row in orgtokens.listing(session, actor)]


@router.post(
    "",
    operation_id="issue_organization_token",
    status_code=201,
    response_model=IssuedOut,
    responses={**TEAM_ONLY, 400: {"description": "no expiry, or one past or beyond the limit"}},
)
def issue_token(
    request: Request, session: SessionDep, caller: CallerDep, wanted: NewToken
) -> IssuedOut:
    """Issue a token of the caller's organization and role; its secret is shown only now."""
    actor = team_member(caller)
    try:
        expires = orgtokens.deadline(wanted.expires)
    except tokens.TokenRequestError as exc:
        raise HTTPException(400, str(exc)) from None
    issued = orgtokens.issue(session, actor, wanted.name, expires, request.url.path)
    row = issued.row
    return IssuedOut(
        **token_out(row, actor.id).model_dump(),
        token=issued.token,
        role=row.role,
        organization=row.organizations[0],
    )


@router.delete(
    "/{token_id}",
    operation_id="revoke_organization_token",
    status_code=204,
    responses={**TEAM_ONLY, 404: {"description": "no such token in this organization and role"}},
)
def revoke_token(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    token_id: str,
    with_issued: Annotated[
        bool,
        Query(
            description="revoke too every token it issued, and those they issued (a leaked token's)"
        ),
    ] = False,
) -> Response:
    """Revoke a token of the caller's organization and role (its own too): it and its catalogue
    sessions end at once."""
    actor = team_member(caller)
    try:
        orgtokens.revoke(session, actor, token_id, request.url.path, with_issued=with_issued)
    except tokens.UnknownToken:
        raise HTTPException(
            404, f"no token {token_id[:32]!r} in this organization and role"
        ) from None
    return Response(status_code=204)


def team_member(caller: CallerDep) -> Actor:
    """The caller, if its token manages its organization's tokens; else 401 / 403."""
    actor = require_role(caller, *orgtokens.SELF_SERVICE)
    try:
        orgtokens.team_of(actor)
    except orgtokens.NotSelfService as exc:
        raise HTTPException(403, str(exc)) from None
    return actor
