"""Who may read what: every read of records gets a grant from here (DESIGN §2, §5).

A grant says which rows an actor may read — all of them, those of some subject keys, those inside
an area and time window, or none — and why. `hub.reading` applies it inside the SQL query and logs
it; routes never decide by themselves. Metadata the operator declared is public; what is computed
from the rows (counts, extent, time range, runs, reports) follows the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from hub import charters
from hub.models import Dataset

ROLES = ("admin", "operator", "agency", "service", "crisis-cell", "subject")
# "aggregates": no row, only hub.aggregates' suppressed cells (reading.condition opens nothing)
Scope = Literal["all", "subjects", "area", "aggregates", "none"]


@dataclass(frozen=True)
class Actor:
    """Who is asking, as a token proved it; anonymous without one."""

    id: str = "anonymous"
    role: str = "anonymous"
    organizations: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    account: str = ""  # a subject token's subject account
    service: str = ""  # a service token's registered service

    @property
    def anonymous(self) -> bool:
        """Whether no token stands behind this actor."""
        return self.role == "anonymous"

    def operates(self, organization: str) -> bool:
        """Whether this actor is an operator of `organization` (the producer of its datasets)."""
        return self.role == "operator" and organization in self.organizations


ANONYMOUS = Actor()


@dataclass(frozen=True)
class Grant:
    """Which rows of a dataset an actor may read, and why."""

    scope: Scope
    reason: str
    subjects: frozenset[str] = frozenset()  # scope "subjects": the pseudonymous keys
    area: tuple[float, float, float, float] | None = None  # scope "area": WGS84 bbox …
    start: datetime | None = None  # … and time window [start, end)
    end: datetime | None = None

    @property
    def reads_rows(self) -> bool:
        """Whether any row may be read."""
        return self.scope != "none"

    @property
    def whole(self) -> bool:
        """Whether every row may be read, and so what is computed from all of them."""
        return self.scope == "all"


class AccessDenied(PermissionError):
    """A read the dataset's charter does not allow to this actor."""

    def __init__(self, dataset_id: str, reason: str, actor: Actor = ANONYMOUS) -> None:
        super().__init__(reason)
        self.dataset_id = dataset_id
        self.reason = reason
        self.actor = actor


def grant(
    dataset: Dataset,
    actor: Actor = ANONYMOUS,
    *,
    purpose: str = "",
    subjects: frozenset[str] | None = None,
) -> Grant:
    """The rows of `dataset` that `actor` may read, under its charter's access level.

    For a personal dataset, `subjects` are the pseudonyms hub.reading found for the actor (a
    subject's links, or the subjects who consent to a service reading for `purpose`); without
    them a subject or service reads nothing, and so sees nothing computed from the rows.
    """
    level = dataset.access
    charter = f"charter {dataset.charter_id} {dataset.charter_version}".rstrip()
    if level == "open":
        return Grant("all", f"open under {charter}")
    if actor.operates(dataset.organization_id):
        return Grant("all", f"operator of {dataset.organization_id}, the producer")
    if level == "restricted":
        member = _membership(dataset, actor)
        if member:
            return Grant("all", f"{member}, named by {charter}")
        return Grant(
            "none",
            f"the records of {dataset.id!r} are restricted by {charter} to "
            "the members it names; they need a member's token (the metadata "
            "stays public)",
        )
    if level == "personal":
        return _personal(dataset, actor, charter, purpose, subjects or frozenset())
    if level == "crisis":
        return Grant(
            "none",
            f"the records of {dataset.id!r} open under {charter} only to crisis "
            "cells, during a declared crisis covering them",
        )
    # An access level the hub does not know must never fall through to "open".
    return Grant(
        "none", f"the records of {dataset.id!r} have an unknown access level {level!r}: refused"
    )


def _personal(
    dataset: Dataset, actor: Actor, charter: str, purpose: str, subjects: frozenset[str]
) -> Grant:
    """A subject's own rows, a service's rows of the subjects who consent; nothing else."""
    closed = (
        f"the records of {dataset.id!r} hold personal data under {charter}: only the data "
        "subject, or a service holding their consent, may read them"
    )
    if actor.role == "subject":
        if subjects:
            return Grant(
                "subjects", f"the data subject's own rows, linked under {charter}", subjects
            )
        return Grant(
            "none",
            f"{closed}; this account is linked to none of them (POST /api/v1/me/links)",
        )
    if actor.role != "service":
        return Grant("none", closed)
    if not actor.service:
        return Grant("none", f"{closed}; this service token is tied to no registered service")
    terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    allowed = terms.purposes if terms else ()
    if not purpose:
        return Grant(
            "none",
            f"{closed}; a service reads them for a declared purpose: add purpose= one of "
            f"{', '.join(allowed) or 'none (the charter cannot be read)'}",
        )
    if purpose not in allowed:
        return Grant(
            "none",
            f"purpose {purpose!r} is not one that {charter} allows for {dataset.id!r}: "
            f"{', '.join(allowed) or 'none (the charter cannot be read)'}",
        )
    if subjects:
        return Grant(
            "subjects",
            f"live consents of data subjects to service {actor.service} for {purpose!r}",
            subjects,
        )
    return Grant(
        "none",
        f"{closed}; no data subject has a live consent for service {actor.service} to read "
        f"them for {purpose!r}",
    )


def _membership(dataset: Dataset, actor: Actor) -> str | None:
    """How `actor` belongs to the charter's `restricted_to`, or None."""
    if actor.anonymous or actor.role == "subject":
        return None
    # The charter file is the authority (the dataset keeps only its id): an edit applies at once.
    members = charters.restricted_to(dataset.charter_id, dataset.charter_version)
    shared = sorted(actor.organizations & members)
    if shared:
        return f"member of {shared[0]}"
    if f"role:{actor.role}" in members:
        return f"{actor.role} role"
    return None


def sees_computed(dataset: Dataset, actor: Actor = ANONYMOUS) -> bool:
    """Whether `actor` may see what is computed from all the rows: counts, extent, runs."""
    return grant(dataset, actor).whole


def redact_run_error(error: str, whole: bool) -> str:
    """A run's error text for a caller who may (`whole`) or may not read every row: a reader's
    message can quote a row's values."""
    if not error or whole:
        return error
    kind = error.split(":", 1)[0] if ":" in error else "error"
    return f"{kind} (details withheld under the dataset's charter)"
