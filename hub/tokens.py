"""Bearer tokens: issued once, stored as a keyed hash, checked in constant time, revocable.

A token reads `hub.<id>.<secret>`: the id finds the row, the secret (256 random bits) is kept only
as HMAC-SHA256 under the hub's secret key, so a copy of the database reveals no usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from hub import signins
from hub.access import ROLES, Actor
from hub.keys import secret_key
from hub.models import ApiToken, Crisis, Organization, Service, as_utc, utcnow

PREFIX = "hub"
_SHAPE = re.compile(r"^hub\.([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$")
_DURATION = re.compile(r"^(\d{1,5})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Roles whose tokens speak for organizations, and how many each must name.
ORGANIZATION_COUNT = {
    "operator": (1, 1),
    "agency": (1, 50),
    "service": (0, 1),
    "crisis-cell": (0, 1),
    "admin": (0, 0),
    "subject": (0, 0),
}


class TokenRequestError(ValueError):
    """A token that cannot be issued as asked (unknown role, missing organization …)."""


class InvalidToken(Exception):
    """A presented token that proves nothing: malformed, unknown, forged, expired or revoked.
    `ended` is the token's row when its secret was right but it is revoked or expired: its
    holder is known, and the refusal is theirs to answer for (hub.orgtokens.record_refusal)."""

    def __init__(self, reason: str, ended: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ended = ended


class UnknownToken(LookupError):
    """No token with that id."""


@dataclass(frozen=True)
class Issued:
    """A new token: its row, and the secret text shown once."""

    row: ApiToken
    token: str


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """`90d`, `12h`, `30m`, `2w` from now, or `never` (None)."""
    if text is None or text.strip().lower() == "never":
        return None
    found = _DURATION.match(text.strip().lower())
    if not found and re.fullmatch(r"\d+[mhdw]", text.strip().lower()):
        raise TokenRequestError(
            f"expiry {text!r} is too long: at most 99999 of a unit (e.g. 5200w), or never"
        )
    if not found or int(found.group(1)) == 0:
        raise TokenRequestError(
            f"expiry {text!r} is not a duration: write e.g. 90d, 12h, 30m, 2w or never"
        )
    return (now or utcnow()) + timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def unknown_organizations(session: Session, row: ApiToken) -> list[str]:
    """The token's organizations the hub knows nothing of (no harvest of theirs; for a crisis
    cell, no crisis naming it either): likely misspelt, and the token then reads nothing."""
    known = set(session.exec(select(Organization.id)).all())
    if row.role == "crisis-cell":
        for cells in session.exec(select(Crisis.cells)).all():
            known.update(cells)
    return [org for org in row.organizations if org not in known]


def issue(
    session: Session,
    role: str,
    organizations: list[str] | None = None,
    name: str = "",
    expires: datetime | None = None,
    *,
    account: str | None = None,
    service: str | None = None,
    issued_by: str | None = None,
) -> Issued:
    """Create a token for `role` (and its organizations); the returned text is never stored.

    A subject token speaks for `account` (a new one when None: another token of the same
    citizen names theirs); a service token for the registered `service`, if any. `issued_by`
    is the token that asked for it (an organization's self-service), None for the admin.
    """
    orgs = sorted(set(organizations or []))
    if role not in ROLES:
        raise TokenRequestError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    account, service = _principal(session, role, account, service)
    low, high = ORGANIZATION_COUNT[role]
    if not low <= len(orgs) <= high:
        need = (
            "no organization"
            if high == 0
            else (
                f"exactly {low} organization"
                if low == high
                else f"between {low} and {high} organizations"
            )
        )
        fix = "drop --org" if len(orgs) > high else "add --org ID"
        article = "an" if role[0] in "aeiou" else "a"
        raise TokenRequestError(f"{article} {role} token takes {need} (got {len(orgs)}: {fix})")
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    row = ApiToken(
        id=token_id,
        name=name,
        role=role,
        organizations=orgs,
        secret_hash=_digest(token_id, secret),
        expires_at=expires,
        account=account,
        service_id=service,
        issued_by=issued_by,
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return Issued(row, f"{PREFIX}.{token_id}.{secret}")


def check(session: Session, presented: str, now: datetime | None = None) -> Actor:
    """The actor a presented token proves, or InvalidToken."""
    found = _SHAPE.match(presented.strip())
    token_id, secret = (found.group(1), found.group(2)) if found else ("", presented)
    row = lookup(session, token_id) if token_id else None
    # Compare even when the id is unknown, so timing does not tell which ids exist.
    expected = row.secret_hash if row is not None else _digest("unknown", "")
    if not hmac.compare_digest(expected, _digest(token_id, secret)) or row is None:
        raise InvalidToken("the token is not valid")
    return _actor(row, now)


def actor_of(session: Session, token_id: str, now: datetime | None = None) -> Actor:
    """The actor of a token already proven (a UI session signed when its holder presented it),
    checked again for revocation and expiry."""
    row = lookup(session, token_id)
    if row is None:
        raise InvalidToken("the token is not valid")
    return _actor(row, now)


def _actor(row: Any, now: datetime | None) -> Actor:
    moment = now or utcnow()
    if row.revoked_at is not None:
        raise InvalidToken(f"token {row.id} was revoked", row)
    if row.expires_at is not None and as_utc(row.expires_at) <= moment:
        raise InvalidToken(
            f"token {row.id} expired on {as_utc(row.expires_at):%Y-%m-%d %H:%M} UTC", row
        )
    return Actor(
        id=row.id,
        role=row.role,
        organizations=frozenset(row.organizations),
        name=row.name,
        # a subject token from before accounts is its own account
        account=(row.account or row.id) if row.role == "subject" else "",
        service=(row.service_id or "") if row.role == "service" else "",
    )


def _principal(
    session: Session, role: str, account: str | None, service: str | None
) -> tuple[str | None, str | None]:
    """The subject account and service a new token speaks for, checked against its role."""
    if account is not None and role != "subject":
        raise TokenRequestError(f"only a subject token speaks for an account, not a {role} token")
    if service is not None and role != "service":
        raise TokenRequestError(f"only a service token speaks for a service, not a {role} token")
    if role == "subject":
        if account is None:
            return f"acct-{secrets.token_hex(8)}", None
        if not _ACCOUNT.match(account):
            raise TokenRequestError(
                f"account {account!r} is not an account id: 1 to 64 lower-case letters, digits "
                "and hyphens"
            )
        return account, None
    if service is not None and session.get(Service, service) is None:
        raise TokenRequestError(
            f"no registered service {service!r}: register it first (hub service register)"
        )
    return None, service


_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def revoke(session: Session, token_id: str, *, account: str | None = None) -> ApiToken:
    """Revoke a token, and end its catalogue sessions; it stops working on the next request.

    The one path for the CLI (any token) and for a citizen (`account`: one of their own tokens
    only; another's is unknown to them, as one that does not exist).
    """
    row = session.get(ApiToken, token_id)
    if row is None or (account is not None and not _speaks_for(row, account)):
        raise UnknownToken(f"no token {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    signins.end_all(session, token_id)
    session.commit()
    session.refresh(row)
    return row


def forget_ended(session: Session, before: datetime) -> int:
    """Delete the tokens revoked or expired before `before`, and their sign-ins. The access log
    keeps each read's token id, role and organizations: it stays whole (its entries are
    chained, never edited); only the token's name and hash go. A subject's tokens stay: they
    tell the subject's own reads from others' in their history (hub.selfdata.history)."""
    ended = sa.or_(
        sa.and_(col(ApiToken.revoked_at).is_not(None), col(ApiToken.revoked_at) < before),
        sa.and_(col(ApiToken.expires_at).is_not(None), col(ApiToken.expires_at) < before),
    )
    ended = sa.and_(ended, col(ApiToken.role) != "subject")
    ids = list(session.exec(select(ApiToken.id).where(ended)).all())
    for token_id in ids:
        signins.end_all(session, token_id)
    if ids:
        session.execute(sa.delete(ApiToken).where(col(ApiToken.id).in_(ids)))
    session.commit()
    return len(ids)


def of_account(session: Session, account: str) -> list[ApiToken]:
    """The tokens that speak for a citizen's account, newest first."""
    mine = sa.or_(
        col(ApiToken.account) == account,
        sa.and_(col(ApiToken.account).is_(None), col(ApiToken.id) == account),
    )
    statement = select(ApiToken).where(ApiToken.role == "subject", mine)
    return list(session.exec(statement.order_by(col(ApiToken.created_at).desc())).all())


def _speaks_for(row: ApiToken, account: str) -> bool:
    # a subject token from before accounts is its own account (as in _actor)
    return row.role == "subject" and (row.account or row.id) == account


def listing(session: Session) -> list[ApiToken]:
    """Every token, newest first (hashes included: callers show what they choose)."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.created_at).desc())).all())


_TOKENS: sa.Table = ApiToken.__table__  # type: ignore[attr-defined]
_BY_ID = sa.select(_TOKENS).where(_TOKENS.c.id == sa.bindparam("token_id"))


def lookup(session: Session, token_id: str) -> Any:
    """The token's row, read fresh on every request (revocation must apply at once); a Core
    statement compiled once, since this runs before every authenticated read."""
    return session.connection().execute(_BY_ID, {"token_id": token_id}).first()


def _digest(token_id: str, secret: str) -> str:
    return hmac.new(secret_key(), f"{token_id}.{secret}".encode(), hashlib.sha256).hexdigest()
