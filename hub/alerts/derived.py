"""Derived alerts: after a batch is published, the threshold rules judge the series it touched.

An episode over a rule's threshold raises one CAP Alert (sender: the hub), and a Cancel when it
ends; both are published through the gate (hub.catalogue.publish) as risk-alert records of the
hub's own dataset DATASET, under its open charter, so they reach the catalogue, the event log and
the feed as harvested alerts do. What was already raised is read back from that dataset: an
episode keeps one alert however often its data is harvested again.

Only open datasets are judged: an alert computed from restricted rows, published openly, would
give them away. Series are read through hub.reading, as anyone may read them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from hub import catalogue, reading, records, selection
from hub.access import ANONYMOUS
from hub.alerts.document import with_document
from hub.alerts.episodes import episodes_of, period_length, period_start, periods_of
from hub.alerts.messages import Row, Series, alert_row, cancel_row, identifier_of, series_prefix
from hub.alerts.moments import instant
from hub.alerts.rules import Rule, read_rules
from hub.batches import Batch, GridBatch, MetadataBatch, Publisher
from hub.models import Dataset, HarvestRun
from hub.schemas import load_schema

DATASET = "hub-derived-alerts"
CHARTER = "hub-derived-alerts"
PUBLISHER = Publisher("hub", "Territorial data hub")
PAGE = 5_000
LOOKBACK = 2  # periods read before the touched ones, to see whether an episode runs on

log = logging.getLogger(__name__)


def raise_derived_alerts(
    batch: Batch | GridBatch | MetadataBatch,
    run: HarvestRun,
    engine: Engine,
    span: tuple[datetime, datetime] | None = None,
) -> HarvestRun | None:
    """Judge the rules on what a committed batch changed and publish the alerts it raises or
    ends (the run of that publication; None if nothing). Never raises: the batch is stored.
    `span`, the first and last time of the rows it changed, lets the run's rows be found
    through the time index rather than by a scan of the whole table."""
    if not isinstance(batch, Batch) or batch.dataset_id == DATASET:
        return None  # the derived alerts themselves are never judged: no re-entry
    if run.id is None or not (run.rows_published or run.rows_updated):
        return None
    rules, broken = read_rules()
    for error in broken:
        log.error("alert rule not used: %s", error)
    chosen = [rule for rule in rules if rule.applies_to(batch.schema, batch.dataset_id)]
    if not chosen:
        return None
    try:
        rows = judge(engine, batch.dataset_id, run.id, chosen, datetime.now(UTC), span)
        return publish_alerts(engine, rows) if rows else None
    except Exception:  # noqa: BLE001 — the batch is committed; its alerts wait for the next one
        log.exception("derived alerts of run %s (%s) failed", run.id, batch.dataset_id)
        return None


def judge(
    engine: Engine,
    dataset_id: str,
    run_id: int,
    rules: list[Rule],
    now: datetime,
    span: tuple[datetime, datetime] | None = None,
) -> list[Row]:
    """The Alert and Cancel rows the rules give on the series a run touched."""
    found: list[Row] = []
    with Session(engine) as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None or dataset.access != "open":
            return []
        layout = reading.layout(session, dataset)
        for rule in rules:
            series = touched(session.connection(), layout, rule, run_id, span)
            raised = _raised(session, f"hub.{rule.id}.") if series else {}
            for key, first, last in series:
                prefix = series_prefix(rule, Series(key, "", None, None))
                mine = {i: row for i, row in raised.items() if i.startswith(prefix)}
                found += judge_series(session, dataset, rule, key, (first, last), mine, now)
    return found


def touched(
    connection: sa.Connection,
    layout: records.Layout,
    rule: Rule,
    run_id: int,
    span: tuple[datetime, datetime] | None = None,
) -> list[tuple[tuple[str, ...], datetime, datetime]]:
    """Each series a run stored rows of (its key), and the times of those rows (all within
    `span` when the gate gave it: `_run` has no index, the time has)."""
    table = layout.table
    keys = [table.c[layout.columns[name]] for name in rule.series]
    time = table.c[layout.time or ""]
    wanted = [
        table.c[layout.columns[name]] == selection.typed(layout.types[name], name, value)
        for name, value in rule.where.items()
    ]
    if span is not None:
        wanted += [time >= span[0], time <= span[1]]
    query = (
        sa.select(*keys, sa.func.min(time), sa.func.max(time))
        .where(table.c["_run"] == run_id, *wanted)
        .group_by(*keys)
    )
    found = []
    for row in connection.execute(query):
        first, last = instant(row[-2]), instant(row[-1])
        if first is not None and last is not None:
            found.append((tuple(str(part) for part in row[:-2]), first, last))
    return found


def judge_series(
    session: Session,
    dataset: Dataset,
    rule: Rule,
    key: tuple[str, ...],
    span: tuple[datetime, datetime],
    raised: dict[str, Row],
    now: datetime,
) -> list[Row]:
    """The rows one series gives: an Alert per new episode, a Cancel per ended one (`raised`:
    what was already published for the series, by identifier)."""
    length = period_length(rule) or timedelta(hours=1)
    open_starts = [
        moment
        for ident, row in raised.items()
        if row["msgType"] == "Alert"
        and f"{ident}.end" not in raised
        and (moment := instant(row.get("onset"))) is not None
    ]
    start = min([period_start(rule, span[0]) - LOOKBACK * length, *open_starts])
    observations, series = _series(session, dataset, rule, key, start, span[1] + 2 * length)
    episodes = episodes_of(rule, periods_of(rule, observations))
    found: list[Row] = []
    seen: set[str] = set()
    for episode in episodes:
        ident = identifier_of(rule, series, episode.start)
        seen.add(ident)
        alert = raised.get(ident)
        if alert is None:
            alert = alert_row(rule, series, episode)
            found.append(alert)
        if episode.end is not None and f"{ident}.end" not in raised:
            found.append(cancel_row(rule, series, alert, episode.end, now))
    for moment in open_starts:
        ident = identifier_of(rule, series, moment)
        if ident not in seen:  # its data no longer shows the episode: withdrawn
            found.append(cancel_row(rule, series, raised[ident], None, now))
    return found


def _series(
    session: Session,
    dataset: Dataset,
    rule: Rule,
    key: tuple[str, ...],
    start: datetime,
    end: datetime,
) -> tuple[list[tuple[datetime, float]], Series]:
    """A series' (time, value) pairs in [start, end), and its name and place."""
    shape = reading.layout(session, dataset)
    lon_field, lat_field = reading.coordinates(shape)
    time_field = next(f for f, c in shape.columns.items() if c == shape.time)
    filters = [(name, _escaped(value)) for name, value in zip(rule.series, key, strict=True)]
    filters += [(name, _escaped(value)) for name, value in rule.where.items()]
    criteria = reading.Criteria(start, end, filters=tuple(filters))
    observations: list[tuple[datetime, float]] = []
    last: dict[str, Any] = {}
    for row in _pages(session, dataset, criteria):
        moment, value = instant(row.get(time_field)), row.get(rule.field)
        if moment is not None and value is not None:
            observations.append((moment, float(value)))
            last = row
    name = str(last.get("station_name") or " ".join(key))
    lon = last.get(lon_field or "")
    lat = last.get(lat_field or "")
    point = (float(lon), float(lat)) if lon is not None and lat is not None else (None, None)
    return observations, Series(key, name, point[0], point[1])


def _pages(
    session: Session, dataset: Dataset, criteria: reading.Criteria
) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        page = reading.read_records(session, dataset, _caller(), criteria, PAGE, cursor)
        yield from page.records
        cursor = page.next_cursor
        if not cursor:
            return


def _caller() -> reading.Caller:
    """Anyone: a rule reads a series as the public may (built on call: hub.reading imports the
    catalogue, which imports this module)."""
    return reading.Caller(ANONYMOUS, route="derived alerts")


def _raised(session: Session, prefix: str) -> dict[str, Row]:
    """The alerts and cancels already published whose identifier starts with `prefix`."""
    dataset = session.get(Dataset, DATASET)
    if dataset is None:
        return {}
    criteria = reading.Criteria(filters=(("identifier__contains", prefix),))
    return {
        str(row["identifier"]): row
        for row in _pages(session, dataset, criteria)
        if str(row["identifier"]).startswith(prefix)
    }


def publish_alerts(engine: Engine, rows: list[Row]) -> HarvestRun:
    """Publish derived Alert and Cancel rows through the gate, into the hub's dataset."""
    # Each row keeps its own CAP document (one info per alert), served as it was announced.
    rows = [documented for row in rows for documented in with_document([row])]
    fields = load_schema("risk-alert").fields
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in fields},
        schema=dict.fromkeys(fields, pl.Utf8),
    ).with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))
    batch = Batch(
        dataset_id=DATASET,
        title="Alerts raised by the hub from threshold rules",
        publisher=PUBLISHER,
        theme="risk",
        charter=CHARTER,
        schema="risk-alert",
        chunks=[frame],
        description=(
            "CAP 1.2 alerts the hub raises when published measurements cross a threshold rule "
            "of alert-rules/ (e.g. PM10 daily mean over the information threshold), and their "
            "cancellations when the episode ends."
        ),
        source_id="alert-rules",
        keywords=["alert", "cap", "threshold"],
    )
    run = catalogue.publish(batch, engine=engine)
    log.info("derived alerts: %d rows published (run %s)", len(rows), run.id)
    return run


def _escaped(value: str) -> str:
    """A filter value taken whole (the records query splits values on commas)."""
    return value.replace(",", "\\,")
