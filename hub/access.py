"""Who may read what: every read of records gets a grant from here (DESIGN §2, §5).

A grant says which rows an actor may read — all of them, those of some subject keys, those inside
an area and time window, or none — and why. `hub.reading` applies it inside the SQL query and logs
it; routes never decide by themselves. Metadata the operator declared is public; what is computed
from the rows (counts, extent, time range, runs, reports) follows the rows.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from hub import charters
from hub.models import Dataset

LEVELS = ("open", "restricted", "personal", "crisis")
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


def redact_report(
    dataset: Dataset, report: dict[str, Any], actor: Actor = ANONYMOUS
) -> dict[str, Any]:
    """A validation report as `actor` may see it: cell values only to readers of every row."""
    if sees_computed(dataset, actor):
        return report
    # frictionless errors carry the whole row (`cells`), the bad `cell` and messages quoting it.
    redacted = deepcopy(report)
    for holder in [redacted, *redacted.get("tasks", [])]:
        holder["errors"] = [_redact_error(e) for e in holder.get("errors", [])]
        holder.pop("labels", None)  # a file without a header makes its first row the labels
    return redacted


# Error types whose frictionless notes are built from the schema alone ("type is number/default",
# 'constraint "minimum" is "0"'); every other note (a reader's, a label's) may quote data.
VALUE_FREE_NOTES = {
    "type-error",
    "constraint-error",
    "primary-key",
    "unique-error",
    "blank-row",
    "missing-cell",
    "extra-cell",
}


def _redact_error(error: dict[str, Any]) -> dict[str, Any]:
    """An error without the values it quotes; its type, position and rule stay."""
    kept = {
        k: v
        for k, v in error.items()
        if k not in ("cell", "cells", "label", "labels", "message", "note")
    }
    note = str(error.get("note", ""))
    cells = [error.get("cell"), *(error.get("cells") or [])]
    quoted = {str(v) for v in cells if v not in (None, "")}
    if note and error.get("type") in VALUE_FREE_NOTES and not any(v in note for v in quoted):
        kept["note"] = note
    where = [f"row {error['rowNumber']}"] if "rowNumber" in error else []
    where += [f"field {error['fieldName']!r}"] if "fieldName" in error else []
    kept["message"] = (
        f"{error.get('title') or error.get('type', 'Error')}"
        f"{' in ' + ', '.join(where) if where else ''}"
        f"{': ' + kept['note'] if 'note' in kept else ''}"
        " (cell values withheld under the dataset's charter)"
    )
    return kept


def redact_run_error(dataset: Dataset, error: str, actor: Actor = ANONYMOUS) -> str:
    """A run's error text as `actor` may see it: a reader's message can quote a row's values."""
    if not error or sees_computed(dataset, actor):
        return error
    kind = error.split(":", 1)[0] if ":" in error else "error"
    return f"{kind} (details withheld under the dataset's charter)"
