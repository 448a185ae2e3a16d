"""The event log behind the feeds (DESIGN §4): what the gate published, in commit order.

Each record batch the gate stores appends, in its own transaction, one event per record it
published or changed whose time falls inside the replay horizon — `alert` for the risk-alert
schema, `observation` for the others; older rows are history, which the records API serves — and
then one `dataset` event. Declaring or closing a crisis appends a `crisis` event. Revoking a
consent or removing a link appends a `grant` event, which no client receives: it tells every
replica's fan-out to compute its grants on that dataset again before the next event.

Ids are the replay sequence (`Last-Event-ID`). On PostgreSQL, appends take a transaction-level
advisory lock, so ids become visible in the order they were given: a reader that has seen id N
never later finds a smaller id committed behind it. After commit the bus wakes the feeds of every
replica, which read the log from their last id (hub.feeds) — the bus carries no event itself, so a
lost message delays an event until the next read, and never loses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from hub import db, eventgaps, records
from hub.alerts.moments import instant
from hub.bus import get_bus
from hub.models import Event, as_utc, utcnow

log = logging.getLogger(__name__)

KINDS = ("observation", "alert", "gap", "dataset", "crisis", "grant")
INTERNAL = ("grant",)  # kinds the feeds act on and never send
# Replay horizon: records older than this are not news, and the log keeps at least this much.
HORIZON = timedelta(hours=48)
KEEP = timedelta(hours=72)  # purged after this (a client may resume up to 48 h late, plus slack)
# A batch's records beyond this, its oldest, are left to the records API (a `gap` event says how
# many): a back-fill of a whole network must not flood every subscriber.
BATCH_EVENTS_CAP = 100_000
ALERT_SCHEMA = "risk-alert"
SEVERITIES = ("Unknown", "Minor", "Moderate", "Severe", "Extreme")  # CAP 1.2, in rank order
_LOCK_KEY = 1_102_026  # pg_advisory_xact_lock key of the event log
_TABLE: sa.Table = Event.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FeedEvent:
    """One logged event, as a feed sends it, with what its filters and grants look at."""

    id: int
    kind: str
    dataset: str
    theme: str
    logged_at: datetime
    data: dict[str, Any]  # the SSE `data:` object
    access: str = "open"  # the dataset's charter access level when it was published
    subject: str = ""  # a personal record's pseudonymous subject key
    bbox: tuple[float, float, float, float] | None = field(default=None, compare=False)

    @property
    def severity(self) -> int | None:
        """The CAP severity's rank (Unknown 0 … Extreme 4), or None for an event without one."""
        value = self.data.get("severity")
        return SEVERITIES.index(value) if value in SEVERITIES else None

    @property
    def status(self) -> str:
        """CAP status of an alert (Actual, Exercise, Test …), Exercise for an exercise crisis's
        event (its own `status` says declared or closed); other events are Actual."""
        if self.kind == "crisis":
            return "Exercise" if self.data.get("exercise") else "Actual"
        return str(self.data.get("status") or "Actual")


@dataclass(frozen=True)
class Published:
    """What the gate knows of a stored batch that its events need."""

    dataset_id: str
    theme: str
    schema: str
    access: str
    layout: records.Layout
    run_id: int


def log_batch(connection: Connection, batch: Published) -> int:
    """Append the events of the records a run wrote (inside the batch's transaction).

    Past BATCH_EVENTS_CAP the newest records are kept, and a `gap` event before them says how
    many older ones were left out and where the records API serves them."""
    layout, table = batch.layout, batch.layout.table
    alert = batch.schema == ALERT_SCHEMA
    statement = sa.select(table).where(table.c["_run"] == batch.run_id)
    if layout.time:
        if not alert:  # an alert stays news until it expires; alerts are few
            # The database's clock: a writer whose own runs ahead must not find its rows old.
            since = db.clock(connection) - HORIZON
            statement = statement.where(table.c[layout.time] >= records.time_bound(layout, since))
        time_column = table.c[layout.time]
        statement = statement.order_by(time_column.desc(), table.c["_id"].desc())
    elif not alert:
        return 0  # a list without times (stations, sites) changes: its dataset event says so
    rows = connection.execute(statement.limit(BATCH_EVENTS_CAP + 1)).all()[::-1]
    kept = eventgaps.newest(rows, layout.time, BATCH_EVENTS_CAP)
    kind = "alert" if alert else "observation"
    subject_field = _field_of(layout, layout.subject)
    entries = [
        _entry(kind, batch, record, subject_field) for record in records.to_records(layout, kept)
    ]
    if len(kept) < len(rows):
        first_kept = entries[0]["payload"]["time"]
        gap = eventgaps.left_out(connection, statement, batch, len(kept), first_kept)
        entries.insert(0, gap)
    append(connection, entries)
    return len(entries)


def _entry(
    kind: str, batch: Published, record: dict[str, Any], subject_field: str | None
) -> dict[str, Any]:
    layout = batch.layout
    data: dict[str, Any] = {
        "dataset": batch.dataset_id,
        "theme": batch.theme,
        "time": record.get(_field_of(layout, layout.time) or ""),
        "geometry": geometry_of(record, layout),
        "record": record,
        **span_of(record, layout),
    }
    if kind == "alert":
        data["severity"] = record.get("severity")
        data["status"] = record.get("status") or "Actual"
    return {
        "kind": kind,
        "dataset_id": batch.dataset_id,
        "theme": batch.theme,
        "access": batch.access,
        "subject": str(record.get(subject_field) or "") if subject_field else "",
        "payload": data,
    }


def _field_of(layout: records.Layout, column: str | None) -> str | None:
    """The schema field stored in `column`."""
    if column is None:
        return None
    return next((name for name, stored in layout.columns.items() if stored == column), None)


def span_of(record: dict[str, Any], layout: records.Layout) -> dict[str, Any]:
    """A lasting record's `end` as the feed carries it (nothing for an instant): its last
    moment, or None while it has not ended (an outage still ongoing), which a crisis's window
    tests as the rows' SQL does."""
    if not layout.end:
        return {}
    last = record.get(_field_of(layout, layout.end) or "")
    if last in (None, "") and not layout.open_end:
        last = record.get(_field_of(layout, layout.time) or "")
    return {"end": None if last in (None, "") else last}


def geometry_of(record: dict[str, Any], layout: records.Layout) -> dict[str, Any] | None:
    """A record's GeoJSON geometry: its schema's geometry field (an alert's area), else its
    point. The feed and the GeoJSON records both draw a record with this."""
    shape = record.get(_field_of(layout, layout.geometry) or "")
    if isinstance(shape, str) and shape.startswith("{"):  # as a row read as text holds it
        try:
            shape = json.loads(shape)
        except ValueError:
            shape = None
    if isinstance(shape, dict) and shape.get("type"):
        return shape
    lon, lat = (record.get(_field_of(layout, c) or "") for c in (layout.lon, layout.lat))
    if isinstance(lon, int | float) and isinstance(lat, int | float):
        return {"type": "Point", "coordinates": [lon, lat]}
    return None


def append(connection: Connection, entries: Sequence[dict[str, Any]]) -> None:
    """Append events in order, inside the caller's transaction."""
    if not entries:
        return
    if connection.dialect.name == "postgresql":
        # Held until commit: ids are handed out and made visible in the same order.
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    now = db.clock(connection)  # retention and `since` judge events by this one clock
    connection.execute(_TABLE.insert(), [{"time": now, **entry} for entry in entries])


def emit(
    engine: Engine,
    kind: str,
    *,
    dataset_id: str = "",
    theme: str = "",
    time: datetime | None = None,
    payload: dict[str, Any],
) -> int:
    """Append one event in its own transaction, announce it, and return its id."""
    with engine.begin() as connection:
        newest = record(
            connection, kind, dataset_id=dataset_id, theme=theme, time=time, payload=payload
        )
    announce()
    return newest


def record(
    connection: Connection,
    kind: str,
    *,
    dataset_id: str = "",
    theme: str = "",
    time: datetime | None = None,
    payload: dict[str, Any],
    access: str = "open",
) -> int:
    """Append one event inside the caller's transaction (announce it after the commit)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    data = {"dataset": dataset_id or None, "theme": theme, **payload}
    data.setdefault("time", (time or utcnow()).isoformat())
    entry = {"kind": kind, "dataset_id": dataset_id, "theme": theme, "payload": data}
    append(connection, [{**entry, "access": access}])
    return int(connection.execute(sa.select(sa.func.max(_TABLE.c.id))).scalar_one())


def announce() -> None:
    """Wake every replica's feeds after a commit; a bus outage only delays them (they poll)."""
    try:
        get_bus().publish({"event": "feed"})
    except Exception:  # noqa: BLE001 — the events are committed; feeds find them on their own
        log.warning("could not wake the feeds on the bus; they will find the events by polling")


def after(connection: Connection, last_id: int, limit: int = 1_000) -> list[FeedEvent]:
    """The events logged after `last_id`, oldest first."""
    rows = connection.execute(
        sa.select(_TABLE).where(_TABLE.c.id > last_id).order_by(_TABLE.c.id).limit(limit)
    ).all()
    return [_feed_event(row) for row in rows]


def newest_id(connection: Connection) -> int:
    """The id of the newest event (0 for an empty log)."""
    return int(connection.execute(sa.select(sa.func.max(_TABLE.c.id))).scalar() or 0)


def oldest_id(connection: Connection) -> int:
    """The id of the oldest event the log still holds (0 for an empty log)."""
    return int(connection.execute(sa.select(sa.func.min(_TABLE.c.id))).scalar() or 0)


def last_before(connection: Connection, moment: datetime) -> int:
    """The id to resume after to replay everything logged from `moment` on."""
    first = connection.execute(
        sa.select(sa.func.min(_TABLE.c.id)).where(_TABLE.c.time >= as_utc(moment))
    ).scalar()
    return int(first) - 1 if first is not None else newest_id(connection)


def purge(engine: Engine, keep: timedelta = KEEP) -> int:
    """Forget events logged longer ago than `keep` (never less than the replay horizon).

    Personal records ride in events (pseudonym and values, superseded ones included): the gate
    calls this after every batch, and housekeeping on its own schedule. Both walk the time
    index; with nothing old enough, it is one read and no write transaction. Ages are judged by
    the database's clock, which stamped the events: a writer's fast clock purges nothing early."""
    with engine.connect() as connection:
        cutoff = db.clock(connection) - max(keep, HORIZON)
        oldest = instant(connection.execute(sa.select(sa.func.min(_TABLE.c.time))).scalar())
    if oldest is None or oldest >= cutoff:
        return 0
    with engine.begin() as connection:
        result = connection.execute(_TABLE.delete().where(_TABLE.c.time < cutoff))
    return int(result.rowcount or 0)


def purge_quietly(engine: Engine) -> int:
    """`purge`, after a batch is committed: a failure (a locked store) is logged, not raised;
    the next batch or the housekeeping tries again."""
    try:
        return purge(engine)
    except Exception as exc:  # noqa: BLE001 — the batch is stored; only the purge waits
        log.warning("event log not purged: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return 0


def forget_records(
    connection: Connection,
    dataset_id: str,
    gone: Callable[[dict[str, Any]], bool],
    logged: list[tuple[int, dict[str, Any]]] | None = None,
) -> int:
    """Delete, inside the caller's transaction, the record events of a dataset whose record
    `gone` says was deleted (by retention or a withdrawal): the log must not keep what the
    record table no longer does. `logged`: the dataset's `logged_records`, if already read."""
    if logged is None:
        logged = logged_records(connection, dataset_id)
    doomed = [event_id for event_id, record in logged if gone(record)]
    for start in range(0, len(doomed), 500):  # a bind parameter each: stay under the limits
        connection.execute(_TABLE.delete().where(_TABLE.c.id.in_(doomed[start : start + 500])))
    return len(doomed)


def logged_records(connection: Connection, dataset_id: str) -> list[tuple[int, dict[str, Any]]]:
    """(event id, record) of the record events the log holds for a dataset; the log keeps a
    few days, so they are few."""
    found = connection.execute(
        sa.select(_TABLE.c.id, _TABLE.c.payload).where(
            _TABLE.c.dataset_id == dataset_id, _TABLE.c.kind.in_(("observation", "alert"))
        )
    ).all()
    logged = []
    for event_id, payload in found:
        data = payload if isinstance(payload, dict) else json.loads(payload)
        logged.append((int(event_id), data.get("record") or {}))
    return logged


def _feed_event(row: Any) -> FeedEvent:
    data = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
    return FeedEvent(
        id=row.id,
        kind=row.kind,
        dataset=row.dataset_id,
        theme=row.theme,
        logged_at=as_utc(row.time),
        data=data,
        access=row.access or "open",
        subject=row.subject or "",
        bbox=bounds(data.get("geometry")),
    )


def bounds(geometry: Any) -> tuple[float, float, float, float] | None:
    """The bbox of a GeoJSON geometry, or None."""
    if not isinstance(geometry, dict):
        return None
    points = list(_positions(geometry.get("coordinates")))
    for member in geometry.get("geometries") or ():
        points.extend(_positions(member.get("coordinates") if isinstance(member, dict) else None))
    if not points:
        return None
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    return (min(lons), min(lats), max(lons), max(lats))


def _positions(coordinates: Any) -> Iterable[tuple[float, float]]:
    if (
        isinstance(coordinates, list | tuple)
        and len(coordinates) >= 2
        and all(isinstance(c, int | float) for c in coordinates[:2])
    ):
        yield (float(coordinates[0]), float(coordinates[1]))
    elif isinstance(coordinates, list | tuple):
        for member in coordinates:
            yield from _positions(member)
