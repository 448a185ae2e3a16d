"""The Tokens page: an operator (or the holder of a service or crisis-cell token) sees its
organization's tokens of its role, revokes any of them, and issues a new one whose secret is
shown once, on the answer to the form (hub.orgtokens, as /api/v1/org/tokens does). Every form
carries the session's CSRF token; a token revoked here ends its sessions too."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from hub import orgtokens, tokens
from hub.api.deps import SessionDep
from hub.config import get_settings
from hub.models import as_utc, utcnow
from hub.ui.pages import N_, forged_form, redirect, render
from hub.ui.visitors import Visitor, VisitorDep

PAGE = "/dashboard/tokens"
DEFAULT_DAYS = 90
FLASHES = {
    "revoked": (
        N_("The token is revoked: it, and every session opened with it, no longer work."),
        True,
    ),
    "revoked-issued": (
        N_(
            "The token and every token it issued are revoked: they, and every session opened "
            "with them, no longer work."
        ),
        True,
    ),
    "unknown": (
        N_("Your organization has no such token of your role: nothing was changed."),
        False,
    ),
}
NAMELESS = N_("Give the token a name that says who or what will hold it.")
BAD_EXPIRY = N_("Choose an end date between tomorrow and %(latest)s.")

router = APIRouter(include_in_schema=False)


@router.get(PAGE)
def render_tokens(
    request: Request, session: SessionDep, visitor: VisitorDep, flash: str = ""
) -> Response:
    """The organization's tokens of the visitor's role, and the form to issue one."""
    refused = refusal(request, visitor)
    if refused is not None:
        return refused
    return page(request, session, visitor, flash=flash if flash in FLASHES else "")


@router.post(PAGE)
def issue_token(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    expires: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Issue a token of the visitor's organization and role; the answer shows its secret once."""
    refused = form_checked(request, visitor, csrf)
    if refused is not None:
        return refused
    if not name.strip():
        return page(request, session, visitor, error=NAMELESS, status_code=400)
    try:
        ends = orgtokens.deadline(expires)
    except tokens.TokenRequestError:
        return page(request, session, visitor, error=BAD_EXPIRY, name=name, status_code=400)
    issued = orgtokens.issue(session, visitor.actor, name.strip(), ends, request.url.path)
    return page(request, session, visitor, issued=issued)


@router.post(PAGE + "/{token_id}/revoke")
def revoke_token(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    token_id: str,
    csrf: Annotated[str, Form()] = "",
    with_issued: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Revoke one of the organization's tokens of the visitor's role, and with `with_issued`
    the tokens it issued (the one signed in with too: the session ends with it, so the visitor
    is sent to sign in)."""
    refused = form_checked(request, visitor, csrf)
    if refused is not None:
        return refused
    try:
        revoked = orgtokens.revoke(
            session, visitor.actor, token_id, request.url.path, with_issued=bool(with_issued)
        )
    except tokens.UnknownToken:
        return redirect(request, f"{PAGE}?flash=unknown#flash")
    if visitor.actor.id in {row.id for row in revoked}:
        return redirect(request, f"/signin?{urlencode({'next': PAGE})}")
    flash = "revoked-issued" if with_issued else "revoked"
    return redirect(request, f"{PAGE}?flash={flash}#flash")


def refusal(request: Request, visitor: Visitor) -> Response | None:
    """Anonymous visitors sign in first; tokens that manage none are told why (403)."""
    if visitor.actor.anonymous:
        return redirect(request, f"/signin?{urlencode({'next': PAGE})}")
    try:
        orgtokens.team_of(visitor.actor)
    except orgtokens.NotSelfService:
        return render(request, visitor, "tokens.html", {"state": "role"}, 403)
    return None


def form_checked(request: Request, visitor: Visitor, submitted: str) -> Response | None:
    """The refusal of a form post: no token of a team, or not the session's own form token."""
    return refusal(request, visitor) or forged_form(request, visitor, submitted, "tokens.html")


def page(
    request: Request,
    session: SessionDep,
    visitor: Visitor,
    status_code: int = 200,
    **shown: Any,
) -> Response:
    """The page (kept out of every cache: it may show a secret)."""
    today, max_days = utcnow().date(), get_settings().max_token_days
    # the last whole day a new token may last: never after the signed-in token's own expiry
    latest = min(today + timedelta(days=max_days), orgtokens.latest(session, visitor.actor).date())
    flash = shown.pop("flash", "")
    listed = orgtokens.listing(session, visitor.actor)
    context = {
        "state": "page",
        "team": orgtokens.team_of(visitor.actor),
        "tokens": listed,
        "names": {row.id: row.name for row in listed},
        "issuers": orgtokens.issued_live(session, [row.id for row in listed]),
        "now": utcnow(),
        "as_utc": as_utc,
        "tomorrow": today + timedelta(days=1),
        "latest": latest,
        "max_days": max_days,
        "suggested": min(today + timedelta(days=DEFAULT_DAYS), latest),
        "flash_text": FLASHES[flash][0] if flash else "",
        "flash_ok": FLASHES[flash][1] if flash else False,
        "page_outcome": bool(shown.get("issued")) or (bool(flash) and FLASHES[flash][1]),
        "page_error": bool(flash) and not FLASHES[flash][1],
        "issued": None,
        "error": "",
        "name": "",
        **shown,
    }
    answer = render(request, visitor, "tokens.html", context, status_code)
    answer.headers["Cache-Control"] = "private, no-store"
    return answer
