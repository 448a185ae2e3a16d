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
Scope = Literal["all", "subjects", "area", "none"]


@dataclass(frozen=True)
class Actor:
    """Who is asking, as a token proved it; anonymous without one."""

    id: str = "anonymous"
    role: str = "anonymous"
    organizations: frozenset[str] = field(default_factory=frozenset)
    name: str = ""

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


def grant(dataset: Dataset, actor: Actor = ANONYMOUS) -> Grant:
    """The rows of `dataset` that `actor` may read, under its charter's access level."""
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
        return Grant(
            "none",
            f"the records of {dataset.id!r} hold personal data under {charter}: "
            "only the data subject, or a service holding their consent, may "
            "read them",
        )
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
