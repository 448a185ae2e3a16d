"""`?snapshot=latest`: the latest value of each series in a stream's scope, sent before the log.

A series is a dataset's rows that share their key but for its time (a station and a pollutant,
say). The newest row of every series (up to MAX_SERIES a dataset), however long it has been
silent, is read through hub.reading (the grant applied in SQL, the read logged for non-open
data) by a skip scan of the key index; rows that are no series (an earthquake, an alert, keyed
by their own id) send their newest MAX_SERIES. Datasets the caller may not read are skipped
without a word. Snapshot messages carry no `id:` (they are not in the log) and their
data says `"snapshot": true`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import catalogue, events, reading
from hub.feeds import grants, sse
from hub.feeds.filters import Filters, event_shape
from hub.models import Dataset, utcnow

log = logging.getLogger(__name__)

MAX_SERIES = 1_000  # series (or newest rows) a snapshot sends per dataset
MAX_DATASETS = 100  # datasets one snapshot reads (the most recently published first)


def latest(engine: Engine, caller: reading.Caller, filters: Filters) -> list[bytes]:
    """The snapshot messages of a stream (blocking: run in a thread)."""
    if not filters.types & {"observation", "alert"}:
        return []
    messages: list[bytes] = []
    with Session(engine) as session:
        for dataset in _in_scope(session, filters):
            given = grants.grant_for(engine, dataset, caller.actor, caller.purpose)
            if not given.reads_rows:
                continue
            messages.extend(_series(session, dataset, caller, filters))
    return messages


def _in_scope(session: Session, filters: Filters) -> list[Dataset]:
    statement = select(Dataset)
    if filters.datasets:
        statement = statement.where(col(Dataset.id).in_(sorted(filters.datasets)))
    if filters.themes:
        statement = statement.where(col(Dataset.theme).in_(sorted(filters.themes)))
    statement = statement.order_by(
        col(Dataset.published_at).desc().nulls_last(), col(Dataset.id)
    ).limit(MAX_DATASETS)
    found = list(session.exec(statement).all())
    wanted = filters.types
    return [dataset for dataset in found if _kind(dataset) in wanted and _near(dataset, filters)]


def _kind(dataset: Dataset) -> str:
    return "alert" if dataset.schema_name == events.ALERT_SCHEMA else "observation"


def _near(dataset: Dataset, filters: Filters) -> bool:
    """Whether a dataset's extent may meet the stream's areas (a cheap test before reading)."""
    if not filters.areas:
        return True
    if not dataset.bbox or len(dataset.bbox) != 4:
        return False
    west, south, east, north = (float(v) for v in dataset.bbox)
    return all(
        any(west <= b[2] and east >= b[0] and south <= b[3] and north >= b[1] for b in area.boxes)
        for area in filters.areas
    )


def _series(
    session: Session, dataset: Dataset, caller: reading.Caller, filters: Filters
) -> list[bytes]:
    try:
        shape = reading.layout(session, dataset)
    except catalogue.NotFound:
        return []  # a grid or a withdrawn dataset: no series
    rows = reading.read_latest_of_each_series(session, dataset, caller, MAX_SERIES)
    fields = {column: name for name, column in shape.columns.items()}
    time_field = fields.get(shape.time or "")
    key_fields = [fields[c] for c in shape.key if c in fields and c != shape.time]
    kind = _kind(dataset)
    seen: set[tuple[Any, ...]] = set()
    messages = []
    for record in rows:  # newest first: the first of each series is its latest value
        series = tuple(record.get(name) for name in key_fields) if key_fields else (id(record),)
        if series in seen:
            continue
        seen.add(series)
        data: dict[str, Any] = {
            "dataset": dataset.id,
            "theme": dataset.theme,
            "time": record.get(time_field or ""),
            "geometry": events.geometry_of(record, shape),
            "record": record,
            **events.span_of(record, shape),
            "snapshot": True,
        }
        if kind == "alert":
            data["severity"] = record.get("severity")
            data["status"] = record.get("status") or "Actual"
        probe = events.FeedEvent(
            0,
            kind,
            dataset.id,
            dataset.theme,
            utcnow(),
            data,
            dataset.access,
            "",
            events.bounds(data["geometry"]),
        )
        if filters.matches(probe, event_shape(probe) if filters.areas else None):
            messages.append(sse.message(kind, data))
    return messages
