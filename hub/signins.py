"""Catalogue sessions, kept server-side: a session cookie names a sign-in and is good only while
that sign-in lasts.

The cookie alone (signed, so nobody forges one) cannot be taken back once copied — a shared
computer, a proxy's log, a browser profile left behind — so signing out deletes the sign-in and
every copy of the cookie is anonymous on its next request. Revoking a token deletes its sign-ins
(`hub.tokens.revoke`); a sign-in also ends at its expiry, and expired ones are swept when another
opens, and by the housekeeping (`hub.housekeeping`).
"""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from hub.models import SignIn, as_utc, utcnow

_SIGNINS: sa.Table = SignIn.__table__  # type: ignore[attr-defined]
_LIVE = sa.select(_SIGNINS.c.token_id, _SIGNINS.c.expires_at).where(
    _SIGNINS.c.id == sa.bindparam("sign_in")
)


def start(session: Session, token_id: str, until: datetime) -> str:
    """Open a sign-in for a token just proven, until `until`; its id (for the cookie)."""
    session.execute(sa.delete(_SIGNINS).where(_SIGNINS.c.expires_at <= utcnow()))
    sign_in = secrets.token_urlsafe(24)
    session.add(SignIn(id=sign_in, token_id=token_id, expires_at=until))
    session.commit()
    return sign_in


def forget_expired(session: Session, now: datetime | None = None) -> int:
    """Delete the sign-ins past their expiry (`start` does too, when someone signs in)."""
    moment = now or utcnow()
    deleted = session.connection().execute(
        sa.delete(_SIGNINS).where(_SIGNINS.c.expires_at <= moment)
    )
    session.commit()
    return int(deleted.rowcount or 0)


def token_of(session: Session, sign_in: str, now: datetime | None = None) -> str | None:
    """The token a live sign-in was opened with; None once it ended (signed out, expired, its
    token revoked). Read on every request, as the token's row is."""
    found = session.connection().execute(_LIVE, {"sign_in": sign_in}).first()
    if found is None or as_utc(found.expires_at) <= (now or utcnow()):
        return None
    return str(found.token_id)


def end(session: Session, sign_in: str) -> None:
    """Sign out: the sign-in goes, and with it every copy of its cookie."""
    session.execute(sa.delete(_SIGNINS).where(_SIGNINS.c.id == sign_in))
    session.commit()


def end_all(session: Session, token_id: str) -> None:
    """End every sign-in of a token (in the caller's transaction)."""
    session.execute(sa.delete(_SIGNINS).where(_SIGNINS.c.token_id == token_id))
