"""Whether a consent still lets its service read: the charter in force may have dropped its
purpose (or ended) since the subject gave it, and then the service's reads are refused.

The answer comes from hub.access.grant, asked as the service's reads ask it (the dataset's
stored charter version and the version in force today), so what the subject is shown is what
the service gets.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from hub import access
from hub.models import Dataset
from hub.refusals import Message
from hub.selfdata.consents import Given

# Any pseudonym: the grant only asks whether the consent's subjects may be read at all.
_SOME_SUBJECT = frozenset({"consenting-subject"})


@dataclass(frozen=True)
class Suspension:
    """A dataset of a consent its service may not read now, and the refusal its reads get."""

    dataset: str
    message: Message


@dataclass(frozen=True)
class Standing:
    """A consent's status (live, suspended, expired, revoked) and the datasets it is
    suspended for; `suspended` when the charter refuses its purpose on every dataset."""

    status: str
    suspensions: list[Suspension]


def standing(session: Session, given: Given) -> Standing:
    """How a consent stands today, as the service's reads would judge it."""
    status = given.status()
    if status != "live":
        return Standing(status, [])
    consent = given.consent
    service = access.Actor(id=f"consent:{consent.id}", role="service", service=consent.service_id)
    suspended, judged_any = [], 0
    for dataset_id in given.datasets:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            continue  # withdrawn: nothing left to read or to refuse
        judged_any += 1
        judged = access.grant(dataset, service, purpose=consent.purpose, subjects=_SOME_SUBJECT)
        if not judged.reads_rows:
            suspended.append(Suspension(dataset_id, judged.message))
    everywhere = bool(suspended) and len(suspended) == judged_any
    return Standing("suspended" if everywhere else "live", suspended)
