"""Retention of personal records: what is older than its charter's `retention_days` is deleted.

A personal dataset keeps its rows for the `retention_days` of the charter version it was last
published under, counted from each row's own time (the schema's time column), or from the run
that last stored it when the schema has none. Quarantined rows and the errors listed in run
reports quote rows too: those of runs started before the same day go with them, and so do the
events of the feed's log that carry the rows (the log keeps days, but a row past retention must
not outlive its table by one hour). Each purge that
deletes something leaves a run in the dataset's history, a dataset event, and a log line; the
dataset's count, time range and extent follow the rows. `pipelines.retention` runs it every day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlmodel import Session, col, select

from hub import atoms, catalogue, charters, events, records, runs
from hub.bus import get_bus
from hub.db import get_engine
from hub.models import Dataset, HarvestRun, QuarantinedRow, Resource, as_utc, utcnow

log = logging.getLogger(__name__)

NOTE = "retention"  # what a purge's run note says first (all the public sees of it)


@dataclass(frozen=True)
class Purge:
    """What a purge did to one personal dataset."""

    dataset_id: str
    before: datetime | None  # what was older than this went; None: nothing could be decided
    rows: int = 0
    quarantined: int = 0
    reports: int = 0  # run reports whose listed errors were withdrawn
    run_id: int | None = None
    note: str = ""
    failed: bool = False

    @property
    def deleted(self) -> bool:
        """Whether anything went."""
        return bool(self.rows or self.quarantined or self.reports)


def purge_expired(engine: Engine | None = None, now: datetime | None = None) -> list[Purge]:
    """Purge every personal dataset of what its charter no longer lets the hub keep."""
    engine = engine or get_engine()
    moment = (now or utcnow()).astimezone(UTC)
    with Session(engine) as session:
        datasets = session.exec(
            select(Dataset).where(Dataset.access == "personal").order_by(col(Dataset.id))
        ).all()
    return [_purge_or_say_why(engine, dataset, moment) for dataset in datasets]


def _purge_or_say_why(engine: Engine, dataset: Dataset, now: datetime) -> Purge:
    """One dataset's purge; one that breaks (its run says how) does not stop the others."""
    try:
        return purge_dataset(engine, dataset, now)
    except Exception as exc:  # noqa: BLE001 — reported in the outcome, the run and the log
        log.exception("purge of %s failed", dataset.id)
        return Purge(dataset.id, None, note=f"failed: {type(exc).__name__}: {exc}", failed=True)


def purge_dataset(engine: Engine, dataset: Dataset, now: datetime) -> Purge:
    """Delete a personal dataset's rows, quarantined rows and report errors past retention."""
    terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    if terms is None:  # the charter is gone: the rows wait for one that says how long
        note = (
            f"charter {dataset.charter_id} {dataset.charter_version} cannot be read: "
            "its retention is unknown, nothing was deleted"
        )
        log.warning("%s: %s", dataset.id, note)
        return Purge(dataset.id, None, note=note)
    before = now - timedelta(days=terms.retention_days)
    why = (
        f"older than {before:%Y-%m-%d %H:%M} UTC, past the {terms.retention_days} days of "
        f"charter {terms.charter_id} {terms.version}"
    )
    with engine.connect() as connection:
        due = _expired_rows(connection, dataset.id, before, count=True) or _keeps_old_runs(
            connection, dataset.id, before
        )
    if not due:
        return Purge(dataset.id, before, note=f"nothing {why}")
    run = runs.open_run(engine, dataset.id, None)
    try:
        with engine.begin() as connection:
            purge = _purge(connection, dataset.id, before, why, now, terms.subject_field)
            note = (
                f"{NOTE}: {purge.rows:,} rows {why} deleted; "
                f"{purge.quarantined:,} quarantined rows and the errors of "
                f"{purge.reports:,} run reports withdrawn"
            )
            _log_event(connection, dataset, run.id, purge)
    except Exception as exc:
        runs.close_run(engine, run, "failed", f"{NOTE}: {type(exc).__name__}: {exc}")
        raise
    runs.close_run(engine, run, "succeeded", note)
    _announce(dataset, run.id, purge)
    log.info("%s: %s", dataset.id, note)
    return Purge(dataset.id, before, purge.rows, purge.quarantined, purge.reports, run.id, note)


def _purge(
    connection: Connection,
    dataset_id: str,
    before: datetime,
    why: str,
    now: datetime,
    subject_field: str,
) -> Purge:
    """Delete in one transaction, then bring the dataset's computed fields and its aggregate
    atoms in step."""
    rows = _expired_rows(connection, dataset_id, before, count=False)
    old = sa.select(_RUNS.c.id).where(_RUNS.c.dataset_id == dataset_id, _RUNS.c.started_at < before)
    quarantined = connection.execute(
        sa.delete(_QUARANTINE).where(
            _QUARANTINE.c.dataset_id == dataset_id, _QUARANTINE.c.run_id.in_(old)
        )
    ).rowcount
    reports = _withdraw_errors(connection, dataset_id, before, why, now)
    resource = _records_resource(connection, dataset_id)
    if resource is not None and rows:
        layout = catalogue.layout_of(resource)
        _forget_events(connection, dataset_id, layout, before)
        catalogue.refresh_extent(connection, dataset_id, resource, layout, True)
        fields = resource.schema_descriptor.get("fields", [])
        plan = atoms.plan_of(dataset_id, layout, fields, subject_field)
        if plan is not None:
            atoms.cut(connection, plan, before)
    return Purge(dataset_id, before, rows, quarantined or 0, reports)


def _expired_rows(connection: Connection, dataset_id: str, before: datetime, count: bool) -> int:
    """How many record rows are past retention; deleted unless only counted."""
    resource = _records_resource(connection, dataset_id)
    if resource is None:
        return 0
    layout = catalogue.layout_of(resource)
    if not sa.inspect(connection).has_table(layout.table.name):
        return 0
    table = layout.table
    if layout.time:
        field = next(name for name, column in layout.columns.items() if column == layout.time)
        bound: Any = before.date() if layout.types[field] == "date" else before
        expired = table.c[layout.time] < bound
    else:  # no time of its own: the day the hub last stored the row
        expired = table.c["_run"].in_(
            sa.select(_RUNS.c.id).where(
                _RUNS.c.dataset_id == dataset_id, _RUNS.c.started_at < before
            )
        )
    if count:
        found = connection.execute(sa.select(sa.func.count()).select_from(table).where(expired))
        return int(found.scalar_one())
    return int(connection.execute(sa.delete(table).where(expired)).rowcount or 0)


def _forget_events(
    connection: Connection, dataset_id: str, layout: records.Layout, before: datetime
) -> int:
    """Delete the events that carry rows past retention (a row without a time has none)."""
    field = next((name for name, column in layout.columns.items() if column == layout.time), None)
    if field is None:
        return 0
    dated = layout.types[field] == "date"

    def expired(record: dict[str, Any]) -> bool:
        value = record.get(field)
        if not isinstance(value, str) or not value:
            return False
        if dated:
            return date.fromisoformat(value[:10]) < before.date()
        return as_utc(datetime.fromisoformat(value)) < before

    return events.forget_records(connection, dataset_id, expired)


def _keeps_old_runs(connection: Connection, dataset_id: str, before: datetime) -> bool:
    """Whether runs started before `before` still hold quarantined rows or listed errors."""
    session = Session(bind=connection)
    for run in _runs_before(session, dataset_id, before):
        if _lists_errors(run.report):
            return True
        held = session.exec(select(QuarantinedRow.id).where(QuarantinedRow.run_id == run.id))
        if held.first() is not None:
            return True
    return False


def _withdraw_errors(
    connection: Connection, dataset_id: str, before: datetime, why: str, now: datetime
) -> int:
    """Empty the error lists of old runs' reports (their counts stay), saying so."""
    session = Session(bind=connection)
    withdrawn = 0
    for run in _runs_before(session, dataset_id, before):
        if not _lists_errors(run.report):
            continue
        report = dict(run.report or {})
        report["tasks"] = [
            {
                **task,
                "errors": [],
                "warnings": [
                    *task.get("warnings", []),
                    f"the errors listed were withdrawn on {now:%Y-%m-%d}: {why}",
                ],
            }
            for task in report.get("tasks", [])
        ]
        run.report = report
        session.add(run)
        withdrawn += 1
    session.flush()
    return withdrawn


def _runs_before(session: Session, dataset_id: str, before: datetime) -> list[HarvestRun]:
    statement = select(HarvestRun).where(
        HarvestRun.dataset_id == dataset_id, HarvestRun.started_at < before
    )
    return list(session.exec(statement).all())


def _lists_errors(report: dict[str, Any] | None) -> bool:
    return any(task.get("errors") for task in (report or {}).get("tasks", []))


def _records_resource(connection: Connection, dataset_id: str) -> Resource | None:
    return (
        Session(bind=connection)
        .exec(select(Resource).where(Resource.dataset_id == dataset_id, Resource.kind == "records"))
        .first()
    )


def _payload(dataset: Dataset, run_id: int | None, purge: Purge) -> dict[str, Any]:
    return {
        "dataset": dataset.id,
        "theme": dataset.theme,
        "run": run_id,
        "purged": purge.rows,
        "quarantine_purged": purge.quarantined,
    }


def _log_event(connection: Connection, dataset: Dataset, run_id: int | None, purge: Purge) -> None:
    payload = {**_payload(dataset, run_id, purge), "time": utcnow().isoformat(), "geometry": None}
    events.append(
        connection,
        [
            {
                "kind": "dataset",
                "dataset_id": dataset.id,
                "theme": dataset.theme,
                "access": dataset.access,
                "payload": payload,
            }
        ],
    )


def _announce(dataset: Dataset, run_id: int | None, purge: Purge) -> None:
    """Tell subscribers; a bus outage must not undo a committed purge."""
    try:
        get_bus().publish({"event": "dataset", **_payload(dataset, run_id, purge)})
    except Exception as exc:  # noqa: BLE001 — the event log keeps it for replay
        log.warning("could not announce the purge of %s on the bus: %s", dataset.id, exc)


_RUNS: sa.Table = HarvestRun.__table__  # type: ignore[attr-defined]
_QUARANTINE: sa.Table = QuarantinedRow.__table__  # type: ignore[attr-defined]
