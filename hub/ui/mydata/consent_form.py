"""My data's consent form: a citizen lets a registered service read some linked datasets for one
purpose until a date (as POST /api/v1/me/consents), or revokes a consent. A refused consent comes
back with the citizen's choices, so the field flagged invalid shows what they typed, and a
too-late end date with the latest day it may have (WCAG 3.3.1, 3.3.3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlmodel import Session
from starlette.responses import Response

from hub import charters
from hub.api import me as me_api
from hub.api.deps import SessionDep
from hub.api.guards import base_url
from hub.models import Dataset, as_utc
from hub.selfdata import consents, links, services
from hub.ui.mydata.answers import CONSENT_FIELDS, back, form_checked
from hub.ui.visitors import VisitorDep

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Draft:
    """What the consent form shows: the citizen's last choices, or the form's defaults."""

    until: str  # the end day as the date field holds it (YYYY-MM-DD), "" when it held none
    service: str = ""
    purpose: str = ""
    datasets: tuple[str, ...] | None = None  # None: the form's default (a lone dataset checked)


def sent(service: str, datasets: list[str], purpose: str, expires: str) -> dict[str, object]:
    """The query a refused consent's redirect carries back to the form: the choices only, which
    name no matching value (those never leave the link form's POST)."""
    chosen = list(dict.fromkeys(datasets))[: consents.MAX_DATASETS]
    return {"service": service, "purpose": purpose, "until": expires.strip(), "datasets": chosen}


def draft(service: str, datasets: list[str], purpose: str, until: str) -> Draft:
    """The form as sent (read from the redirect's query); a day that is no day shows empty, as
    the browser's date field would show it."""
    return Draft(
        until=until if is_day(until) else "",
        service=service,
        purpose=purpose,
        datasets=tuple(datasets[: consents.MAX_DATASETS]),
    )


def is_day(text: str) -> bool:
    """Whether `text` is a day as a date field holds it (YYYY-MM-DD, nothing else)."""
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def latest_day(session: Session, account: str, dataset_ids: tuple[str, ...] | None) -> date:
    """The last day a consent given now to those of `dataset_ids` the account is linked to may
    hold through: the consent's longest term, or the end of a dataset's charter if sooner (the
    limit hub.selfdata.consents.give refuses past)."""
    held = links.held(session, account)
    found = [session.get(Dataset, d) for d in dataset_ids or () if d in held]
    latest, _ = consents.latest_expiry([d for d in found if d], datetime.now(UTC))
    return (latest - timedelta(days=1)).date()  # a day's consent ends at the next midnight


CONSENT_DAYS = 90  # the expiry the consent form proposes


def purposes_of(datasets: list[Dataset]) -> list[str]:
    """The purposes the charters of the linked datasets allow, in their order."""
    found: dict[str, None] = {}
    for dataset in datasets:
        terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
        found.update(dict.fromkeys(terms.purposes if terms else ()))
    return list(found)


@router.post("/me/consents")
def give_consent(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    csrf: Annotated[str, Form()] = "",
    service: Annotated[str, Form()] = "",
    datasets: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    purpose: Annotated[str, Form()] = "",
    expires: Annotated[str, Form()] = "",
) -> Response:
    """Let a registered service read some linked datasets for one purpose until a date, as
    POST /api/v1/me/consents does; the receipt is shown on the page."""
    refused = form_checked(request, visitor, csrf)
    if refused is not None:
        return refused
    account = visitor.actor.account

    def refuse(code: str) -> Response:  # the form comes back as sent, its message beside it
        message = "give-error" if code in CONSENT_FIELDS else "flash"
        return back(request, code, message, **sent(service, datasets, purpose, expires))

    held = links.held(session, account)
    chosen = [d for d in dict.fromkeys(datasets) if d in held][: consents.MAX_DATASETS]
    if service not in {s.id for s in services.listing(session)}:
        return refuse("consent-service")
    if not chosen or len(chosen) != len(set(datasets)):
        return refuse("consent-datasets")
    found = [d for d in (session.get(Dataset, i) for i in chosen) if d is not None]
    if len({d.organization_id for d in found}) > 1:
        return refuse("consent-producers")
    if purpose not in purposes_of(found):
        return refuse("consent-purpose")
    try:
        until = me_api.expiry(expires)
    except me_api.OutOfRange:
        return refuse("consent-expiry-late")
    except ValueError:
        return refuse("consent-expiry")
    if as_utc(until) <= datetime.now(UTC):
        return refuse("consent-expiry")
    try:
        made = consents.give(session, account, service, chosen, purpose, until, base_url(request))
    except consents.BadExpiry:
        return refuse("consent-expiry-late")
    except consents.ConsentRefused:
        return refuse("consent-refused")
    return back(request, "consent-given", "flash", receipt=made.consent.id)


@router.post("/me/consents/{consent_id}/revoke")
def revoke_consent(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    consent_id: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Revoke one of the subject's consents, with effect on the service's next request."""
    refused = form_checked(request, visitor, csrf)
    if refused is not None:
        return refused
    try:
        consents.revoke(session, visitor.actor.account, consent_id)
    except consents.UnknownConsent:
        return back(request, "consent-unknown", "flash")
    return back(request, "consent-revoked", "flash")
