"""/api/v1/me/tokens: a citizen lists the tokens that speak for their account and revokes them
through the same path as `hub token revoke` (hub.tokens.revoke): the token, and every catalogue
session opened with it, stop working on the next request."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from hub import tokens
from hub.api.auth import CallerDep
from hub.api.deps import SessionDep
from hub.api.me import SUBJECT_ONLY, subject
from hub.models import ApiToken, as_utc

router = APIRouter(prefix="/api/v1/me/tokens", tags=["self data"])


class TokenOut(BaseModel):
    """A token as its holders see it (never its secret)."""

    id: str
    name: str
    created: datetime
    expires: datetime | None
    revoked: datetime | None
    current: bool = Field(description="the token this request came with")
    issued_by: str | None = Field(
        default=None,
        description="the token that issued it through its organization's self-service (null: "
        "the hub's administrator)",
    )


@router.get(
    "", response_model=list[TokenOut], responses=SUBJECT_ONLY, operation_id="list_my_tokens"
)
def list_tokens(session: SessionDep, caller: CallerDep) -> list[TokenOut]:
    """The tokens of the subject's account, newest first."""
    actor = subject(caller)
    return [token_out(row, actor.id) for row in tokens.of_account(session, actor.account)]


@router.delete(
    "/{token_id}",
    operation_id="revoke_my_token",
    status_code=204,
    responses={**SUBJECT_ONLY, 404: {"description": "no such token on this account"}},
)
def revoke_token(session: SessionDep, caller: CallerDep, token_id: str) -> Response:
    """Revoke one of the account's tokens (this one too): it and its sessions end at once."""
    try:
        tokens.revoke(session, token_id, account=subject(caller).account)
    except tokens.UnknownToken:
        raise HTTPException(404, f"no token {token_id[:32]!r} on this account") from None
    return Response(status_code=204)


def token_out(row: ApiToken, current: str) -> TokenOut:
    """A token as its holder sees it."""
    return TokenOut(
        id=row.id,
        name=row.name,
        created=as_utc(row.created_at),
        expires=as_utc(row.expires_at) if row.expires_at else None,
        revoked=as_utc(row.revoked_at) if row.revoked_at else None,
        current=row.id == current,
        issued_by=row.issued_by,
    )
