"""Subject links: a subject account tied to the pseudonym of its rows in one personal dataset.

A link is made once, by the operator's matching service vouching for the matching values the
person gave (hub.selfdata.matching); only the account, the producer, the dataset and the keyed
pseudonym of the subject key remain. A link holds for the dataset it was proved for: the same
producer may key another dataset by another number, where the same digits are someone else's.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from hub import charters, events
from hub.models import ConsentLink, Dataset, PastLink, SubjectLink
from hub.pseudonyms import pseudonym
from hub.selfdata import attempts, matching

log = logging.getLogger(__name__)


class NotLinkable(Exception):
    """A dataset a subject cannot link to: not personal, or its charter names no matching."""

    def __init__(self, reason: str, *, unavailable: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.unavailable = reason, unavailable


class BadMatching(ValueError):
    """Matching values the charter refuses (unknown, missing, ill-formed), values unquoted."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class UnknownLink(LookupError):
    """No link with that id on this account."""


def terms(dataset: Dataset) -> charters.PersonalTerms:
    """The personal terms subjects link to `dataset` under, or NotLinkable."""
    if dataset.access != "personal":
        raise NotLinkable(
            f"dataset {dataset.id!r} holds no personal data: there is nothing to link"
        )
    found = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    if found is None:
        raise NotLinkable(
            f"the charter of {dataset.id!r} cannot be read just now: linking is unavailable",
            unavailable=True,
        )
    if not found.matching_url:
        raise NotLinkable(
            f"charter {found.charter_id!r} version {found.version} names no matching service: "
            f"the operator of {dataset.id!r} does not link subjects through the hub yet",
            unavailable=True,
        )
    return found


def link(
    session: Session, account: str, dataset: Dataset, values: Mapping[str, object]
) -> SubjectLink:
    """Link `account` to its rows of `dataset` if the operator's service vouches for `values`.

    NotLinkable, BadMatching, attempts.TooManyAttempts, matching.NoMatch or
    matching.MatchingUnavailable otherwise. An existing identical link is returned as it is.
    """
    agreed = terms(dataset)
    problems = agreed.matching_problems(values)
    if problems:
        raise BadMatching(problems)  # before an attempt is spent: the operator was not asked
    given = agreed.matching_values(values)
    attempts.spend(session, account, dataset.id)
    key = matching.ask(agreed.matching_url or "", dataset.id, given)
    kept = pseudonym(agreed.producer, key)
    existing = _find(session, account, dataset.id, kept)
    if existing is not None:
        return existing
    row = SubjectLink(
        id=f"ln-{secrets.token_hex(8)}",
        account=account,
        producer=dataset.organization_id,
        dataset_id=dataset.id,
        pseudonym=kept,
    )
    session.add(row)
    # The subject's open feed streams take its rows from the dataset's next event on.
    events.record(
        session.connection(), "grant", dataset_id=dataset.id, payload={}, access="personal"
    )
    try:
        session.commit()
    except IntegrityError:  # the same link made at the same moment by another request
        session.rollback()
        again = _find(session, account, dataset.id, kept)
        if again is None:
            raise
        return again
    events.announce()
    session.refresh(row)
    log.info("account %s linked to dataset %s (link %s)", account, dataset.id, row.id)
    return row


def unlink(session: Session, account: str, link_id: str) -> None:
    """Remove one of the account's links, and with it what every consent shared through it: a
    later link of the same rows is a new link, which no earlier consent covers."""
    row = session.get(SubjectLink, link_id)
    if row is None or row.account != account:
        raise UnknownLink(f"no link {link_id!r} on this account")
    shares = ConsentLink.__table__  # type: ignore[attr-defined]
    session.execute(shares.delete().where(shares.c.link_id == link_id))
    # The log keeps naming the pseudonym: the subject must still see who read those rows.
    session.add(
        PastLink(
            id=row.id,
            account=account,
            dataset_id=row.dataset_id,
            pseudonym=row.pseudonym,
            created_at=row.created_at,
        )
    )
    session.delete(row)
    # Open feed streams (the subject's, its services') judge the dataset's next rows afresh.
    events.record(
        session.connection(), "grant", dataset_id=row.dataset_id, payload={}, access="personal"
    )
    session.commit()
    events.announce()


def listing(session: Session, account: str) -> list[SubjectLink]:
    """The account's links, oldest first."""
    statement = (
        select(SubjectLink)
        .where(SubjectLink.account == account)
        .order_by(col(SubjectLink.created_at), col(SubjectLink.id))
    )
    return list(session.exec(statement).all())


def held(session: Session, account: str) -> dict[str, set[str]]:
    """The account's pseudonyms in each dataset it is linked to."""
    found: dict[str, set[str]] = {}
    for row in listing(session, account):
        found.setdefault(row.dataset_id, set()).add(row.pseudonym)
    return found


def ever_held(session: Session, account: str) -> dict[str, set[str]]:
    """The account's pseudonyms in each dataset it is or was linked to: whose reads it sees."""
    found = held(session, account)
    past = session.exec(
        select(PastLink.dataset_id, PastLink.pseudonym).where(PastLink.account == account)
    ).all()
    for dataset_id, kept in past:
        found.setdefault(dataset_id, set()).add(kept)
    return found


_LINKS = SubjectLink.__table__  # type: ignore[attr-defined]
_OWN = sa.select(_LINKS.c.pseudonym).where(
    _LINKS.c.dataset_id == sa.bindparam("dataset_id"), _LINKS.c.account == sa.bindparam("account")
)


def pseudonyms(connection: sa.Connection, account: str, dataset_id: str) -> frozenset[str]:
    """The pseudonyms `account` is linked to in `dataset_id` (read on every request)."""
    found = connection.execute(_OWN, {"dataset_id": dataset_id, "account": account})
    return frozenset(found.scalars())


def _find(session: Session, account: str, dataset_id: str, kept: str) -> SubjectLink | None:
    return session.exec(
        select(SubjectLink).where(
            SubjectLink.account == account,
            SubjectLink.dataset_id == dataset_id,
            SubjectLink.pseudonym == kept,
        )
    ).first()
