"""Who is looking at a page: a signed session cookie from the sign-in form, or a bearer token.

Signing in proves a token once and opens a sign-in kept server-side (`hub.signins`); the session
cookie then holds only the sign-in's id, a CSRF token and an expiry, signed with a key derived
from the hub's secret (`HttpOnly`, `SameSite=Lax`, `Secure` over HTTPS). Every page reads the
sign-in and the token's row again, so signing out, revoking or expiring the token ends the
session at once, for every copy of its cookie. Forms carry the CSRF token; a visitor not signed
in gets one in a cookie of its own, so the sign-in form is protected too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlmodel import Session

from hub import signins, tokens
from hub.access import ANONYMOUS, Actor
from hub.api.auth import AuthError, authenticate
from hub.api.deps import SessionDep
from hub.api.heads import asked_method
from hub.api.origin import cookie_path
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


def session_end(expires_at: float | None, now: float | None = None) -> int:
    """When a session opened now ends: a working day, or sooner when its token expires."""
    until = (time.time() if now is None else now) + SESSION_SECONDS
    return int(until if expires_at is None else min(until, expires_at))


def session_cookie(sign_in: str, until: int) -> str:
    """A session's cookie value: its sign-in, a fresh CSRF token and its end."""
    return _sign({"s": sign_in, "c": secrets.token_urlsafe(24), "e": until})


def session_of(value: str | None, now: float | None = None) -> tuple[str, str] | None:
    """(sign-in id, CSRF token) of a genuine, unexpired session cookie; None otherwise."""
    payload = _unsign(value or "")
    if payload is None:
        return None
    sign_in, csrf, until = payload.get("s"), payload.get("c"), payload.get("e")
    if not isinstance(sign_in, str) or not isinstance(csrf, str) or not isinstance(until, int):
        return None
    if until <= (time.time() if now is None else now):
        return None
    return sign_in, csrf


def signed_in(session: Session, cookie: str | None) -> tuple[Actor, str] | None:
    """The actor and CSRF token of a session cookie whose sign-in is still open and whose token
    still holds (both read again on every request); None otherwise."""
    proven = session_of(cookie)
    token_id = signins.token_of(session, proven[0]) if proven is not None else None
    if proven is None or token_id is None:
        return None
    try:
        return tokens.actor_of(session, token_id), proven[1]
    except tokens.InvalidToken:
        return None


def visitor_of(request: Request, session: Session) -> Visitor:
    """The visitor of a page: a bearer token if sent, else the session cookie, else anonymous."""
    route = f"{asked_method(request)} {request.url.path}"
    try:
        bearer = authenticate(request, session)
    except AuthError:
        bearer = ANONYMOUS  # a page answers, anonymously; the API says why a token is refused
    if not bearer.anonymous:
        return Visitor(Caller(actor=bearer, route=route), csrf="")
    proven = signed_in(session, request.cookies.get(SESSION_COOKIE))
    if proven is not None:
        actor, csrf = proven
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
            path=cookie_path(request.scope),
        )


def open_session(
    response: Response, request: Request, session: Session, token_id: str, expires: float | None
) -> None:
    """Sign a visitor in: a sign-in, and the session cookie naming it."""
    until = session_end(expires)
    sign_in = signins.start(session, token_id, datetime.fromtimestamp(until, UTC))
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie(sign_in, until),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path=cookie_path(request.scope),
    )
    _forget_root_copy(response, request)


def close_session(response: Response, request: Request, session: Session) -> None:
    """Sign a visitor out: the sign-in ends (every copy of the cookie with it), the cookie goes."""
    proven = session_of(request.cookies.get(SESSION_COOKIE))
    if proven is not None:
        signins.end(session, proven[0])
    response.delete_cookie(
        SESSION_COOKIE,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path=cookie_path(request.scope),
    )
    _forget_root_copy(response, request)


def _forget_root_copy(response: Response, request: Request) -> None:
    """Under a path prefix, also drop a session cookie left at `Path=/` by the hub served at
    the root before: browsers send both, and the older one would be read in the new one's place."""
    if cookie_path(request.scope) != "/" and SESSION_COOKIE in request.cookies:
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", path="/")
