"""The citizen's "My data" page: links to their rows, their rows, consents, and who read them.

It works on the signed-in subject's account through the same functions as /api/v1/me
(hub.selfdata, hub.reading, hub.api.portability); the forms it shows are answered by
link_form, consent_form and downloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlmodel import Session, select
from starlette.responses import Response

from hub import catalogue, reading
from hub.api import me as me_api
from hub.api.deps import SessionDep
from hub.api.records import READ_ERRORS
from hub.models import Dataset, Organization, SubjectLink
from hub.schemas import SchemaError, load_schema
from hub.selfdata import consents, history, links, services, standing
from hub.ui import i18n, refusals
from hub.ui.mydata import consent_form
from hub.ui.mydata.answers import CONSENT_FIELDS, FLASHES, NO_CACHE, anchor, refusal
from hub.ui.mydata.link_form import link_forms
from hub.ui.pages import N_, render
from hub.ui.visitors import Visitor, VisitorDep

router = APIRouter(include_in_schema=False)


PREVIEW_ROWS = 48  # a day of half-hourly readings


LOG_PAGE = 20


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
        draft = consent_form.Draft(
            until=(today + timedelta(days=consent_form.CONSENT_DAYS)).isoformat()
        )
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
            "page_outcome": flash in FLASHES and FLASHES[flash][1],
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
            "purposes": consent_form.purposes_of([d.dataset for d in linked]),
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
