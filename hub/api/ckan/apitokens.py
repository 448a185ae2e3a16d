"""CKAN 2.9's API token actions for an organization's own tokens (hub.orgtokens): the CKAN
`user` is the caller's organization. api_token_create answers `{"token": …}` (shown once),
api_token_list the live tokens, api_token_revoke takes the token itself or its id (`jti`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from hub import orgtokens, tokens
from hub.access import Actor
from hub.api.ckan.errors import (
    NotAuthorized,
    NotFound,
    ValidationError,
    as_int,
    as_text,
    require_text,
)
from hub.models import ApiToken, as_utc, utcnow

DAY = 86_400  # seconds: ckanext-expire-api-token's `unit` when none is given


def create(session: Session, actor: Actor, route: str, data: dict[str, Any]) -> dict[str, str]:
    """A new token of the caller's organization and role: `{"token": …}`."""
    _team(actor, require_text(data, "user"))  # the new token takes the caller's team, always
    name = require_text(data, "name")
    if len(name) > 200:
        raise ValidationError({"name": ["Must be at most 200 characters long"]})
    issued = orgtokens.issue(session, actor, name, _expiry(data), route)
    return {"token": issued.token}


def listing(session: Session, actor: Actor, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The live tokens of the caller's organization and role, as CKAN lists a user's."""
    team = _team(actor, require_text(data, "user_id", "user"))
    now = utcnow()
    return [
        _token_dict(row, team.organization)
        for row in orgtokens.listing(session, actor)
        if row.revoked_at is None and (row.expires_at is None or as_utc(row.expires_at) > now)
    ]


def revoke(session: Session, actor: Actor, route: str, data: dict[str, Any]) -> None:
    """Revoke a token of the caller's organization and role, named by itself or its `jti`."""
    _team(actor, None)
    presented, token_id = as_text(data, "token"), as_text(data, "jti")
    if presented:
        parts = presented.strip().split(".")
        token_id = parts[1] if len(parts) == 3 and parts[0] == tokens.PREFIX else ""
    elif not token_id:
        raise ValidationError({"token": ["Either the token or its jti must be given"]})
    try:
        orgtokens.revoke(session, actor, token_id, route)
    except tokens.UnknownToken:
        raise NotFound("no such token in this organization and role") from None


def _team(actor: Actor, user: str | None) -> orgtokens.Team:
    """The caller's team, checking that `user` (when given) names its organization."""
    try:
        team = orgtokens.team_of(actor)
    except orgtokens.NotSelfService as exc:
        raise NotAuthorized(str(exc)) from None
    if user is not None and user != team.organization:
        raise NotAuthorized(
            f"this token manages only the tokens of its own organization, {team.organization!r}"
        )
    return team


def _expiry(data: dict[str, Any]) -> datetime:
    """The expiry: `expires_in` (times `unit` seconds, a day by default), as
    ckanext-expire-api-token asks it, or the hub's `expires` (90d, a date)."""
    try:
        if data.get("expires_in") not in (None, ""):
            count = as_int(data, "expires_in", low=1) or 0
            unit = as_int(data, "unit", DAY, low=1, high=31_536_000) or DAY
            seconds = count * unit
            if seconds > 10**10:
                raise ValidationError({"expires_in": ["Must be at most a few centuries"]})
            now = utcnow()
            return orgtokens.bounded(now + timedelta(seconds=seconds), f"{seconds} s", now)
        return orgtokens.deadline(as_text(data, "expires") or None)
    except tokens.TokenRequestError as exc:
        raise ValidationError({"expires_in": [str(exc)]}) from None


def _token_dict(row: ApiToken, organization: str) -> dict[str, Any]:
    """A token as CKAN's api_token_list shows one, with its expiry."""
    return {
        "id": row.id,
        "name": row.name,
        "user_id": organization,
        "created_at": as_utc(row.created_at).isoformat(),
        "last_access": None,
        "expires_at": as_utc(row.expires_at).isoformat() if row.expires_at else None,
    }
