"""The citizen's "My data" page: links to their rows, their rows, consents, and who read them.

The page and its forms work on the signed-in subject's account through the same functions as
/api/v1/me (hub.selfdata, hub.reading, hub.api.portability). Every form answers with a redirect
back to /me carrying a message code (Post/Redirect/Get), so a reload never posts twice; the
matching values a person types go to the operator's matching service and nowhere else: not into
a table, a log line, a redirect or the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub import catalogue, charters, reading
from hub.access import Actor
from hub.api import me as me_api
from hub.api import portability
from hub.api.deps import SessionDep
from hub.api.downloads import DownloadResponse
from hub.api.guards import base_url
from hub.api.origin import site_path
from hub.api.records import READ_ERRORS, csv_lines
from hub.config import get_settings
from hub.models import Dataset, Organization, SubjectLink, as_utc
from hub.schemas import SchemaError, load_schema
from hub.selfdata import attempts, consents, history, links, matching, services, standing
from hub.ui import consent_form, i18n, refusals
from hub.ui.pages import N_, forged_form, redirect, render
from hub.ui.visitors import Visitor, VisitorDep

router = APIRouter(include_in_schema=False)

HOME = "/me"
PREVIEW_ROWS = 48  # a day of half-hourly readings
LOG_PAGE = 20
CONSENT_DAYS = 90  # the expiry the consent form proposes
NO_CACHE = {"Cache-Control": "private, no-store"}  # personal pages stay out of every cache

# Message codes a form's redirect carries, with their text and whether they report a success.
FLASHES: dict[str, tuple[str, bool]] = {
    "linked": (N_("Your data is linked: it is shown below."), True),
    "unlinked": (N_("The link is removed. Consents no longer cover these rows."), True),
    "link-bad": (N_("Some details are missing or not in the expected form."), False),
    "link-nomatch": (
        N_(
            "The operator found no data for these details. Check them and try again: "
            "for your safety, the hub cannot say which one is wrong."
        ),
        False,
    ),
    "link-throttled": (
        N_("Too many attempts at linking to this dataset. Wait an hour, then try again."),
        False,
    ),
    "link-unavailable": (
        N_("The operator's matching service cannot answer just now. Try again later."),
        False,
    ),
    "link-refused": (N_("This dataset cannot be linked."), False),
    "link-unknown": (N_("There is no such link on your account: nothing was changed."), False),
    "consent-given": (N_("Your consent is recorded. Its receipt is shown below."), True),
    "consent-revoked": (
        N_("The consent is revoked: the service can no longer read these rows."),
        True,
    ),
    "consent-service": (N_("Choose one of the registered services."), False),
    "consent-datasets": (N_("Choose at least one of your linked datasets."), False),
    "consent-purpose": (N_("Choose a purpose the datasets' charter allows."), False),
    "consent-expiry": (N_("Give an end date after today."), False),
    "consent-expiry-late": (
        N_("Give an earlier end date: a consent lasts at most a year, and ends with the charter."),
        False,
    ),
    "consent-producers": (
        N_("A consent covers the datasets of one producer: give one consent per producer."),
        False,
    ),
    "consent-refused": (N_("This consent cannot be recorded."), False),
    "consent-unknown": (
        N_("There is no such consent on your account: nothing was changed."),
        False,
    ),
    "download-failed": (N_("This download cannot be made just now."), False),
}
# The form field a consent message is about, so the page ties the message to it.
CONSENT_FIELDS = {
    "consent-service": "consent-service",
    "consent-datasets": "consent-datasets",
    "consent-purpose": "consent-purpose",
    "consent-expiry": "consent-expires",
    "consent-expiry-late": "consent-expires",
    "consent-producers": "consent-datasets",
}
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


@dataclass
class Linked:
    """A dataset the subject is linked to, with a preview of their rows."""

    dataset: Dataset
    producer: str
    anchor: str
    links: list[SubjectLink]
    columns: list[str] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # field -> Table Schema type
    titles: dict[str, str] = field(default_factory=dict)  # field -> its schema's title
    rows: list[dict[str, Any]] = field(default_factory=list)
    time: str | None = None  # the field the chart's first column holds
    series: list[tuple[str, str]] = field(default_factory=list)  # (field, heading with unit)
    unreadable: bool = False


@dataclass
class Read:
    """One read of the subject's rows, in the page's words."""

    seen: history.Seen
    kind: str
    name: str
    dataset: str


def anchor(dataset_id: str) -> str:
    """A dataset's fragment id on the page."""
    return "ds-" + re.sub(r"[^A-Za-z0-9_-]+", "-", dataset_id)


def back(request: Request, code: str, fragment: str = "", **more: object) -> Response:
    """The 303 back to the page with a message code (Post/Redirect/Get); a list in `more` is
    one parameter per item."""
    query = urlencode({"flash": code, **{k: v for k, v in more.items() if v}}, doseq=True)
    return redirect(request, f"{HOME}?{query}{'#' + fragment if fragment else ''}")


def refusal(request: Request, visitor: Visitor) -> Response | None:
    """The answer to a visitor who is no subject: sign in first, or a page saying why not."""
    actor = visitor.actor
    if actor.anonymous:
        return redirect(request, f"/signin?{urlencode({'next': site_path(request.scope, HOME)})}")
    if actor.role != "subject" or not actor.account:
        return render(request, visitor, "mydata.html", {"state": "role"}, 403)
    return None


def form_checked(request: Request, visitor: Visitor, submitted: str) -> Response | None:
    """The refusal of a form post: not a subject, or not the visitor's own form token."""
    return refusal(request, visitor) or forged_form(request, visitor, submitted, "mydata.html")


@router.get("/me")
def render_mydata(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    flash: str = "",
    ds: str = "",
    bad: str = "",
    receipt: str = "",
    before: int | None = None,
    mine: bool = False,
    service: str = "",
    purpose: str = "",
    until: str = "",
    datasets: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """The subject's links, rows, consents and access log, with the forms that change them.
    The log lists others' reads; `mine` adds the subject's own (each visit of this page reads
    their newest rows, and would bury the others' reads). After a refused consent, `service`,
    `purpose`, `until` and `datasets` are the consent form as it was sent."""
    refused = refusal(request, visitor)
    if refused is not None:
        return refused
    account = visitor.actor.account
    names = producer_names(session)
    held = links.listing(session, account)
    linked = linked_datasets(session, visitor, held, names)
    forms = link_forms(session, names, {d.dataset.id for d in linked}, flash, ds, bad)
    given = consents.listing(session, account)
    titles = {d.id: d.title for d in [*(f.dataset for f in forms), *(i.dataset for i in linked)]}
    reads, older, total = log_page(session, account, titles, before, mine)
    own = history.count(session, account) - total if not mine else 0
    today = datetime.now(UTC).date()
    # a form's own message shows beside it, not twice
    placed = bool(CONSENT_FIELDS.get(flash)) or any(f.error for f in forms)
    if flash in CONSENT_FIELDS or flash == "consent-refused":
        draft = consent_form.draft(service, datasets, purpose, until)
    else:
        draft = consent_form.Draft(until=(today + timedelta(days=CONSENT_DAYS)).isoformat())
    latest = None
    if flash == "consent-expiry-late":
        latest = consent_form.latest_day(session, account, draft.datasets)
    page = render(
        request,
        visitor,
        "mydata.html",
        {
            "state": "page",
            "flash": flash if flash in FLASHES else "",
            "flash_text": FLASHES[flash][0] if flash in FLASHES else "",
            "flash_ok": FLASHES[flash][1] if flash in FLASHES else False,
            "flash_placed": placed,
            "page_error": flash in FLASHES and not FLASHES[flash][1],
            "consent_field": CONSENT_FIELDS.get(flash, ""),
            "linked": linked,
            "forms": forms,
            "consents": given,
            "standings": {g.consent.id: standing.standing(session, g) for g in given},
            "refusal": lambda message: refusals.message_text(message, i18n.gettext),
            "receipt": receipt if any(g.consent.id == receipt for g in given) else "",
            "titles": titles,
            "services": services.listing(session),
            "service_names": {s.id: s.name for s in services.listing(session)},
            "purposes": purposes_of([d.dataset for d in linked]),
            "draft": draft,
            "latest_day": latest,
            "tomorrow": today + timedelta(days=1),
            "reads": reads,
            "older": older,
            "newer": before is not None,
            "total": total,
            "mine": mine,
            "own": own,
            "max_value": me_api.MAX_VALUE,
        },
    )
    page.headers.update(NO_CACHE)
    return page


def producer_names(session: Session) -> dict[str, str]:
    """Each organization's name by id."""
    return {o.id: o.name for o in session.exec(select(Organization)).all()}


def linked_datasets(
    session: Session, visitor: Visitor, held: list[SubjectLink], names: dict[str, str]
) -> list[Linked]:
    """The datasets the subject is linked to, each with the newest of their rows (read through
    hub.reading as the subject: scoped to their rows, and logged)."""
    found: dict[str, Linked] = {}
    for row in held:
        if row.dataset_id in found:
            found[row.dataset_id].links.append(row)
            continue
        dataset = session.get(Dataset, row.dataset_id)
        if dataset is None:
            continue  # withdrawn since the link was made
        producer = names.get(dataset.organization_id, dataset.organization_id)
        found[dataset.id] = Linked(dataset, producer, anchor(dataset.id), [row])
    for item in found.values():
        preview(session, visitor, item)
    return list(found.values())


def _titles(dataset: Dataset) -> dict[str, str]:
    """The titles its schema gives the dataset's fields (none when the schema cannot be read)."""
    try:
        schema = load_schema(dataset.schema_name)
    except SchemaError:
        return {}
    titles = {name: schema.field_descriptor(name).get("title") for name in schema.fields}
    return {name: str(title) for name, title in titles.items() if title}


def preview(session: Session, visitor: Visitor, item: Linked) -> None:
    """Fill in the newest of the subject's rows of a linked dataset, and what the chart draws."""
    try:
        shape = reading.layout(session, item.dataset)
        rows = reading.read_latest(session, item.dataset, visitor.caller, PREVIEW_ROWS)
    except catalogue.NotFound:
        return  # no records yet
    except READ_ERRORS:
        item.unreadable = True
        return
    fields = {column: name for name, column in shape.columns.items()}
    subject = fields.get(shape.subject or "")
    item.columns = [name for name in shape.columns if name != subject]
    item.kinds = dict(shape.types)
    item.titles = _titles(item.dataset)
    item.rows = rows
    item.time = fields.get(shape.time or "")
    units = {str(r.get("unit")) for r in rows if r.get("unit") is not None}
    unit = f" ({units.pop()})" if len(units) == 1 else ""
    item.series = [
        (name, f"{item.titles.get(name, name)}{unit if name == 'value' else ''}")
        for name, kind in shape.types.items()
        if kind in ("number", "integer") and name != subject
    ]


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


def purposes_of(datasets: list[Dataset]) -> list[str]:
    """The purposes the charters of the linked datasets allow, in their order."""
    found: dict[str, None] = {}
    for dataset in datasets:
        terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
        found.update(dict.fromkeys(terms.purposes if terms else ()))
    return list(found)


def log_page(
    session: Session, account: str, titles: dict[str, str], before: int | None, mine: bool
) -> tuple[list[Read], int | None, int]:
    """A page of the reads of the subject's rows (by others only unless `mine`), newest first,
    older than entry `before`; with the id to go on from (None on the last page) and how many
    such reads there are in all. One indexed query per page, whatever the log's length."""
    found = history.entries(
        session,
        account,
        before=before,
        limit=LOG_PAGE + 1,
        newest_first=True,
        others_only=not mine,
    )
    shown = found[:LOG_PAGE]
    older = (shown[-1].event.id or 0) if len(found) > LOG_PAGE else None
    total = history.count(session, account, others_only=not mine)
    return [read_of(seen, titles) for seen in shown], older, total


def read_of(seen: history.Seen, titles: dict[str, str]) -> Read:
    """Who read, by kind and name, in the page's language."""
    event = seen.event
    kinds = {
        "subject": N_("You") if seen.who == "you" else N_("Another account linked to your rows"),
        "service": N_("Service"),
        "operator": N_("Operator"),
        "admin": N_("Hub administrator"),
    }
    name = ""
    if event.actor_role == "service":
        name = seen.who.removeprefix("service ")
    elif event.actor_role in ("operator", "crisis-cell", "agency"):
        name = event.organization or event.producer
    kind = kinds.get(event.actor_role, event.actor_role)
    return Read(seen, kind, name, titles.get(event.dataset_id, event.dataset_id))


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
        return back(request, "link-refused")
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
        return back(request, code, anchor(dataset_id))
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
        return back(request, "link-unknown", "links")
    return back(request, "unlinked", "links")


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
        return back(
            request, code, message, **consent_form.sent(service, datasets, purpose, expires)
        )

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
    return back(request, "consent-given", f"consent-{made.consent.id}", receipt=made.consent.id)


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
        return back(request, "consent-unknown", "consents")
    return back(request, "consent-revoked", f"consent-{consent_id}")


@router.get("/me/datasets/{dataset_id}/records.csv")
def download_rows(
    request: Request, session: SessionDep, visitor: VisitorDep, dataset_id: str
) -> Response:
    """The subject's rows of one linked dataset as CSV (read as the subject, and logged)."""
    refused = refusal(request, visitor)
    if refused is not None:
        return refused
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset_id not in links.held(session, visitor.actor.account):
        return render(request, visitor, "mydata.html", {"state": "unlinked"}, 404)
    try:
        download = reading.stream_records(
            session,
            dataset,
            visitor.caller,
            reading.Criteria(),
            None,
            max_rows=get_settings().max_export_rows,
        )
    except READ_ERRORS:
        return back(request, "download-failed", anchor(dataset_id))
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset_id)
    return DownloadResponse(
        csv_lines(download.layout, download.pages),
        [download],
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-my-rows.csv"', **NO_CACHE},
    )


@router.get("/me/export")
def export(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    """The portability export of GET /api/v1/me/export, for the signed-in subject."""
    refused = refusal(request, visitor)
    if refused is not None:
        return refused
    try:
        made = portability.package(
            session, visitor.caller, visitor.actor.account, base_url(request)
        )
    except READ_ERRORS:
        return back(request, "download-failed", "data")
    return portability.answer(made, NO_CACHE)
