"""Consents: a subject lets one registered service read some of their datasets for one of the
charter's purposes, until a date; revocable, and read afresh on every request of the service.

A consent shares the rows of the links the account holds, in the datasets it names, when it is
given: the pseudonyms its receipt names, and no others. A link made later is in no earlier
consent (the subject gives one for it); unlinking takes the link's rows out of every consent at
once, and a relink is a new link that no earlier consent covers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from hub import catalogue, charters, events
from hub.models import (
    Consent,
    ConsentDataset,
    ConsentLink,
    Dataset,
    Organization,
    SubjectLink,
    as_utc,
    utcnow,
)
from hub.selfdata import links, receipts, services

MAX_DATASETS = 50
# The longest a consent may last: a subject is asked again at least yearly (and never past the
# day its datasets' charter ends, see latest_expiry).
MAX_TERM = timedelta(days=366)


class ConsentRefused(Exception):
    """A consent the hub will not record; `forbidden` when it names rows the subject has no
    link to, else it is malformed (unknown service, past expiry, purpose not allowed …)."""

    def __init__(self, reason: str, *, forbidden: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.forbidden = reason, forbidden


class BadExpiry(ConsentRefused):
    """An expiry in the past, or later than the consent may last."""


class UnknownConsent(LookupError):
    """No consent with that id on this account."""


@dataclass(frozen=True)
class Given:
    """A consent, the datasets it names and the links whose rows it shares now."""

    consent: Consent
    datasets: list[str]
    links: list[str]

    def status(self, now: datetime | None = None) -> str:
        """live, expired or revoked."""
        if self.consent.revoked_at is not None:
            return "revoked"
        return "live" if as_utc(self.consent.expires_at) > (now or utcnow()) else "expired"


def give(
    session: Session,
    account: str,
    service_id: str,
    dataset_ids: list[str],
    purpose: str,
    expires: datetime,
    hub_url: str,
    now: datetime | None = None,
) -> Given:
    """Record a consent and its sealed receipt, or ConsentRefused saying why."""
    moment = now or utcnow()
    try:
        service = services.find(session, service_id)
    except services.UnknownService as unknown:
        raise ConsentRefused(str(unknown)) from None
    try:
        expires = as_utc(expires)
    except OverflowError:  # year 9999 in a zone west of UTC
        raise BadExpiry("the expiry is out of range") from None
    if expires <= moment:
        raise BadExpiry(f"the expiry {expires:%Y-%m-%d %H:%M} UTC is in the past")
    chosen = list(dict.fromkeys(dataset_ids))
    if not chosen or len(chosen) > MAX_DATASETS:
        raise ConsentRefused(f"a consent names 1 to {MAX_DATASETS} datasets")
    datasets = [_linked(session, account, dataset_id) for dataset_id in chosen]
    producers = sorted({d.organization_id for d in datasets})
    if len(producers) > 1:
        raise ConsentRefused(
            f"a consent covers the datasets of one producer, these are of {', '.join(producers)}: "
            "give one consent per producer"
        )
    covered = [_covered(session, dataset, purpose) for dataset in datasets]
    latest, why = latest_expiry(datasets, moment)
    if expires > latest:
        raise BadExpiry(
            f"the expiry {expires:%Y-%m-%d %H:%M} UTC is later than this consent may last: "
            f"at most until {latest:%Y-%m-%d %H:%M} UTC ({why})"
        )
    # The links it shares are fixed now, and the receipt names exactly their pseudonyms.
    shared = [row for row in links.listing(session, account) if row.dataset_id in chosen]
    consent_id = str(uuid.uuid4())
    organization = session.get(Organization, producers[0])
    receipt = receipts.receipt(
        receipt_id=consent_id,
        issued=moment,
        expires=expires,
        subjects=sorted({row.pseudonym for row in shared}),
        producer=receipts.Party(producers[0], organization.name if organization else producers[0]),
        hub_url=hub_url,
        service=receipts.Party(service.id, service.name, service.url),
        purpose=purpose,
        datasets=covered,
        sensitive=True,
    )
    row = Consent(
        id=consent_id,
        account=account,
        service_id=service.id,
        producer=producers[0],
        purpose=purpose,
        created_at=moment,
        expires_at=expires,
        receipt=receipt,
        receipt_hash=receipts.seal(receipt),
    )
    session.add(row)
    session.flush()  # the consent before the rows that name it
    session.add_all([ConsentDataset(consent_id=consent_id, dataset_id=d) for d in chosen])
    session.add_all([ConsentLink(consent_id=consent_id, link_id=held.id) for held in shared])
    for dataset_id in chosen:  # the service's open feed streams take the rows from now on
        events.record(
            session.connection(), "grant", dataset_id=dataset_id, payload={}, access="personal"
        )
    session.commit()
    events.announce()
    session.refresh(row)
    return Given(row, chosen, sorted(link.id for link in shared))


def _linked(session: Session, account: str, dataset_id: str) -> Dataset:
    """A dataset the account is linked to, or ConsentRefused (forbidden)."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise ConsentRefused(f"no dataset {dataset_id!r}", forbidden=True)
    if not links.pseudonyms(session.connection(), account, dataset_id):
        raise ConsentRefused(
            f"this account has no link to dataset {dataset_id!r} (of {dataset.organization_id}): "
            "a consent shares only rows the subject has linked to (POST /api/v1/me/links)",
            forbidden=True,
        )
    return dataset


def latest_expiry(datasets: list[Dataset], now: datetime) -> tuple[datetime, str]:
    """The latest a consent to `datasets` given at `now` may expire, and why: MAX_TERM, or the
    end of the last day a dataset's charter is in force, whichever comes first."""
    latest, why = now + MAX_TERM, f"a consent lasts at most {MAX_TERM.days} days"
    for dataset in datasets:
        terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
        if terms is None or terms.valid_until is None:
            continue
        ends = datetime.combine(terms.valid_until, time.min, UTC) + timedelta(days=1)
        if ends < latest:
            latest = ends
            why = f"the charter of {dataset.id!r} is in force until {terms.valid_until}"
    return latest, why


def _covered(session: Session, dataset: Dataset, purpose: str) -> receipts.Covered:
    """How the receipt names a dataset, once its charter allows `purpose`."""
    terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    if terms is None:
        raise ConsentRefused(f"the charter of {dataset.id!r} cannot be read just now")
    if purpose not in terms.purposes:
        raise ConsentRefused(
            f"purpose {purpose!r} is not one the charter of {dataset.id!r} allows: "
            f"{', '.join(terms.purposes)}"
        )
    try:
        descriptor = catalogue.resource_of(session, dataset.id).schema_descriptor
    except catalogue.NotFound:
        descriptor = {}
    return receipts.Covered(
        id=dataset.id,
        title=dataset.title,
        charter=terms.charter_id,
        charter_version=terms.version,
        legal_basis=terms.legal_basis,
        categories=tuple(f["name"] for f in descriptor.get("fields", [])),
    )


def revoke(session: Session, account: str, consent_id: str, now: datetime | None = None) -> Given:
    """Revoke one of the account's consents; the service's next request no longer has it."""
    row = session.get(Consent, consent_id)
    if row is None or row.account != account:
        raise UnknownConsent(f"no consent {consent_id!r} on this account")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        session.add(row)
        given = _given(session, [row])[0]
        for dataset_id in given.datasets:  # open feed streams judge its next rows afresh
            events.record(
                session.connection(), "grant", dataset_id=dataset_id, payload={}, access="personal"
            )
        session.commit()
        events.announce()
        session.refresh(row)
    return _given(session, [row])[0]


def listing(session: Session, account: str) -> list[Given]:
    """The account's consents, live, expired and revoked, newest first."""
    rows = list(
        session.exec(
            select(Consent)
            .where(Consent.account == account)
            .order_by(col(Consent.created_at).desc(), col(Consent.id))
        ).all()
    )
    return _given(session, rows)


def _given(session: Session, rows: list[Consent]) -> list[Given]:
    """Each consent with its datasets and the links it still shares (not removed since)."""
    ids = [row.id for row in rows]
    if not ids:
        return []
    datasets: dict[str, list[str]] = {}
    for pair in session.exec(
        select(ConsentDataset).where(col(ConsentDataset.consent_id).in_(ids))
    ).all():
        datasets.setdefault(pair.consent_id, []).append(pair.dataset_id)
    shared: dict[str, list[str]] = {}
    for share in session.exec(select(ConsentLink).where(col(ConsentLink.consent_id).in_(ids))):
        shared.setdefault(share.consent_id, []).append(share.link_id)
    return [
        Given(row, sorted(datasets.get(row.id, [])), sorted(shared.get(row.id, []))) for row in rows
    ]


_CONSENTS = Consent.__table__  # type: ignore[attr-defined]
_SHARES = ConsentLink.__table__  # type: ignore[attr-defined]
_LINKS = SubjectLink.__table__  # type: ignore[attr-defined]
# Through the links each consent was given for, never the account's links of the moment.
_CONSENTING = (
    sa.select(_LINKS.c.pseudonym)
    .distinct()
    .select_from(
        _LINKS.join(_SHARES, _SHARES.c.link_id == _LINKS.c.id).join(
            _CONSENTS,
            sa.and_(
                _CONSENTS.c.id == _SHARES.c.consent_id,
                _CONSENTS.c.account == _LINKS.c.account,
            ),
        )
    )
    .where(
        _LINKS.c.dataset_id == sa.bindparam("dataset_id"),
        _CONSENTS.c.service_id == sa.bindparam("service_id"),
        _CONSENTS.c.purpose == sa.bindparam("purpose"),
        _CONSENTS.c.revoked_at.is_(None),
        _CONSENTS.c.expires_at > sa.bindparam("now"),
    )
)


# The consents _CONSENTING finds, their soonest expiry.
_FIRST_EXPIRY = _CONSENTING.with_only_columns(sa.func.min(_CONSENTS.c.expires_at))


def first_expiry(
    connection: sa.Connection,
    service_id: str,
    dataset_id: str,
    purpose: str,
    now: datetime | None = None,
) -> datetime | None:
    """When the first of the consents letting `service_id` read `dataset_id` for `purpose`
    expires (None: none is in force): what it reads narrows then."""
    found = connection.execute(
        _FIRST_EXPIRY,
        {
            "dataset_id": dataset_id,
            "service_id": service_id,
            "purpose": purpose,
            "now": now or utcnow(),
        },
    ).scalar()
    return as_utc(found) if found is not None else None


def consenting(
    connection: sa.Connection,
    service_id: str,
    dataset_id: str,
    purpose: str,
    now: datetime | None = None,
) -> frozenset[str]:
    """The pseudonyms whose subjects let `service_id` read `dataset_id` for `purpose` now."""
    found = connection.execute(
        _CONSENTING,
        {
            "dataset_id": dataset_id,
            "service_id": service_id,
            "purpose": purpose,
            "now": now or utcnow(),
        },
    )
    return frozenset(found.scalars())
