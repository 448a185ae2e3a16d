"""Who is calling: the one dependency that turns a request's token into an actor.

`Authorization: Bearer <token>` everywhere; on the CKAN routes also the raw token in
`Authorization` and `X-CKAN-API-Key`, as ckanapi sends it. Tokens in a query string are refused
(they end up in logs and browser history). A client that keeps presenting bad tokens is answered
429 for a while, on its own address only (the peer's, or the one a proxy named in
HUB_TRUSTED_PROXIES forwards), and only for bad tokens: a valid one always goes through.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlmodel import Session

from hub import orgtokens, tokens
from hub.access import ANONYMOUS, AccessDenied, Actor
from hub.api.deps import SessionDep
from hub.api.heads import asked_method
from hub.api.origin import route_path
from hub.reading import Caller, engine_of

QUERY_TOKEN_NAMES = frozenset(
    {
        "token",
        "access_token",
        "api_key",
        "apikey",
        "api-key",
        "x-ckan-api-key",
        "auth",
        "authorization",
        "bearer",
    }
)
CKAN_PREFIXES = ("/api/3/action/", "/api/action/")
FAILURES_ALLOWED = 20  # bad tokens per client per window before 429
WINDOW_SECONDS = 60.0
REALM = 'Bearer realm="hub"'


class AuthError(Exception):
    """A request whose credentials are refused: its status, message and headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class FailureLimiter:
    """Counts bad tokens per client in a sliding window; memory stays bounded."""

    def __init__(
        self, allowed: int = FAILURES_ALLOWED, window: float = WINDOW_SECONDS, clients: int = 10_000
    ) -> None:
        self.allowed, self.window, self.clients = allowed, window, clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Seconds until `client` may try again (0: it may now)."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            recent = self._failures.get(client)
            if recent is None:
                return 0
            while recent and recent[0] <= moment - self.window:
                recent.popleft()
            if len(recent) < self.allowed:
                return 0
            return max(1, int(recent[0] + self.window - moment) + 1)

    def fail(self, client: str, now: float | None = None) -> None:
        """Note a bad token from `client`."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.clients:
                self._failures.pop(next(iter(self._failures)))  # forget the oldest client
            recent = self._failures.setdefault(client, deque(maxlen=self.allowed))
            recent.append(moment)


def limiter_of(request: Request) -> FailureLimiter:
    """The application's limiter (one per app, so replicas and tests do not share counts)."""
    state = request.app.state
    if not hasattr(state, "token_failures"):
        state.token_failures = FailureLimiter()
    limiter: FailureLimiter = state.token_failures
    return limiter


def presented_token(request: Request) -> str | None:
    """The token a request carries, where this route accepts one; None if it carries none."""
    if QUERY_TOKEN_NAMES & {k.lower() for k in request.query_params}:
        raise AuthError(
            400,
            "tokens are not accepted in the query string (they leak into logs "
            "and histories): send `Authorization: Bearer <token>`",
        )
    header = request.headers.get("authorization", "").strip()
    ckan = route_path(request.scope).startswith(CKAN_PREFIXES)
    scheme, _, rest = header.partition(" ")
    if header and scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    if header and ckan and not rest:
        return header  # ckanapi sends the raw token
    if header:
        raise AuthError(
            401,
            "the Authorization header must read `Bearer <token>`",
            {"WWW-Authenticate": f'{REALM}, error="invalid_request"'},
        )
    ckan_key = request.headers.get("x-ckan-api-key", "").strip()
    return ckan_key if ckan and ckan_key else None


def authenticate(request: Request, session: Session) -> Actor:
    """The actor a request's token proves; anonymous without a token; AuthError otherwise."""
    presented = presented_token(request)
    return ANONYMOUS if presented is None else proven(request, session, presented)


def proven(request: Request, session: Session, presented: str) -> Actor:
    """The actor a presented token proves, else AuthError: 401, or 429 once its client has sent
    too many bad tokens. A valid token is never refused: only failures count, so another
    client's guesses from the same address (everyone behind one proxy) cannot lock it out;
    tokens are 256-bit random, so checking them all opens no brute force."""
    try:
        return tokens.check(session, presented)
    except tokens.InvalidToken as bad:
        reason, ended = bad.reason, bad.ended
    client = request.client.host if request.client else "unknown"  # as the server resolved it
    limiter = limiter_of(request)
    wait = limiter.retry_after(client)
    if wait:
        raise AuthError(
            429,
            f"too many invalid tokens from this client; retry in {wait} s",
            {"Retry-After": str(wait)},
        )
    limiter.fail(client)
    if ended is not None:  # a genuine token, revoked or expired: its holder is known
        route = f"{asked_method(request)} {request.url.path}"
        orgtokens.record_refusal(engine_of(session), ended, route, reason)
    raise AuthError(401, reason, {"WWW-Authenticate": f'{REALM}, error="invalid_token"'})


def authenticate_reader(request: Request, session: Session) -> Actor:
    """The actor of a request: its bearer token, else — on GET and HEAD only — the UI's signed
    session cookie, so that the pages' own scripts (the situation page's feed) read with the
    signed-in visitor's grant. Writes still need a bearer token: no cross-site form can use
    the cookie to change anything, and reads change nothing (CSRF does not apply)."""
    actor = authenticate(request, session)
    if not actor.anonymous or request.method not in ("GET", "HEAD"):
        return actor
    # Imported here: the UI builds on the API (hub.ui.visitors imports this module).
    from hub.ui.visitors import SESSION_COOKIE, signed_in

    # read again: signing out or revoking the token ends it
    proven = signed_in(session, request.cookies.get(SESSION_COOKIE))
    return actor if proven is None else proven[0]


def current_caller(request: Request, session: SessionDep) -> Caller:
    """The caller of a native API or UI route (dependency)."""
    try:
        actor = authenticate_reader(request, session)
    except AuthError as refused:
        raise HTTPException(refused.status, refused.message, refused.headers) from None
    return Caller(
        actor=actor,
        route=f"{asked_method(request)} {request.url.path}",
        purpose=declared_purpose(request),
    )


def declared_purpose(request: Request, given: str | None = None) -> str:
    """What a caller reads for, as a service reading personal records under a consent names it:
    `purpose=` (`given`: a CKAN action's parameter, else the query string's), else `X-Purpose`."""
    named = request.query_params.get("purpose") if given is None else given
    return (named or request.headers.get("x-purpose", "")).strip()


CallerDep = Annotated[Caller, Depends(current_caller)]


def refusal(denied: AccessDenied) -> HTTPException:
    """A refused read as HTTP: 401 (with the challenge) for anonymous callers, else 403."""
    if denied.actor.anonymous:
        return HTTPException(401, denied.reason, {"WWW-Authenticate": REALM})
    return HTTPException(403, denied.reason)


def require_role(caller: Caller, *roles: str) -> Actor:
    """The caller's actor if it holds one of `roles`, else 401 / 403."""
    if caller.actor.anonymous:
        raise HTTPException(401, "this route needs a token", {"WWW-Authenticate": REALM})
    if caller.actor.role not in roles:
        raise HTTPException(
            403,
            f"a {caller.actor.role} token may not use this route (it takes {' or '.join(roles)})",
        )
    return caller.actor
