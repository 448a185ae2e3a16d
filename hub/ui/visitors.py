"""Who is looking at a page: a signed session cookie from the sign-in form, or a bearer token.

Signing in proves a token once; the session cookie then holds only the token's id, a CSRF token
and an expiry, signed with a key derived from the hub's secret (`HttpOnly`, `SameSite=Lax`,
`Secure` over HTTPS). Every page reads the token's row again, so revoking or expiring the token
ends its sessions at once. Forms carry the CSRF token; a visitor not signed in gets one in a
cookie of its own, so the sign-in form is protected too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlmodel import Session

from hub import tokens
from hub.access import ANONYMOUS, Actor
from hub.api.auth import AuthError, authenticate
from hub.api.deps import SessionDep
from hub.keys import secret_key
from hub.reading import Caller

SESSION_COOKIE = "hub_session"
CSRF_COOKIE = "hub_csrf"
SESSION_SECONDS = 8 * 3600  # a working day; shorter when the token expires sooner


@dataclass(frozen=True)
class Visitor:
    """The caller behind a page, whether it came with a session, and its form token."""

    caller: Caller
    csrf: str
    signed_in: bool = False  # through the sign-in form (a cookie), not a bearer header
    fresh_csrf: bool = False  # the CSRF cookie must be set on the response

    @property
    def actor(self) -> Actor:
        """The actor reading the page."""
        return self.caller.actor


def _key() -> bytes:
    return hmac.new(secret_key(), b"hub-ui-session", hashlib.sha256).digest()


def _sign(payload: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(_key(), body, hashlib.sha256).hexdigest()
    return f"{body.decode()}.{mac}"


def _unsign(value: str) -> dict[str, object] | None:
    body, _, mac = value.rpartition(".")
    expected = hmac.new(_key(), body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def session_cookie(token_id: str, expires_at: float | None, now: float | None = None) -> str:
    """A session's cookie value for a proven token."""
    moment = time.time() if now is None else now
    until = moment + SESSION_SECONDS
    if expires_at is not None:
        until = min(until, expires_at)
    return _sign({"t": token_id, "c": secrets.token_urlsafe(24), "e": int(until)})


def session_of(value: str | None, now: float | None = None) -> tuple[str, str] | None:
    """(token id, CSRF token) of a valid, unexpired session cookie; None otherwise."""
    payload = _unsign(value or "")
    if payload is None:
        return None
    token_id, csrf, until = payload.get("t"), payload.get("c"), payload.get("e")
    if not isinstance(token_id, str) or not isinstance(csrf, str) or not isinstance(until, int):
        return None
    if until <= (time.time() if now is None else now):
        return None
    return token_id, csrf


def visitor_of(request: Request, session: Session) -> Visitor:
    """The visitor of a page: a bearer token if sent, else the session cookie, else anonymous."""
    route = f"{request.method} {request.url.path}"
    try:
        bearer = authenticate(request, session)
    except AuthError:
        bearer = ANONYMOUS  # a page answers, anonymously; the API says why a token is refused
    if not bearer.anonymous:
        return Visitor(Caller(actor=bearer, route=route), csrf="")
    proven = session_of(request.cookies.get(SESSION_COOKIE))
    if proven is not None:
        token_id, csrf = proven
        try:
            actor = tokens.actor_of(session, token_id)
        except tokens.InvalidToken:
            actor = ANONYMOUS
        if not actor.anonymous:
            return Visitor(Caller(actor=actor, route=route), csrf=csrf, signed_in=True)
    kept = request.cookies.get(CSRF_COOKIE, "")
    if len(kept) >= 32:
        return Visitor(Caller(actor=ANONYMOUS, route=route), csrf=kept)
    return Visitor(
        Caller(actor=ANONYMOUS, route=route), csrf=secrets.token_urlsafe(32), fresh_csrf=True
    )


def current_visitor(request: Request, session: SessionDep) -> Visitor:
    """The visitor of a page (dependency)."""
    return visitor_of(request, session)


VisitorDep = Annotated[Visitor, Depends(current_visitor)]


def csrf_valid(visitor: Visitor, submitted: str) -> bool:
    """Whether a form's CSRF token is the visitor's own."""
    offered = submitted or ""
    # compare_digest refuses non-ASCII text: such a token is simply not ours
    return bool(visitor.csrf) and offered.isascii() and hmac.compare_digest(visitor.csrf, offered)


def secure(request: Request) -> bool:
    """Whether cookies must be `Secure` (the hub is reached over HTTPS)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return request.url.scheme == "https" or forwarded == "https"


def keep_csrf(response: Response, request: Request, visitor: Visitor) -> None:
    """Set the anonymous visitor's CSRF cookie when this page made it one."""
    if visitor.fresh_csrf:
        response.set_cookie(
            CSRF_COOKIE,
            visitor.csrf,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/",
        )


def open_session(
    response: Response, request: Request, token_id: str, expires: float | None
) -> None:
    """Sign a visitor in: the session cookie."""
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie(token_id, expires),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
    )


def close_session(response: Response, request: Request) -> None:
    """Sign a visitor out: the session cookie goes."""
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=secure(request), path="/"
    )
