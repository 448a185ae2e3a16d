"""Public aggregates of personal datasets: sums, means and subject counts, small groups suppressed.

Anyone may ask for the sum, mean and count of distinct data subjects of a dataset's measure per
hour, day or month, optionally per value of one low-cardinality field (`group`). k is the
charter's `personal_data.min_group_size` (default 10).

The rule (primary and secondary suppression in one):

1. **Atoms.** The rows fall into atoms: one per UTC hour and combination of values of *every*
   groupable field (for energy-consumption: circuit × quantity × unit × quality). An atom is
   *kept* when at least k distinct subjects have a row in it, else it is suppressed (primary).
2. **Cells are sums of kept atoms.** Every published cell — an hour, day or month, for one value
   of the group field or for all — is computed over the kept atoms it covers, and only those. A
   cell without a kept atom (every cell of fewer than k subjects among them) is suppressed: its
   values are null. A published cell that lost some atoms says so (`complete: false`).
3. **What a cell shows**: the count of distinct subjects of its kept atoms, the sum of their
   readings of the measure and its mean per reading (to 12 significant digits, so that a cell is
   one number in every query, whatever order the database summed in).
4. **Whole buckets only.** `from` and `to` must fall on the boundaries of the buckets asked for,
   so each atom is wholly inside a query or wholly outside it, and no total over the window is
   published.

The atoms are stored, not computed per request: hub.atoms keeps each one's subjects (a bitmap),
sum and readings per measure, and a cell ORs and adds those of its atoms.

Why this resists differencing: the atoms are a partition of the rows fixed by the data alone —
not by the window, the level or the group asked for — and every published number is a sum over
whole kept atoms. Any linear combination of published numbers, from any set of queries, is thus a
signed sum over whole kept atoms: it involves k subjects or more, or nobody. A day's sum minus
its published hours is 0; a total minus its groups is 0; `quantity=energy` minus the circuits
that measure energy is 0; two overlapping windows publish identical cells for the buckets they
share. This is the "totals never include suppressed cells" form of secondary suppression.

The classic form — hide a second, smallest cell beside a lone suppressed one — is not enough
here: in an hour × group table, a hidden cell with its companion can be recovered through the
other dimension (the day's total for the companion's group), and two group fields can nest (a
unit determines its quantity), so one field's published cell minus another's recovers a hidden
one. Suppressing atoms of all fields at once closes both.

Not covered: dominance (one subject's large share of a kept atom's sum), differences between two
reads of the same cell across a data update (a late row of one subject), and what an attacker
knows from elsewhere.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from hub import atoms, catalogue, charters, reading, records
from hub.access import Grant
from hub.models import Dataset

LEVELS = ("hour", "day", "month")
MIN_K = 2  # a group of one subject is no aggregate, whatever a charter says
MAX_BUCKETS = 1_000
MAX_GROUPS = 50
SIGNIFICANT = 12


UNIT_FIELD = "unit"  # the Table Schema field that says what a measure counts in


class AggregateError(ValueError):
    """An aggregate query the dataset cannot answer as asked (a bad field, window or level)."""


class NotAggregated(LookupError):
    """A dataset that has no public aggregates (only personal datasets have them)."""


class CharterUnavailable(RuntimeError):
    """The dataset's charter cannot be read, so k is unknown: nothing is published."""


@dataclass(frozen=True)
class Question:
    """What a caller asks: the level, the group field and measure (None: none / the only one),
    and the window [start, end)."""

    by: str
    start: datetime
    end: datetime
    group: str | None = None
    measure: str | None = None


@dataclass(frozen=True)
class Cell:
    """One bucket (and group value): its subjects, sum and mean, or suppressed."""

    bucket: datetime
    group: str | None
    subjects: int | None
    sum: float | None
    mean: float | None
    complete: bool | None  # False: some atoms of fewer than k subjects were left out

    @property
    def suppressed(self) -> bool:
        """Whether the cell's values are withheld."""
        return self.subjects is None


@dataclass(frozen=True)
class Answer:
    """The cells of a query, bucket by bucket, and what they were computed with."""

    dataset: str
    question: Question
    measure: str
    k: int
    cells: list[Cell]


def check_aggregated(dataset: Dataset) -> None:
    """NotAggregated unless the dataset is one that has public aggregates (a personal one)."""
    if dataset.access != "personal":
        raise NotAggregated(
            f"dataset {dataset.id!r} has no aggregates: only personal datasets have them "
            f"(its access is {dataset.access!r}; read its records where the charter allows)"
        )


def read_aggregates(
    session: Session, dataset: Dataset, caller: reading.Caller, question: Question
) -> Answer:
    """The suppressed aggregates of a personal dataset, the read logged as any read of it is."""
    check_aggregated(dataset)
    subject_field, k = personal_terms(dataset)
    shape = reading.layout(session, dataset)
    fields = catalogue.resource_of(session, dataset.id).schema_descriptor.get("fields", [])
    plan = check_fields(dataset, shape, fields, subject_field, question)
    measure = choose_measure(plan, question.measure)
    buckets = bucket_starts(question.by, question.start, question.end)
    found = cell_sums(
        atoms.read(session.connection(), plan, measure, question.start, question.end),
        question,
        k,
    )
    if any(len(row.units) > 1 for row in found.values()):
        # "several", never which: that would tell what unit a few subjects' rows use
        raise AggregateError(
            "some cells would add rows measured in several units, which a sum cannot do: "
            f"group by {UNIT_FIELD}, or by a field that separates the units"
        )
    values = group_values(fields, question.group, found, k)
    cells = [
        to_cell(bucket, value, found.get((bucket, value)), k)
        for bucket in buckets
        for value in values
    ]
    if not caller.actor.anonymous:
        # No record leaves (rows 0); the reason says what was computed from them, and for whom.
        # Anonymous reads are not chained: the cells are public, no subject's rows are in any
        # subject's log, and one chained append per unauthenticated request would let anyone
        # grow the log and contend with every logged read at will.
        reading.record(
            reading.engine_of(session),
            dataset,
            caller,
            covered(dataset, question, measure, k, cells),
            rows=0,
        )
    return Answer(dataset.id, question, measure, k, cells)


def personal_terms(dataset: Dataset) -> tuple[str, int]:
    """The subject field and k (min_group_size) of the dataset's charter version."""
    terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    if terms is None:
        raise CharterUnavailable(
            f"the personal-data terms of {dataset.id!r} (charter {dataset.charter_id} "
            f"{dataset.charter_version}) cannot be read, so its minimum group size is unknown: "
            "no aggregate is published"
        )
    return terms.subject_field, max(terms.min_group_size, MIN_K)


def check_fields(
    dataset: Dataset,
    shape: records.Layout,
    fields: Sequence[dict[str, Any]],
    subject_field: str,
    question: Question,
) -> atoms.Plan:
    """The dataset's atoms plan (subject, measures, groupable fields), the question's group
    checked against it."""
    plan = atoms.plan_of(dataset.id, shape, fields, subject_field)
    timed = [f for f in fields if shape.columns.get(f["name"]) == shape.time]
    if plan is None or not (timed and timed[0].get("type") == "datetime"):
        raise NotAggregated(
            f"dataset {dataset.id!r} has no date-time field or no subject field to aggregate by"
        )
    if question.group is not None and question.group not in plan.groupable:
        raise AggregateError(
            f"group={question.group!r} is not a field aggregates can be grouped by; "
            f"this dataset's are: {', '.join(plan.groupable) or 'none'}"
        )
    return plan


def choose_measure(plan: atoms.Plan, asked: str | None) -> str:
    """The measure field: the one asked for if numeric, else the schema's only numeric one."""
    numeric = plan.measures
    if asked is not None:
        if asked not in numeric:
            raise AggregateError(
                f"measure={asked!r} is not a numeric measure of this dataset; "
                f"its measures are: {', '.join(numeric) or 'none'}"
            )
        return asked
    if len(numeric) != 1:
        raise AggregateError(
            f"this dataset has {len(numeric) or 'no'} numeric measures"
            + (f" ({', '.join(numeric)}): name one with measure=" if numeric else "")
        )
    return numeric[0]


def bucket_starts(by: str, start: datetime, end: datetime) -> list[datetime]:
    """The buckets of [start, end) at level `by`; an AggregateError if either bound is not a
    bucket's start, or if there are none or more than MAX_BUCKETS."""
    if by not in LEVELS:
        raise AggregateError(f"by={by!r}: aggregates are by {', '.join(LEVELS)}")
    for name, moment in (("from", start), ("to", end)):
        floor = bucket_floor(by, moment)
        if floor != moment:
            try:
                after = f" or {name}={iso(following(by, floor))}"
            except OverflowError:  # the last bucket of year 9999
                after = ""
            raise AggregateError(
                f"{name}={iso(moment)} is not the start of a{'n' if by == 'hour' else ''} {by}: "
                f"aggregates by {by} cover whole {by}s only, so that two windows never differ "
                f"by part of one; use {name}={iso(floor)}{after}"
            )
    if start >= end:
        raise AggregateError(f"from ({iso(start)}) must be before to ({iso(end)})")
    starts: list[datetime] = []
    moment = start
    while moment < end:
        if len(starts) == MAX_BUCKETS:
            raise AggregateError(
                f"more than {MAX_BUCKETS} {by}s from {iso(start)} to {iso(end)}: "
                "ask for a shorter window or a coarser level"
            )
        starts.append(moment)
        moment = following(by, moment)
    return starts


def bucket_floor(by: str, moment: datetime) -> datetime:
    """The start of the bucket holding `moment` (UTC)."""
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if by in ("day", "month"):
        moment = moment.replace(hour=0)
    return moment.replace(day=1) if by == "month" else moment


def following(by: str, moment: datetime) -> datetime:
    """The start of the bucket after the one starting at `moment`."""
    if by == "hour":
        return moment + timedelta(hours=1)
    if by == "day":
        return moment + timedelta(days=1)
    days = calendar.monthrange(moment.year, moment.month)[1]
    return moment + timedelta(days=days)


@dataclass
class Sums:
    """What a cell adds up from its kept atoms: their distinct subjects (a bitmap), sum and
    readings, whether every atom it covers was kept, and the units of the kept ones."""

    members: int = 0
    total: float = 0.0
    readings: int = 0
    whole: bool = True
    units: set[Any] = field(default_factory=set)

    @property
    def subjects(self) -> int:
        """How many distinct subjects the kept atoms hold."""
        return self.members.bit_count()


def cell_sums(found: Sequence[atoms.Atom], question: Question, k: int) -> dict[Any, Sums]:
    """Each (bucket, group value) cell's sums over the atoms it covers, atoms of fewer than k
    subjects left out (a cell of no kept atom has no subjects, and is suppressed)."""
    cells: dict[tuple[datetime, Any], Sums] = {}
    for atom in found:
        key = (bucket_floor(question.by, atom.hour), atom.values.get(question.group or ""))
        sums = cells.get(key)
        if sums is None:
            sums = cells[key] = Sums()
        if atom.population < k:
            sums.whole = False
            continue
        sums.members |= atom.subjects
        sums.total += atom.total
        sums.readings += atom.readings
        if UNIT_FIELD in atom.values:
            sums.units.add(atom.values[UNIT_FIELD])
    return cells


def group_values(
    fields: Sequence[dict[str, Any]],
    group: str | None,
    found: dict[tuple[datetime, Any], Sums],
    k: int,
) -> list[str | None]:
    """The group values every bucket lists: the field's enum, then the other values published
    somewhere in the window (a value only ever suppressed is not named); [None] without group."""
    if group is None:
        return [None]
    declared = next(f for f in fields if f["name"] == group).get("constraints", {}).get("enum", [])
    seen = {value for (_, value), row in found.items() if row.subjects >= k}
    others = sorted((v for v in seen if v is not None and v not in declared), key=str)
    values = [*declared, *others, *([None] if None in seen else [])]
    if len(values) > MAX_GROUPS:
        raise AggregateError(
            f"group={group!r} has more than {MAX_GROUPS} values in this window: "
            "group by another field or ask for a shorter window"
        )
    return values


def to_cell(bucket: datetime, value: str | None, row: Sums | None, k: int) -> Cell:
    """A cell from its sums (None: no atom at all); fewer than k subjects: suppressed."""
    if row is None or row.subjects < k or not row.readings:
        return Cell(bucket, value, None, None, None, None)
    mean = row.total / row.readings
    return Cell(bucket, value, row.subjects, rounded(row.total), rounded(mean), row.whole)


def rounded(number: float) -> float:
    """A published value to 12 significant digits: sums read in another order (PostgreSQL's
    parallel workers) differ in their last bits, and a cell must be one number in every query."""
    return float(f"{number:.{SIGNIFICANT}g}")


def covered(
    dataset: Dataset, question: Question, measure: str, k: int, cells: Sequence[Cell]
) -> Grant:
    """What an aggregate read covered, as the access log records it (a message code)."""
    params: dict[str, Any] = {
        "measure": measure,
        "by": question.by,
        "start": iso(question.start),
        "end": iso(question.end),
        "shown": sum(not cell.suppressed for cell in cells),
        "cells": len(cells),
        "k": k,
        "charter": f"{dataset.charter_id} {dataset.charter_version}",
    }
    if question.group:
        return Grant("aggregates", "aggregates_grouped", {**params, "group": question.group})
    return Grant("aggregates", "aggregates", params)


def iso(moment: datetime) -> str:
    """An instant as ISO 8601 UTC with `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
