"""/api/v1/me: a data subject's links to their rows, consents to services, export and access log.

Every route takes a subject token. Linking sends the person's matching values to the operator's
matching service and keeps only the link: the values are read from the body by hand, so that no
validation error, log line or stored row ever quotes them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from hub import audit, jsontext
from hub.access import Actor
from hub.api import portability
from hub.api.auth import CallerDep, require_role
from hub.api.deps import SessionDep
from hub.api.guards import base_url, refuse_unknown
from hub.api.records import READ_ERRORS, answer_to
from hub.api.shapes import one_of
from hub.models import Dataset, SubjectLink, as_utc
from hub.refusals import render
from hub.selfdata import attempts, consents, history, links, matching, standing

router = APIRouter(prefix="/api/v1/me", tags=["self data"])

MAX_CODES = 20
MAX_VALUE = 200  # characters of one matching value
SUBJECT_ONLY: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "not a subject token"},
}


class LinkOut(BaseModel):
    """A link between the subject's account and their rows in one dataset."""

    id: str
    dataset: str
    producer: str
    pseudonym: str = Field(description="the keyed pseudonym of the subject key in the rows")
    created: datetime


class LinkedDataset(BaseModel):
    """A dataset the subject is linked to."""

    id: str
    title: str
    producer: str
    charter: str
    charter_version: str
    records: str = Field(description="where the subject reads their rows")


class SuspensionOut(BaseModel):
    """A dataset of a consent that its service may not read now, and why."""

    dataset: str
    code: str = Field(description="the refusal's code, e.g. purpose_not_allowed")
    charter: str = Field(description="the charter version that refuses (id and version)")
    reason: str = Field(description="the refusal the service's reads get, in English")


class ConsentOut(BaseModel):
    """A consent to a service, with its receipt and the receipt's seal."""

    id: str
    service: str
    datasets: list[str]
    links: list[str] = Field(
        description="the links whose rows it shares: those held when it was given, not removed "
        "since (a later link needs a consent of its own)"
    )
    purpose: str
    created: datetime
    expires: datetime
    revoked: datetime | None
    status: str = Field(
        description="live | suspended (the charter in force refuses its purpose on every "
        "dataset it names) | expired | revoked",
        json_schema_extra=one_of(["live", "suspended", "expired", "revoked"]),
    )
    suspended: list[SuspensionOut] = Field(
        description="the datasets its service may not read now under the charter in force, "
        "with the reason its reads are refused (some of them: the consent stays live)"
    )
    receipt: dict[str, Any] = Field(description="Kantara consent receipt v1.1 / ISO/IEC TS 27560")
    receipt_hash: str = Field(description="sha256: of the receipt's canonical JSON")


class MeOut(BaseModel):
    """The subject's account: links, linked datasets, consents."""

    account: str
    links: list[LinkOut]
    datasets: list[LinkedDataset]
    consents: list[ConsentOut]


class ConsentIn(BaseModel):
    """A consent to give."""

    service: str = Field(max_length=64, description="a registered service's id")
    datasets: list[str] = Field(min_length=1, max_length=consents.MAX_DATASETS)
    purpose: str = Field(max_length=200, description="one of the datasets' charter purposes")
    expires: str = Field(
        max_length=40,
        description="last day (YYYY-MM-DD, included) or instant (ISO 8601) of the consent: "
        f"at most {consents.MAX_TERM.days} days away, and no later than the charter's last day",
    )


class CoveredOut(BaseModel):
    """One of the subject's pseudonyms a read named."""

    pseudonym: str
    rows: int | None = Field(description="of its rows, the read took (null: not counted)")
    proof: list[str] = Field(description="its Merkle proof under the entry's `subjects`")


class SubjectEntry(BaseModel):
    """One read of the subject's rows, with every chained field to check its hash."""

    id: int
    at: datetime
    who: str = Field(description="who read, in words")
    actor_id: str
    actor_role: str
    organization: str
    dataset_id: str
    producer: str
    outcome: str
    scope: str
    purpose: str
    rows: int | None = Field(
        description="rows the read sent, everyone's, shown only when the read named your rows "
        "alone or the entry has no `rows_commit` (null: hidden, or a download or feed stream, "
        "counted in the entry logged when it ends)"
    )
    rows_commit: str = Field(
        description="the chained commitment to `rows` (hashed in its place; empty on entries "
        "written before it, which chain `rows`)"
    )
    rows_nonce: str = Field(
        description="the random nonce under `rows_commit`, shown with `rows` (empty otherwise)"
    )
    your_rows: int | None = Field(description="of your rows, the read took (null: not counted)")
    route: str
    reason: str
    subjects: str = Field(description="`*` (every subject) or the Merkle root of the subjects")
    pseudonym: str | None = Field(description="your (first) pseudonym the read named")
    proof: list[str] | None = Field(description="that pseudonym's Merkle proof")
    covered: list[CoveredOut] = Field(description="each of your pseudonyms the read named")
    prev_hash: str
    hash: str


class ChainHead(BaseModel):
    """The access log's last entry when this answer was made."""

    id: int
    hash: str


class SubjectLog(BaseModel):
    """Reads of the subject's rows, the chain's head, and how to check them."""

    entries: list[SubjectEntry]
    next: str | None
    head: ChainHead
    verify: str


def subject(caller: CallerDep) -> Actor:
    """The caller's subject actor, or 401 / 403."""
    actor = require_role(caller, "subject")
    if not actor.account:
        raise HTTPException(403, "this subject token speaks for no account")
    return actor


@router.get("", response_model=MeOut, responses=SUBJECT_ONLY)
def show_me(request: Request, session: SessionDep, caller: CallerDep) -> MeOut:
    """The subject's links, the datasets they open, and the subject's consents."""
    actor = subject(caller)
    found = links.listing(session, actor.account)
    linked = []
    for dataset_id in dict.fromkeys(row.dataset_id for row in found):
        dataset = session.get(Dataset, dataset_id)
        if dataset is not None:
            linked.append(linked_dataset(dataset, base_url(request)))
    return MeOut(
        account=actor.account,
        links=[link_out(row) for row in found],
        datasets=linked,
        consents=[
            consent_out(session, given) for given in consents.listing(session, actor.account)
        ],
    )


@router.get("/links", response_model=list[LinkOut], responses=SUBJECT_ONLY)
def list_links(session: SessionDep, caller: CallerDep) -> list[LinkOut]:
    """The subject's links."""
    return [link_out(row) for row in links.listing(session, subject(caller).account)]


LINK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["dataset", "matching"],
                    "additionalProperties": False,
                    "properties": {
                        "dataset": {"type": "string"},
                        "matching": {
                            "type": "object",
                            "description": "the charter's matching data, code: value",
                            "additionalProperties": {"type": ["string", "number", "boolean"]},
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/links",
    status_code=201,
    response_model=LinkOut,
    openapi_extra=LINK_BODY,
    responses={
        **SUBJECT_ONLY,
        400: {"description": "not a personal dataset, or matching values it does not ask for"},
        404: {"description": "no such dataset, or no match (a wrong value and no data alike)"},
        429: {"description": "too many attempts by this account, or at this dataset"},
        502: {"description": "the operator's matching service answered wrongly"},
        503: {"description": "the operator's matching service is unreachable or too slow"},
    },
)
async def create_link(request: Request, session: SessionDep, caller: CallerDep) -> LinkOut:
    """Link the subject to their rows of a personal dataset through the operator's matching
    service; only the link is kept, never the matching values."""
    actor = subject(caller)
    dataset_id, values = parse_link(await request.body())
    return await run_in_threadpool(make_link, session, actor, dataset_id, values)


def parse_link(body: bytes) -> tuple[str, dict[str, object]]:
    """The dataset and matching values of a link request, or a 400 that quotes no value."""
    try:
        payload = jsontext.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "the body must be JSON: {dataset, matching}") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "the body must be a JSON object: {dataset, matching}")
    extra = sorted(set(payload) - {"dataset", "matching"})
    if extra:
        named = ", ".join(repr(key[:40]) for key in extra[:5])
        raise HTTPException(400, f"a link takes dataset and matching, not {named}")
    dataset_id, values = payload.get("dataset"), payload.get("matching")
    if not isinstance(dataset_id, str) or not dataset_id:
        raise HTTPException(400, "dataset must be a dataset id")
    if not isinstance(values, dict) or not 0 < len(values) <= MAX_CODES:
        raise HTTPException(400, f"matching must be an object of 1 to {MAX_CODES} code: value")
    for code, value in values.items():
        if not isinstance(value, str | int | float | bool) or len(str(value)) > MAX_VALUE:
            raise HTTPException(
                400, f"matching {code[:40]!r}: a string or number of at most {MAX_VALUE} characters"
            )
    return dataset_id, values


def make_link(
    session: Session, actor: Actor, dataset_id: str, values: dict[str, object]
) -> LinkOut:
    """Ask the operator and keep the link, answering each refusal as HTTP."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise HTTPException(404, f"no dataset {dataset_id!r}")
    try:
        return link_out(links.link(session, actor.account, dataset, values))
    except links.NotLinkable as refused:
        raise HTTPException(503 if refused.unavailable else 400, refused.reason) from None
    except links.BadMatching as bad:
        raise HTTPException(
            400, f"the matching values do not fit what {dataset_id!r} asks: {bad}"
        ) from None
    except attempts.TooManyAttempts as many:
        raise HTTPException(429, many.reason, {"Retry-After": str(many.retry_after)}) from None
    except matching.NoMatch:
        raise HTTPException(
            404,
            f"no match: the operator of {dataset_id!r} found no data for these matching values",
        ) from None
    except matching.MatchingUnavailable as failed:
        if failed.down:
            raise HTTPException(
                503,
                f"the operator's matching service for {dataset_id!r} is unavailable "
                f"({failed.reason}): try again later",
                {"Retry-After": "30"},
            ) from None
        raise HTTPException(
            502,
            f"the operator's matching service for {dataset_id!r} answered wrongly "
            f"({failed.reason}): try again later",
        ) from None


@router.delete(
    "/links/{link_id}",
    status_code=204,
    responses={**SUBJECT_ONLY, 404: {"description": "no such link on this account"}},
)
def delete_link(session: SessionDep, caller: CallerDep, link_id: str) -> Response:
    """Remove a link: its rows leave the subject's reads and every consent at once."""
    try:
        links.unlink(session, subject(caller).account, link_id)
    except links.UnknownLink as unknown:
        raise HTTPException(404, str(unknown)) from None
    return Response(status_code=204)


@router.get("/consents", response_model=list[ConsentOut], responses=SUBJECT_ONLY)
def list_consents(session: SessionDep, caller: CallerDep) -> list[ConsentOut]:
    """The subject's consents, live, expired and revoked, newest first."""
    account = subject(caller).account
    return [consent_out(session, given) for given in consents.listing(session, account)]


@router.post(
    "/consents",
    status_code=201,
    response_model=ConsentOut,
    responses={
        **SUBJECT_ONLY,
        400: {
            "description": "unknown service, an expiry past, out of range, over a year away or "
            "after the charter's last day, a purpose the charter does not allow"
        },
        403: {"description": "a dataset the subject has no link to"},
    },
)
def give_consent(
    request: Request, session: SessionDep, caller: CallerDep, body: ConsentIn
) -> ConsentOut:
    """Let a registered service read the subject's rows of some datasets for one purpose until a
    date; answers the consent receipt and its SHA-256."""
    actor = subject(caller)
    expires = parse_expiry(body.expires)
    try:
        given = consents.give(
            session,
            actor.account,
            body.service,
            body.datasets,
            body.purpose,
            expires,
            base_url(request),
        )
    except consents.ConsentRefused as refused:
        raise HTTPException(403 if refused.forbidden else 400, refused.reason) from None
    return consent_out(session, given)


@router.delete(
    "/consents/{consent_id}",
    response_model=ConsentOut,
    responses={**SUBJECT_ONLY, 404: {"description": "no such consent on this account"}},
)
def revoke_consent(session: SessionDep, caller: CallerDep, consent_id: str) -> ConsentOut:
    """Revoke a consent: the service's next request no longer reads these rows."""
    try:
        return consent_out(session, consents.revoke(session, subject(caller).account, consent_id))
    except consents.UnknownConsent as unknown:
        raise HTTPException(404, str(unknown)) from None


@router.get(
    "/export",
    operation_id="export_my_data",
    responses={
        **SUBJECT_ONLY,
        200: {"content": {"application/zip": {}}},
        400: {"description": "more rows than one export may hold"},
    },
)
def export(request: Request, session: SessionDep, caller: CallerDep) -> StreamingResponse:
    """Every linked dataset's rows of the subject, their schemas and charters, the subject's
    consents and access log: a Frictionless data package zip (GDPR art. 20)."""
    actor = subject(caller)
    try:
        made = portability.package(session, caller, actor.account, base_url(request))
    except READ_ERRORS as error:
        raise answer_to(error, lambda unknown: str(unknown), "ask the operator to split") from None
    return portability.answer(made, {})


@router.get(
    "/access-log",
    operation_id="read_my_access_log",
    response_model=SubjectLog,
    responses={**SUBJECT_ONLY, 400: {"description": "an unknown parameter (paging is by `after`)"}},
)
def read_access_log(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    after: int = Query(0, ge=0, le=2**31 - 1, description="entries after this id (paging)"),
    limit: int = Query(100, ge=1, le=1000),
) -> SubjectLog:
    """Every read of the subject's rows — by themselves, a service, an operator, an admin —
    with each entry's chained fields, the chain's head, and how to check them."""
    actor = subject(caller)
    refuse_unknown(request, ("after", "limit"), "the access log takes")
    found = history.entries(session, actor.account, after=after, limit=limit)
    head_id, head_hash = audit.head(session)
    following = (
        str(request.url.include_query_params(after=found[-1].event.id))
        if len(found) == limit
        else None
    )
    return SubjectLog(
        entries=[subject_entry(seen) for seen in found],
        next=following,
        head=ChainHead(id=head_id, hash=head_hash),
        verify=history.HOW_TO_VERIFY,
    )


def subject_entry(seen: history.Seen) -> SubjectEntry:
    """An access event as the subject sees it."""
    event = seen.event
    return SubjectEntry(
        id=event.id or 0,
        at=as_utc(event.at),
        who=seen.who,
        actor_id=event.actor_id,
        actor_role=event.actor_role,
        organization=event.organization,
        dataset_id=event.dataset_id,
        producer=event.producer,
        outcome=event.outcome,
        scope=event.scope,
        purpose=event.purpose,
        rows=seen.total,
        rows_commit=event.rows_commit,
        rows_nonce=seen.nonce,
        your_rows=seen.rows,
        route=event.route,
        reason=event.reason,
        subjects=event.subjects,
        pseudonym=seen.pseudonym,
        proof=seen.proof,
        covered=[
            CoveredOut(pseudonym=c.pseudonym, rows=c.rows, proof=c.proof) for c in seen.covered
        ],
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


class OutOfRange(ValueError):
    """An expiry that reads as a date but lies beyond what a date-time holds."""


def parse_expiry(text: str) -> datetime:
    """A consent's end: a day (the consent holds through it, UTC) or an instant; or a 400."""
    try:
        return expiry(text)
    except OutOfRange:
        raise HTTPException(
            400, f"expires {text.strip()!r} is out of range: {consents.MAX_TERM.days} days at most"
        ) from None
    except ValueError:
        raise HTTPException(
            400, f"expires {text.strip()!r} is not a day (YYYY-MM-DD) or an ISO 8601 instant"
        ) from None


def expiry(text: str) -> datetime:
    """A consent's end in UTC: a day (the consent holds through it) or an instant (no zone:
    UTC); OutOfRange past year 9999, ValueError for anything else. The consent form shares it."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:  # the day after 9999-12-31, or 9999-12-31T23:00-05:00 in UTC
        raise OutOfRange(value) from None


def link_out(row: SubjectLink) -> LinkOut:
    """A link as the API shows it."""
    return LinkOut(
        id=row.id,
        dataset=row.dataset_id,
        producer=row.producer,
        pseudonym=row.pseudonym,
        created=as_utc(row.created_at),
    )


def linked_dataset(dataset: Dataset, root: str) -> LinkedDataset:
    """A linked dataset as the API shows it."""
    return LinkedDataset(
        id=dataset.id,
        title=dataset.title,
        producer=dataset.organization_id,
        charter=dataset.charter_id,
        charter_version=dataset.charter_version,
        records=f"{root}api/v1/datasets/{dataset.id}/records",
    )


def consent_out(session: Session, given: consents.Given) -> ConsentOut:
    """A consent as the API shows it, with how it stands under the charter in force."""
    row = given.consent
    now = standing.standing(session, given)
    return ConsentOut(
        id=row.id,
        service=row.service_id,
        datasets=given.datasets,
        links=given.links,
        purpose=row.purpose,
        created=as_utc(row.created_at),
        expires=as_utc(row.expires_at),
        revoked=as_utc(row.revoked_at) if row.revoked_at else None,
        status=now.status,
        suspended=[suspension_out(s) for s in now.suspensions],
        receipt=row.receipt,
        receipt_hash=row.receipt_hash,
    )


def suspension_out(suspension: standing.Suspension) -> SuspensionOut:
    """A suspension as the API shows it."""
    message = suspension.message
    return SuspensionOut(
        dataset=suspension.dataset,
        code=message.code,
        charter=str(message.params.get("charter", "")),
        reason=render(message.code, message.params),
    )
