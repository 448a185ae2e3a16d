"""My data's link forms: one per personal dataset whose charter names a matching service, and the
routes that link a citizen to their rows and unlink them. The matching values a person types go
to the operator's matching service and nowhere else: not into a table, a log line, a redirect or
the page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.access import Actor
from hub.api import me as me_api
from hub.api.deps import SessionDep
from hub.models import Dataset
from hub.selfdata import attempts, links, matching
from hub.ui.mydata.answers import anchor, back, form_checked
from hub.ui.visitors import VisitorDep

router = APIRouter(include_in_schema=False)


INPUT_TYPES = {"date": "date"}  # every other matching type is typed in a text box


INPUT_MODES = {"integer": "numeric", "number": "decimal"}


# Matching codes that ask for a detail about the person the HTML standard's autofill names
# (WCAG 1.3.5): the browser can fill them in and say what they are. Anything else, a meter or
# card number above all, is "off": no browser knows it, and it is not the person's own detail.
AUTOFILL = {
    "postcode": "postal-code",
    "postal_code": "postal-code",
    "zip_code": "postal-code",
    "address": "street-address",
    "street_address": "street-address",
    "city": "address-level2",
    "country": "country-name",
    "email": "email",
    "phone": "tel",
    "name": "name",
    "family_name": "family-name",
    "last_name": "family-name",
    "given_name": "given-name",
    "first_name": "given-name",
    "birth_date": "bday",
    "birthdate": "bday",
}


@dataclass
class MatchingInput:
    """One matching field of a link form, as HTML input attributes."""

    name: str
    label: dict[str, str]
    help: dict[str, str] | None
    type: str
    inputmode: str | None
    pattern: str | None
    required: bool
    invalid: bool
    autocomplete: str


@dataclass
class LinkForm:
    """The form that links the subject to their rows of one personal dataset."""

    dataset: Dataset
    producer: str
    anchor: str
    fields: list[MatchingInput]
    linked: bool
    error: str | None = None  # the message code of the last attempt at this form


def link_forms(
    session: Session, names: dict[str, str], linked: set[str], flash: str, ds: str, bad: str
) -> list[LinkForm]:
    """A link form for every personal dataset whose charter names a matching service."""
    personal = session.exec(
        select(Dataset).where(Dataset.access == "personal").order_by(col(Dataset.title))
    ).all()
    forms = []
    for dataset in personal:
        try:
            terms = links.terms(dataset)
        except links.NotLinkable:
            continue  # no matching service: nothing a citizen can do here
        wrong = set(bad.split(",")) if ds == dataset.id and flash == "link-bad" else set()
        fields = [
            MatchingInput(
                name=entry.code,
                label=entry.label,
                help=entry.help,
                type=INPUT_TYPES.get(entry.type, "text"),
                inputmode=INPUT_MODES.get(entry.type),
                pattern=entry.pattern,
                required=entry.required,
                invalid=entry.code in wrong,
                autocomplete=AUTOFILL.get(entry.code, "off"),
            )
            for entry in terms.matching_data
        ]
        error = flash if ds == dataset.id and flash.startswith("link-") else None
        forms.append(
            LinkForm(
                dataset=dataset,
                producer=names.get(dataset.organization_id, dataset.organization_id),
                anchor=f"link-{anchor(dataset.id)}",
                fields=fields,
                linked=dataset.id in linked,
                error=error,
            )
        )
    return forms


@router.post("/me/links")
async def link_dataset(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    """Link the subject to their rows through the operator's matching service, as
    POST /api/v1/me/links does; the values typed go to the operator only."""
    form = await request.form()
    submitted = form.get("csrf")
    refused = form_checked(request, visitor, submitted if isinstance(submitted, str) else "")
    if refused is not None:
        return refused
    dataset_id = form.get("dataset")
    if not isinstance(dataset_id, str) or not dataset_id:
        return back(request, "link-refused", "flash")
    values = {
        key.removeprefix("m-"): value.strip()
        for key, value in form.multi_items()
        if key.startswith("m-") and isinstance(value, str) and value.strip()
    }
    # the form's message: a fragment that names a focusable element moves focus there too
    fragment = f"link-{anchor(dataset_id)}-error"
    if len(values) > me_api.MAX_CODES or any(len(v) > me_api.MAX_VALUE for v in values.values()):
        return back(request, "link-bad", fragment, ds=dataset_id)
    code, wrong = await run_in_threadpool(attempt_link, session, visitor.actor, dataset_id, values)
    if code == "linked":
        return back(request, code, "flash")
    return back(request, code, fragment, ds=dataset_id, bad=",".join(wrong))


def attempt_link(
    session: Session, actor: Actor, dataset_id: str, values: Mapping[str, object]
) -> tuple[str, list[str]]:
    """The message code of a link attempt, and the matching fields found wrong (codes only)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        return "link-refused", []
    try:
        links.link(session, actor.account, dataset, values)
    except links.NotLinkable as refused:
        return ("link-unavailable" if refused.unavailable else "link-refused"), []
    except links.BadMatching as bad:
        asked = {entry.code for entry in links.terms(dataset).matching_data}
        named = {problem.split(":", 1)[0] for problem in bad.problems}
        return "link-bad", sorted(named & asked)
    except attempts.TooManyAttempts:
        return "link-throttled", []
    except matching.NoMatch:
        return "link-nomatch", []
    except matching.MatchingUnavailable:
        return "link-unavailable", []
    return "linked", []


@router.post("/me/links/{link_id}/delete")
def unlink_dataset(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    link_id: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Remove one of the subject's links."""
    refused = form_checked(request, visitor, csrf)
    if refused is not None:
        return refused
    try:
        links.unlink(session, visitor.actor.account, link_id)
    except links.UnknownLink:
        return back(request, "link-unknown", "flash")
    return back(request, "unlinked", "flash")
