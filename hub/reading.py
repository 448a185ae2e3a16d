"""THE ONE READ PATH: every read of records, quarantine and reports comes through here.

Each function asks `hub.access` for the caller's grant, applies it inside the SQL query (never
after it), and writes an access event for every read of non-open data — refused attempts too —
before a single row leaves. Routes and pages call these functions; none reads a record table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from hub import access, audit, catalogue, quarantine, records
from hub.access import ANONYMOUS, AccessDenied, Actor, Grant
from hub.models import Dataset, HarvestRun, QuarantinedRow

STREAM_PAGE = 5_000


@dataclass(frozen=True)
class Caller:
    """Who reads, through which route, and for what purpose (when they say)."""

    actor: Actor = ANONYMOUS
    route: str = ""
    purpose: str = ""


@dataclass(frozen=True)
class Criteria:
    """Which records a caller asks for, before the grant narrows them."""

    start: datetime | None = None
    end: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None


def admit(engine: Engine, dataset: Dataset, caller: Caller, *, whole: bool = False) -> Grant:
    """The caller's grant on `dataset`; a refusal is logged and raised as AccessDenied.

    `whole`: the read shows every row or what is computed from them (quarantine, reports), so a
    grant on some rows only is refused too.
    """
    given = access.grant(dataset, caller.actor)
    if not given.reads_rows or (whole and not given.whole):
        reason = (
            given.reason
            if not given.reads_rows
            else (f"{given.reason}: this read shows every row of {dataset.id!r}, beyond that grant")
        )
        record(engine, dataset, caller, given, outcome="denied", reason=reason)
        raise AccessDenied(dataset.id, reason, caller.actor)
    return given


def record(
    engine: Engine,
    dataset: Dataset,
    caller: Caller,
    given: Grant,
    *,
    outcome: str = "granted",
    rows: int | None = None,
    reason: str = "",
) -> None:
    """Append the access event of a read of non-open data (open data is nobody's secret)."""
    if dataset.access == "open":
        return
    actor = caller.actor
    audit.append(
        engine,
        audit.Entry(
            actor_id=actor.id,
            actor_role=actor.role,
            organization=",".join(sorted(actor.organizations))[:100],
            dataset_id=dataset.id,
            producer=dataset.organization_id,
            outcome=outcome,
            scope=given.scope,
            route=caller.route[:200],
            reason=(reason or given.reason),
            purpose=caller.purpose[:200],
            rows=rows,
        ),
    )


def condition(layout: records.Layout, given: Grant) -> sa.ColumnElement[bool] | None:
    """A grant as a SQL condition on the record table; a scope the table cannot express is
    the empty set, never everything."""
    table = layout.table
    if given.scope == "all":
        return None
    if given.scope == "subjects":
        if not layout.subject or not given.subjects:
            return sa.false()
        return table.c[layout.subject].in_(sorted(given.subjects))
    if given.scope == "area":
        if given.area is None or not (layout.lon and layout.lat):
            return sa.false()
        parts = [records.inside(layout, given.area)]
        if given.start is not None or given.end is not None:
            if not layout.time:
                return sa.false()
            if given.start is not None:
                parts.append(table.c[layout.time] >= given.start)
            if given.end is not None:
                parts.append(table.c[layout.time] < given.end)
        return sa.and_(*parts)
    return sa.false()


def layout(session: Session, dataset: Dataset) -> records.Layout:
    """The record table of a dataset, or catalogue.NotFound."""
    return catalogue.layout_of_dataset(session.connection(), dataset.id)


def coordinates(shape: records.Layout) -> tuple[str | None, str | None]:
    """The field names (not columns) of a layout's longitude and latitude."""
    fields = {column: field for field, column in shape.columns.items()}
    return fields.get(shape.lon or ""), fields.get(shape.lat or "")


def read_records(
    session: Session,
    dataset: Dataset,
    caller: Caller,
    criteria: Criteria,
    limit: int,
    cursor: str | None = None,
) -> records.Page:
    """One page of the records the caller may read (records.QueryError for a bad query)."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    shape = layout(session, dataset)
    page = _query(session.connection(), shape, given, criteria, limit, cursor)
    record(engine, dataset, caller, given, rows=len(page.records))
    return page


def stream_records(
    session: Session,
    dataset: Dataset,
    caller: Caller,
    criteria: Criteria,
    cap: int | None,
    cursor: str | None = None,
) -> tuple[records.Layout, Iterator[list[dict[str, Any]]]]:
    """Every record the caller may read, page by page (up to `cap`), for downloads.

    The grant, the first page and the access event happen now, so a refusal or a bad query is
    an error before any byte is sent; later pages each use a fresh connection.
    """
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    shape = layout(session, dataset)
    size = min(cap or STREAM_PAGE, STREAM_PAGE)
    first = _query(session.connection(), shape, given, criteria, size, cursor)
    record(engine, dataset, caller, given, rows=None if first.next_cursor else len(first.records))

    def pages() -> Iterator[list[dict[str, Any]]]:
        page, sent = first, 0
        while True:
            rows = page.records if cap is None else page.records[: cap - sent]
            yield rows
            sent += len(rows)
            if not page.next_cursor or (cap is not None and sent >= cap):
                return
            # A connection per page: a long download must not pin one read transaction.
            with engine.connect() as connection:
                page = _query(
                    connection,
                    shape,
                    given,
                    criteria,
                    STREAM_PAGE if cap is None else min(STREAM_PAGE, cap - sent),
                    page.next_cursor,
                )

    return shape, pages()


def read_latest(
    session: Session, dataset: Dataset, caller: Caller, limit: int
) -> list[dict[str, Any]]:
    """The newest records the caller may read, newest first (the UI's preview)."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    shape = layout(session, dataset)
    rows = records.latest(session.connection(), shape, limit, condition(shape, given))
    record(engine, dataset, caller, given, rows=len(rows))
    return rows


def read_quarantine(
    session: Session,
    dataset: Dataset,
    caller: Caller,
    run_id: int,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
) -> quarantine.Page:
    """A page of a run's quarantined rows by row number, from `cursor` then `offset` (they
    hold rows: whole grants only); a forged cursor is a quarantine.BadCursor."""
    after = quarantine.decode_cursor(cursor) if cursor else None  # before the access event
    engine = engine_of(session)
    given = admit(engine, dataset, caller, whole=True)
    rows = catalogue.quarantined(
        session, dataset.id, run_id, limit=limit + 1, offset=offset, after=after
    )
    shown = rows[:limit]
    record(engine, dataset, caller, given, rows=len(shown))
    following = (
        quarantine.encode_cursor(shown[-1].row_number, shown[-1].id or 0)
        if len(rows) > limit
        else None
    )
    return quarantine.Page(shown, following)


def stream_quarantine(
    session: Session, dataset: Dataset, caller: Caller, run_id: int | None, page: int = STREAM_PAGE
) -> Iterator[list[QuarantinedRow]]:
    """Every quarantined row of a run, page by page, after the grant and its access event."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller, whole=True)
    record(engine, dataset, caller, given)

    def pages() -> Iterator[list[QuarantinedRow]]:
        after: tuple[int, int] | None = None
        while run_id is not None:
            with Session(engine) as own:  # the request's session may be closed by now
                rows = catalogue.quarantined(own, dataset.id, run_id, limit=page, after=after)
            if not rows:
                return
            yield rows
            after = (rows[-1].row_number, rows[-1].id or 0)

    return pages()


def read_report(
    session: Session, dataset: Dataset, caller: Caller, run: HarvestRun
) -> dict[str, Any]:
    """A run's validation report (row numbers, counts and cells: whole grants only)."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller, whole=True)
    record(engine, dataset, caller, given)
    return run.report or {}  # a whole grant: the report, cell values included


def _query(
    connection: sa.Connection,
    shape: records.Layout,
    given: Grant,
    criteria: Criteria,
    limit: int,
    cursor: str | None,
) -> records.Page:
    return records.query(
        connection,
        shape,
        start=criteria.start,
        end=criteria.end,
        bbox=criteria.bbox,
        limit=limit,
        cursor=cursor,
        within=condition(shape, given),
    )


def engine_of(session: Session) -> Engine:
    """The engine behind a request's session (access events are written on their own)."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine
