"""An organization's own tokens: its operators (and its service or crisis-cell tokens) list, issue
and revoke the tokens of their organization and role without asking the hub's admin.

A caller only ever sees or touches its *team*: the tokens of its own role and organization (and,
for a service, its registered service). A new token takes the caller's team, never one asked for,
and must expire within HUB_MAX_TOKEN_DAYS, so that a leaked token cannot mint a lasting one.
Revocation is hub.tokens.revoke, as `hub token revoke`. Every issue and revoke, the admin's
`hub token` ones included, is an entry of the access log (scope `token`, the organization as
producer): the one tamper-evident log the hub keeps, which the organization's operators read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import audit, reading, tokens
from hub.access import Actor
from hub.config import get_settings
from hub.models import ApiToken, as_utc, utcnow

SELF_SERVICE = ("operator", "service", "crisis-cell")
CLI = Actor(id="cli", role="admin", name="hub token")  # who the admin's `hub token` acts as


class NotSelfService(PermissionError):
    """A token that manages no organization's tokens: its role, or it names no organization."""


@dataclass(frozen=True)
class Team:
    """The tokens a caller manages: those of its role, organization and service."""

    role: str
    organization: str
    service: str | None

    def holds(self, row: ApiToken) -> bool:
        """Whether a token is one of the team's."""
        return (
            row.role == self.role
            and list(row.organizations) == [self.organization]
            and (self.role != "service" or row.service_id == self.service)
        )


def team_of(actor: Actor) -> Team:
    """The caller's team, or NotSelfService (an agency, an admin, a subject, no organization)."""
    if actor.role not in SELF_SERVICE:
        raise NotSelfService(
            f"a {actor.role} token manages no organization's tokens (they are for "
            f"{', '.join(SELF_SERVICE)} tokens; ask the hub's administrator)"
        )
    if len(actor.organizations) != 1:
        raise NotSelfService(
            "this token names no organization, so it manages no tokens: ask the hub's administrator"
        )
    (organization,) = actor.organizations
    return Team(actor.role, organization, actor.service or None)


def listing(session: Session, actor: Actor) -> list[ApiToken]:
    """The caller's team's tokens, newest first (revoked and expired ones too)."""
    team = team_of(actor)
    statement = select(ApiToken).where(ApiToken.role == team.role)
    rows = session.exec(statement.order_by(col(ApiToken.created_at).desc())).all()
    return [row for row in rows if team.holds(row)]


def deadline(text: str | None, now: datetime | None = None) -> datetime:
    """A new token's expiry from `90d`-style text or an ISO 8601 date or time, within
    HUB_MAX_TOKEN_DAYS; TokenRequestError otherwise ("never" included)."""
    moment = now or utcnow()
    limit = get_settings().max_token_days
    given = (text or "").strip()
    if not given or given.lower() == "never":
        raise tokens.TokenRequestError(
            f"an expiry is required: e.g. 90d, or a date within {limit} days"
        )
    try:
        ends = _moment(given) or tokens.parse_expiry(given, moment)
    except tokens.TokenRequestError:
        raise tokens.TokenRequestError(
            f"expiry {given[:40]!r} is neither a duration (e.g. 90d, 12h, 2w) nor an ISO 8601 "
            "date or time"
        ) from None
    assert ends is not None  # parse_expiry gives None only for "never", refused above
    return bounded(ends, repr(given[:40]), moment)


def bounded(ends: datetime, given: str, now: datetime | None = None) -> datetime:
    """`ends` if it is to come and within HUB_MAX_TOKEN_DAYS, else TokenRequestError."""
    moment, limit = now or utcnow(), get_settings().max_token_days
    if ends <= moment:
        raise tokens.TokenRequestError(f"expiry {given} is already past")
    if ends > moment + timedelta(days=limit):
        raise tokens.TokenRequestError(
            f"expiry {given} is too far: a token issued here lasts at most {limit} days "
            "(HUB_MAX_TOKEN_DAYS)"
        )
    return ends


def _moment(text: str) -> datetime | None:
    """An ISO 8601 date (its midnight, UTC) or date and time (UTC unless it says), else None."""
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        pass
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def issue(
    session: Session, actor: Actor, name: str, expires: datetime, route: str
) -> tokens.Issued:
    """A new token of the caller's team (its role, organization and service), logged. It never
    outlives the calling token: a later expiry is brought back to that token's
    (hub.orgtokens.latest), as the answer's expiry says."""
    team = team_of(actor)
    expires = min(expires, latest(session, actor))
    issued = tokens.issue(
        session,
        team.role,
        [team.organization],
        name,
        expires,
        service=team.service if team.role == "service" else None,
        issued_by=actor.id,
    )
    record(reading.engine_of(session), actor, issued.row, "issued", route)
    return issued


def latest(session: Session, actor: Actor, now: datetime | None = None) -> datetime:
    """The latest expiry a token issued by `actor` may have: HUB_MAX_TOKEN_DAYS from now, and
    never after the calling token's own expiry, so that whoever issued that token (a crisis
    authority, the hub's admin) keeps the last word on how long its holder reads."""
    moment = now or utcnow()
    ceiling = moment + timedelta(days=get_settings().max_token_days)
    parent = session.get(ApiToken, actor.id)
    if parent is not None and parent.expires_at is not None:
        ceiling = min(ceiling, as_utc(parent.expires_at))
    return ceiling


def revoke(
    session: Session, actor: Actor, token_id: str, route: str, *, with_issued: bool = False
) -> list[ApiToken]:
    """Revoke one of the caller's team's tokens (its own too), logged; UnknownToken for any
    other, whether it exists or not. `with_issued` revokes too every token it issued, and those
    they issued in turn: what a leaked token minted goes with it. Returns the tokens revoked now
    (the one asked for first, even if it was revoked already)."""
    team = team_of(actor)
    row = session.get(ApiToken, token_id)
    if row is None or not team.holds(row):
        raise tokens.UnknownToken(f"no token {token_id[:32]!r} in this organization and role")
    chosen = [row.id, *(descendants(session, row.id) if with_issued else [])]
    revoked = []
    for chosen_id in chosen:
        was_live = session.get(ApiToken, chosen_id).revoked_at is None  # type: ignore[union-attr]
        ended = tokens.revoke(session, chosen_id)
        if was_live or chosen_id == row.id:
            record(reading.engine_of(session), actor, ended, "revoked", route)
            revoked.append(ended)
    return revoked


def descendants(session: Session, token_id: str) -> list[str]:
    """The ids of the tokens `token_id` issued, and those they issued, breadth first."""
    found: list[str] = []
    frontier = [token_id]
    while frontier:
        statement = select(ApiToken.id).where(col(ApiToken.issued_by).in_(frontier))
        frontier = [child for child in session.exec(statement).all() if child not in found]
        found.extend(frontier)
    return found


def issued_live(session: Session, token_ids: list[str]) -> set[str]:
    """Which of `token_ids` issued a token that is still neither revoked nor expired."""
    if not token_ids:
        return set()
    statement = select(ApiToken).where(
        col(ApiToken.issued_by).in_(token_ids), col(ApiToken.revoked_at).is_(None)
    )
    moment = utcnow()
    return {
        row.issued_by
        for row in session.exec(statement).all()
        if row.issued_by and (row.expires_at is None or as_utc(row.expires_at) > moment)
    }


def record_refusal(engine: Engine, row: Any, route: str, reason: str) -> None:
    """The access log's entry of a request refused because its token, though genuine, is
    revoked or expired: who still tries with it is worth knowing (a leaked token, a cell cut
    off). One per organization the token names, as its issue was logged."""
    who = Actor(id=row.id, role=row.role, organizations=frozenset(row.organizations))
    _log(engine, who, row, "refused", route, reason)


def record(engine: Engine, actor: Actor, row: ApiToken, verb: str, route: str) -> None:
    """The access log's entry of a token issued or revoked: one per organization it names (each
    reads it in its own log), one with no producer for a token of none."""
    expiry = f", expires {as_utc(row.expires_at):%Y-%m-%d %H:%M} UTC" if row.expires_at else ""
    reason = f"{verb} {row.role} token {row.id} {row.name[:80]!r}{expiry}"
    _log(engine, actor, row, "granted", route, reason)


def _log(engine: Engine, actor: Actor, row: Any, outcome: str, route: str, reason: str) -> None:
    """One `token` entry per organization the token names, by `actor`."""
    for producer in row.organizations or [""]:
        audit.append(
            engine,
            audit.Entry(
                actor_id=actor.id,
                actor_role=actor.role,
                organization=",".join(sorted(actor.organizations))[:100],
                dataset_id="*",
                producer=producer,
                outcome=outcome,
                scope="token",
                route=route[:200],
                reason=reason[:500],
            ),
        )
