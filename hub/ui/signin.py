"""Signing in and out of the catalogue with a token, and the language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.types import Scope

from hub import tokens
from hub.access import Actor
from hub.api.auth import AuthError, proven
from hub.api.deps import SessionDep
from hub.api.origin import cookie_path, root_path, site_path
from hub.models import as_utc
from hub.ui import i18n
from hub.ui.pages import render
from hub.ui.visitors import VisitorDep, close_session, csrf_valid, open_session

router = APIRouter(include_in_schema=False)


def safe_next(scope: Scope, target: str | None, fallback: str = "/") -> str:
    """A path of this hub to go back to, as pages write `next` (under the root path); anything
    else (another site, `//host`, a path outside the hub's prefix) is the route path `fallback`
    under the root path ("" stays "")."""
    inside = root_path(scope) + "/"
    if not target or not target.startswith(inside) or target.startswith("//") or "\\" in target:
        return site_path(scope, fallback) if fallback else ""
    return target


def landing(actor: Actor) -> str:
    """Where a newly signed-in visitor lands: operators on their dashboard, subjects on their
    data, others on the catalogue."""
    return {"operator": "/dashboard", "subject": "/me"}.get(actor.role, "/")


@router.get("/signin")
def show_signin(request: Request, visitor: VisitorDep, next: str = "") -> Response:
    """The sign-in form."""
    return render(
        request, visitor, "signin.html", {"next": safe_next(request.scope, next, ""), "error": None}
    )


@router.post("/signin")
def sign_in(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Prove a token once and open a session; a refused token changes nothing."""
    context = {"next": safe_next(request.scope, next, "")}
    if not csrf_valid(visitor, csrf):
        return render(request, visitor, "signin.html", {**context, "error": "csrf"}, 400)
    try:
        actor = proven(request, session, token)
    except AuthError as refused:  # 401, or 429 when this client keeps guessing
        error = "throttled" if refused.status == 429 else "invalid"
        page = render(request, visitor, "signin.html", {**context, "error": error}, refused.status)
        if "Retry-After" in refused.headers:
            page.headers["Retry-After"] = refused.headers["Retry-After"]
        return page
    row = tokens.lookup(session, actor.id)
    expires = as_utc(row.expires_at).timestamp() if row and row.expires_at else None
    answer = RedirectResponse(safe_next(request.scope, next, landing(actor)), status_code=303)
    open_session(answer, request, session, actor.id, expires)
    return answer


@router.post("/signout")
def sign_out(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """End the session, server-side (a form with its CSRF token, so no other site can sign one
    out)."""
    if not csrf_valid(visitor, csrf):
        return render(request, visitor, "signin.html", {"next": "", "error": "csrf"}, 400)
    answer = RedirectResponse(site_path(request.scope, "/"), status_code=303)
    close_session(answer, request, session)
    return answer


@router.post("/signout/revoke")
def revoke_and_sign_out(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Revoke the token a citizen signed in with (hub.tokens.revoke, as `hub token revoke`):
    it stops working everywhere and its sessions end; then sign out."""
    actor = visitor.actor
    if not visitor.signed_in or not csrf_valid(visitor, csrf):
        return render(request, visitor, "signin.html", {"next": "", "error": "csrf"}, 400)
    if actor.role != "subject" or not actor.account:
        return render(request, visitor, "mydata.html", {"state": "role"}, 403)
    tokens.revoke(session, actor.id, account=actor.account)
    answer = RedirectResponse(site_path(request.scope, "/"), status_code=303)
    close_session(answer, request, session)
    return answer


@router.get("/language/{language}")
def switch_language(language: str, request: Request, next: str = "") -> Response:
    """Speak `language` from now on (a year-long cookie), back on the same page."""
    answer = RedirectResponse(safe_next(request.scope, next), status_code=303)
    if language in i18n.LANGUAGES:
        answer.set_cookie(
            i18n.COOKIE,
            language,
            max_age=365 * 86400,
            samesite="lax",
            path=cookie_path(request.scope),
            httponly=True,
        )
    return answer
