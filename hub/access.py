"""Who may read what: the one gate every read of records goes through (DESIGN §2, §5).

Metadata is public whatever the charter says; records and quarantined rows (which may hold the
same personal data as records) are what the gate guards. Until tokens exist, no actor can prove a
membership, a subject key, a consent or a crisis role, so only open datasets are readable.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from hub.models import Dataset

LEVELS = ("open", "restricted", "personal", "crisis")


class AccessDenied(PermissionError):
    """A read the dataset's charter does not allow to this actor."""

    def __init__(self, dataset_id: str, reason: str) -> None:
        super().__init__(reason)
        self.dataset_id = dataset_id
        self.reason = reason


@dataclass(frozen=True)
class Actor:
    """Who is asking: anonymous until tokens prove an organization, role or subject key."""

    id: str = "anonymous"
    roles: frozenset[str] = field(default_factory=frozenset)
    organization: str | None = None
    subject: str | None = None


def can_read_records(dataset: Dataset, actor: Actor | None = None) -> bool:
    """Whether `actor` may read the records of `dataset`."""
    return _refusal(dataset, actor) is None


def require_records(dataset: Dataset, actor: Actor | None = None) -> None:
    """Raise AccessDenied unless `actor` may read the records of `dataset`."""
    reason = _refusal(dataset, actor)
    if reason is not None:
        raise AccessDenied(dataset.id, reason)


def can_read_quarantine(dataset: Dataset, actor: Actor | None = None) -> bool:
    """Whether `actor` may read the quarantined rows of `dataset` (same rule as records)."""
    return can_read_records(dataset, actor)


def require_quarantine(dataset: Dataset, actor: Actor | None = None) -> None:
    """Raise AccessDenied unless `actor` may read the quarantined rows of `dataset`."""
    require_records(dataset, actor)


def redact_report(dataset: Dataset, report: dict[str, Any], actor: Actor | None = None
                  ) -> dict[str, Any]:
    """A validation report as `actor` may see it: without cell values unless it may read rows."""
    if can_read_records(dataset, actor):
        return report
    # frictionless errors carry the whole row (`cells`), the bad `cell` and messages quoting it.
    redacted = deepcopy(report)
    for holder in [redacted, *redacted.get("tasks", [])]:
        holder["errors"] = [_redact_error(e) for e in holder.get("errors", [])]
        holder.pop("labels", None)  # a file without a header makes its first row the labels
    return redacted


# Error types whose frictionless notes are built from the schema alone ("type is number/default",
# 'constraint "minimum" is "0"'); every other note (a reader's, a label's) may quote data.
VALUE_FREE_NOTES = {"type-error", "constraint-error", "primary-key", "unique-error", "blank-row",
                    "missing-cell", "extra-cell"}


def _redact_error(error: dict[str, Any]) -> dict[str, Any]:
    """An error without the values it quotes; its type, position and rule stay."""
    kept = {k: v for k, v in error.items()
            if k not in ("cell", "cells", "label", "labels", "message", "note")}
    note = str(error.get("note", ""))
    cells = [error.get("cell"), *(error.get("cells") or [])]
    quoted = {str(v) for v in cells if v not in (None, "")}
    if note and error.get("type") in VALUE_FREE_NOTES and not any(v in note for v in quoted):
        kept["note"] = note
    where = [f"row {error['rowNumber']}"] if "rowNumber" in error else []
    where += [f"field {error['fieldName']!r}"] if "fieldName" in error else []
    kept["message"] = (f"{error.get('title') or error.get('type', 'Error')}"
                       f"{' in ' + ', '.join(where) if where else ''}"
                       f"{': ' + kept['note'] if 'note' in kept else ''}"
                       " (cell values withheld under the dataset's charter)")
    return kept


def redact_run_error(dataset: Dataset, error: str, actor: Actor | None = None) -> str:
    """A run's error text as `actor` may see it: a reader's message can quote a row's values."""
    if not error or can_read_records(dataset, actor):
        return error
    kind = error.split(":", 1)[0] if ":" in error else "error"
    return f"{kind} (details withheld under the dataset's charter)"


def _refusal(dataset: Dataset, actor: Actor | None) -> str | None:
    """Why `actor` may not read the rows of `dataset`, or None when it may."""
    level = dataset.access
    charter = f"charter {dataset.charter_id} {dataset.charter_version}".rstrip()
    if level == "open":
        return None
    if level == "restricted":
        return (f"the records of {dataset.id!r} are restricted by {charter} to the members it "
                "names; they need a member's token (the metadata stays public)")
    if level == "personal":
        return (f"the records of {dataset.id!r} hold personal data under {charter}: only the data "
                "subject, or a service holding their consent, may read them")
    if level == "crisis":
        return (f"the records of {dataset.id!r} open under {charter} only to crisis cells, "
                "during a declared crisis covering them")
    # An access level the hub does not know must never fall through to "open".
    return f"the records of {dataset.id!r} have an unknown access level {level!r}: refused"
