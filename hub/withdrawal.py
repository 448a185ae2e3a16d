"""Withdrawal: published rows an operator takes back (a reading pushed for the wrong meter).

The gate's other direction, with the gate's discipline: every withdrawal is a run in the
dataset's history (refused and failed ones too), deletes in one transaction the rows its
filters select and the events of the feed's log that carry them (superseded values included),
refreshes the dataset's counts, extent and aggregate atoms, and appends a `dataset` event so
feeds, bridges and caches learn of it. Filters are equalities on schema fields; on a personal
dataset the subject field takes the operator's key as it was pushed, and is pseudonymised here
as the gate pseudonymises a push. Who may withdraw is the caller's business (CKAN's
datastore_delete): an operator of the dataset's organization, or an admin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlmodel import Session

from hub import atoms, catalogue, charters, events, pseudonyms, records, runs, selection
from hub.alerts.moments import instant
from hub.bus import get_bus
from hub.models import Dataset, Resource, utcnow

log = logging.getLogger(__name__)

NOTE = "withdrawal"  # what a withdrawal's run note says first (all the public sees of it)
Filters = Sequence[tuple[str, str]]  # (field, value as text); empty: every row


class WithdrawalRefused(ValueError):
    """Filters the dataset cannot take (a field it does not have, a value its type refuses)."""


class WithdrawalFailed(Exception):
    """A withdrawal that broke (the database, say): nothing was deleted; its run says why."""

    def __init__(self, reason: str, run_id: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.run_id = run_id


@dataclass(frozen=True)
class Withdrawal:
    """What one withdrawal did."""

    dataset_id: str
    rows: int
    events: int
    run_id: int | None
    note: str


def withdraw(engine: Engine, dataset_id: str, filters: Filters, by: str) -> Withdrawal:
    """Delete the rows of a dataset that `filters` select (all of them for none), as a run."""
    fields = sorted({field for field, _ in filters})
    said = f"rows where {', '.join(fields)} matched" if fields else "every row"

    def chosen(_: Connection, layout: records.Layout, dataset: Dataset) -> list[Conditions]:
        return [_conditions(layout, dataset, filters, engine.dialect.name)]

    return _withdrawn(engine, dataset_id, chosen, said, by)


Conditions = list[sa.ColumnElement[bool]]
Choice = Callable[[Connection, records.Layout, Dataset], list[Conditions]]


def _withdrawn(engine: Engine, dataset_id: str, choose: Choice, said: str, by: str) -> Withdrawal:
    """Delete, in one transaction and as one run, the rows each set of conditions `choose`
    gives selects; it may raise WithdrawalRefused (a refused run, nothing deleted)."""
    with Session(engine) as session:
        dataset = catalogue.get(session, dataset_id)
        resource = catalogue.resource_of(session, dataset_id)
    layout = catalogue.layout_of(resource)
    run = runs.open_run(engine, dataset_id, None)
    try:
        with engine.begin() as connection:
            gone = forgotten = 0
            for chosen in choose(connection, layout, dataset):
                rows, logged = _delete(connection, dataset, resource, layout, chosen)
                gone, forgotten = gone + rows, forgotten + logged
            note = f"{NOTE}: {gone:,} rows withdrawn ({said}) by {by}"
            _log_event(connection, dataset, run.id, gone)
    except WithdrawalRefused as refused:
        runs.close_run(engine, run, "refused", f"{NOTE}: {refused}")
        raise
    except Exception as exc:
        reason = f"{NOTE}: {runs.failure_of(exc)}"
        runs.close_run(engine, run, "failed", reason)
        raise WithdrawalFailed(reason, run.id) from exc
    runs.close_run(engine, run, "succeeded", note)
    _announce(dataset, run.id, gone)
    log.info("%s: %s", dataset_id, note)
    return Withdrawal(dataset_id, gone, forgotten, run.id, note)


def withdraw_absent(
    engine: Engine, dataset_id: str, kept: set[tuple[str, ...]], by: str, max_share: float
) -> Withdrawal | None:
    """Withdraw the rows of a dataset whose primary key is not in `kept`, the keys of a feed
    that is the whole dataset (a snapshot), as one run; None when it lacks none. A feed lacking
    more than `max_share` of the stored rows, or every one, is taken for a truncated one: a
    refused run, WithdrawalRefused, nothing deleted. The key fields must be strings."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset_id))
    columns = [layout.table.c[c] for c in layout.key]
    with engine.connect() as connection:
        stored = connection.execute(sa.select(*columns)).all()
    missing = [tuple(row) for row in stored if tuple(row) not in kept]
    if not missing:
        return None

    def absent(_: Connection, __: records.Layout, ___: Dataset) -> list[Conditions]:
        if not kept or len(missing) > max_share * len(stored):
            raise WithdrawalRefused(
                f"refused: the source lacks {len(missing):,} of the {len(stored):,} rows stored "
                f"({len(missing) / len(stored):.0%}, over its max_withdrawn_share of "
                f"{max_share:.0%}): a truncated or emptied feed must not wipe the dataset, so "
                "nothing was withdrawn; if the source really dropped them, harvest it once with "
                "a higher options.max_withdrawn_share"
            )
        key = sa.tuple_(*columns) if len(columns) > 1 else columns[0]
        values = missing if len(columns) > 1 else [k for (k,) in missing]
        return [[key.in_(values[i : i + 500])] for i in range(0, len(values), 500)]

    return _withdrawn(engine, dataset_id, absent, "rows the source no longer holds", by)


def _conditions(
    layout: records.Layout, dataset: Dataset, filters: Filters, dialect: str
) -> list[sa.ColumnElement[bool]]:
    """The filters as SQL conditions; a personal dataset's subject keys as their pseudonyms."""
    unknown = [field for field, _ in filters if field not in layout.columns]
    if unknown:
        raise WithdrawalRefused(f'field "{unknown[0]}" not in table')
    terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    if dataset.access == "personal" and terms is None:
        raise WithdrawalRefused(f"the charter of {dataset.id} cannot be read: its subjects neither")
    pairs = [
        (field, _pseudonymised(terms.producer, value))
        if terms is not None and field == terms.subject_field
        else (field, value)
        for field, value in filters
    ]
    try:
        chosen = selection.parse_filters(layout, pairs)
    except selection.QueryError as bad:
        raise WithdrawalRefused(str(bad)) from None
    return [selection.condition(layout, one, dialect) for one in chosen]


def _pseudonymised(producer: str, text: str) -> str:
    """A filter's subject keys as the gate stored them (a pseudonym given stays itself)."""
    if any(not key.strip() for key in selection.split_values(text)):
        raise WithdrawalRefused("a subject key filter needs a key")
    return pseudonyms.keyed_values(producer, text)


def _delete(
    connection: Connection,
    dataset: Dataset,
    resource: Resource,
    layout: records.Layout,
    chosen: list[sa.ColumnElement[bool]],
) -> tuple[int, int]:
    """Delete the chosen rows, the events carrying them and their atoms' hours; refresh the
    dataset's computed fields. The rows' count and the events' count."""
    table = layout.table
    where = sa.and_(sa.true(), *chosen)
    logged = events.logged_records(connection, dataset.id)
    forgotten = (
        events.forget_records(
            connection, dataset.id, _carried(connection, layout, where, logged), logged
        )
        if logged
        else 0
    )
    hours: set[int] = set()
    plan = _plan(dataset, resource, layout)
    if plan is not None and layout.time:
        times = connection.execute(sa.select(table.c[layout.time]).where(where).distinct())
        hours = {atoms.hour_number(m) for (t,) in times if (m := instant(t)) is not None}
    gone = int(connection.execute(sa.delete(table).where(where)).rowcount or 0)
    if gone:
        catalogue.refresh_extent(connection, dataset.id, resource, layout, True)
        if plan is not None and hours:
            atoms.refresh(connection, plan, hours)
    return gone, forgotten


def _carried(
    connection: Connection,
    layout: records.Layout,
    where: sa.ColumnElement[bool],
    logged: list[tuple[int, dict[str, Any]]],
) -> Callable[[dict[str, Any]], bool]:
    """Whether a logged record is among the rows about to go: by the schema's primary key (an
    event of a value since corrected has the key of the row holding the correction), or by the
    whole record for a schema without one. Only rows as recent as the log's are read."""
    key_fields = [f for f, c in layout.columns.items() if c in layout.key] or list(layout.columns)

    def key(record: dict[str, Any]) -> str:
        return json.dumps([record.get(f) for f in key_fields], default=str)

    statement = sa.select(layout.table).where(where)
    field = next((f for f, c in layout.columns.items() if c == layout.time), None)
    times = [record.get(field) for _, record in logged] if field else []
    if times and all(isinstance(t, str) and t for t in times):
        earliest = min(m for t in times if (m := instant(t)) is not None)
        since = records.time_bound(layout, earliest)
        statement = statement.where(layout.table.c[layout.time or ""] >= since)
    rows = connection.execute(statement).all()
    doomed = {key(record) for record in records.to_records(layout, rows)}
    return lambda record: key(record) in doomed


def _plan(dataset: Dataset, resource: Resource, layout: records.Layout) -> atoms.Plan | None:
    terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    if terms is None:
        return None
    fields = resource.schema_descriptor.get("fields", [])
    return atoms.plan_of(dataset.id, layout, fields, terms.subject_field)


def _payload(dataset: Dataset, run_id: int | None, rows: int) -> dict[str, Any]:
    return {"dataset": dataset.id, "theme": dataset.theme, "run": run_id, "withdrawn": rows}


def _log_event(connection: Connection, dataset: Dataset, run_id: int | None, rows: int) -> None:
    payload = {**_payload(dataset, run_id, rows), "time": utcnow().isoformat(), "geometry": None}
    entry = {
        "kind": "dataset",
        "dataset_id": dataset.id,
        "theme": dataset.theme,
        "access": dataset.access,
        "payload": payload,
    }
    events.append(connection, [entry])


def _announce(dataset: Dataset, run_id: int | None, rows: int) -> None:
    """Tell subscribers; a bus outage must not undo a committed withdrawal."""
    try:
        get_bus().publish({"event": "dataset", **_payload(dataset, run_id, rows)})
    except Exception as exc:  # noqa: BLE001 — the event log keeps it for replay
        log.warning("could not announce the withdrawal from %s on the bus: %s", dataset.id, exc)
