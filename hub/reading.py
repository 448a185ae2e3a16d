"""THE ONE READ PATH: every read of records, quarantine and reports comes through here.

Each function asks `hub.access` for the caller's grant, applies it inside the SQL query (never
after it), and writes an access event for every read of non-open data — refused attempts too —
before a single row leaves. Routes and pages call these functions; none reads a record table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Callable, Collection, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import (
    __version__,
    access,
    audit,
    catalogue,
    charters,
    crises,
    pseudonyms,
    quarantine,
    records,
    selection,
)
from hub.access import ANONYMOUS, AccessDenied, Actor, Grant
from hub.crises import areas
from hub.keys import secret_key
from hub.models import Dataset, HarvestRun, QuarantinedRow, Resource, as_utc
from hub.selfdata import scopes

STREAM_PAGE = 5_000


@dataclass(frozen=True)
class Caller:
    """Who reads, through which route, and for what purpose (when they say)."""

    actor: Actor = ANONYMOUS
    route: str = ""
    purpose: str = ""
    # A read about one crisis (its situation page): of a cell's crises, only this one opens
    # rows, so the page shows what it opens and the access log names it alone.
    crisis: str = ""


@dataclass(frozen=True)
class Criteria:
    """Which records a caller asks for, before the grant narrows them."""

    start: datetime | None = None
    end: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None
    # (name, value) query parameters naming schema fields (`field`, `field__gte` …), parsed
    # against the dataset's layout once the grant is known (hub.selection)
    filters: tuple[tuple[str, str], ...] = ()
    sort: str | None = None  # `field`, `-field`, comma-separated; None: time, then insertion


@dataclass(frozen=True)
class Parsed:
    """Criteria as the record table understands them."""

    filters: list[selection.Filter]
    sort: tuple[selection.SortKey, ...]


class Download(NamedTuple):
    """A download's record table, its pages of records (read as they are sent), its version."""

    layout: records.Layout
    pages: Iterator[list[dict[str, Any]]]
    etag: str
    total: int | None = None  # rows to send, when asked for
    # ends the download where it stands, logging the rows it sent (once, however often called):
    # whoever sends it calls this when the response ends, sent in full or not
    close: Callable[[], None] = lambda: None


class NotModified(Exception):
    """The caller's copy of this read is current (its ETag matched): nothing to send."""

    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


class TooLarge(Exception):
    """A download of more rows than one export may hold."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(f"{rows} rows, over the limit of {limit}")
        self.rows, self.limit = rows, limit


def admit(engine: Engine, dataset: Dataset, caller: Caller, *, whole: bool = False) -> Grant:
    """The caller's grant on `dataset`; a refusal is logged and raised as AccessDenied.

    `whole`: the read shows every row or what is computed from them (quarantine, reports), so a
    grant on some rows only is refused too.
    """
    held = scopes.readable(engine, dataset, caller.actor, caller.purpose)
    zones = crises.zones(engine, dataset, caller.actor)  # a crisis cell's active crises
    if caller.crisis:
        zones = tuple(zone for zone in zones if zone.crisis == caller.crisis)
    given = access.grant(dataset, caller.actor, purpose=caller.purpose, subjects=held, zones=zones)
    if not given.reads_rows or (whole and not given.whole):
        refused = (
            AccessDenied(dataset.id, given.code, given.params, caller.actor)
            if not given.reads_rows
            else AccessDenied(
                dataset.id,
                "beyond_grant",
                {"grant": given.message, "dataset": dataset.id},
                caller.actor,
            )
        )
        record(engine, dataset, caller, given, outcome="denied", reason=refused.reason)
        raise refused
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
    sent: Collection[dict[str, Any]] | None = None,
    shape: records.Layout | None = None,
    counts: Counter[str] | None = None,
) -> audit.Written | None:
    """Append the access event of a read of non-open data (open data is nobody's secret).

    A read of named subjects' rows says how many of each it took: counted from the rows `sent`
    (of the record table `shape`), or given as `counts` (a download, counted as it streamed).
    """
    if dataset.access == "open":
        return None
    actor = caller.actor
    personal = dataset.access == "personal" and outcome == "granted"
    named = personal and given.scope == "subjects"
    if named and counts is None and sent is not None and shape is not None:
        counts = subject_counts(shape, sent)
    if named and counts is None and rows == 0:  # a 304, a download refused as too large
        counts = Counter()
    return audit.append(
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
            # whose rows it covered: the grant's subjects, or every subject of the dataset
            subjects=tuple(given.subjects) if named else (),
            every_subject=personal and given.whole,
            counts={p: counts[p] for p in given.subjects} if named and counts is not None else {},
        ),
    )


def subject_counts(shape: records.Layout, rows: Collection[dict[str, Any]]) -> Counter[str]:
    """How many of `rows` each subject holds (pseudonym -> rows)."""
    fields = {column: field for field, column in shape.columns.items()}
    name = fields.get(shape.subject or "")
    return Counter(str(row[name]) for row in rows if row.get(name)) if name else Counter()


def condition(layout: records.Layout, given: Grant, dialect: str) -> sa.ColumnElement[bool] | None:
    """A grant as a SQL condition on the record table of a `dialect` store; a scope the table
    cannot express is the empty set, never everything."""
    table = layout.table
    if given.scope == "all":
        return None
    if given.scope == "subjects":
        if not layout.subject or not given.subjects:
            return sa.false()
        return table.c[layout.subject].in_(sorted(given.subjects))
    if given.scope == "area":
        # the union of the zones: inside one area (exactly, not its bbox), in its window
        if not given.zones or not (layout.lon and layout.lat):
            return sa.false()
        return sa.or_(*(areas.condition(layout, zone, dialect) for zone in given.zones))
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
    *,
    total: bool = False,
    variant: str = "",
    seen: Collection[str] = (),
) -> records.Page:
    """One page of the records the caller may read (records.QueryError for a bad query), with
    the count of all matching ones when `total`; NotModified when its version is in `seen`.

    `variant` is what else shapes the answer (its format, the query as sent): it goes into the
    version (`etag`) beside the dataset's state and the grant's rows.
    """
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    shape = layout(session, dataset)
    parsed = parse(shape, by_keys(dataset, caller.actor, criteria))
    tag = version(dataset, given, variant)
    if _unchanged(tag, seen):
        record(engine, dataset, caller, given, rows=0, reason=f"{given.reason}; {UNCHANGED}")
        raise NotModified(tag)
    connection = session.connection()
    page = _query(connection, shape, given, criteria, parsed, limit, cursor)
    counted = _count(connection, shape, given, criteria, parsed) if total else None
    record(engine, dataset, caller, given, rows=len(page.records), sent=page.records, shape=shape)
    return records.Page(page.records, page.next_cursor, counted, tag)


UNCHANGED = "not modified: the caller's copy is current (304)"


def read_records_at(
    session: Session,
    dataset: Dataset,
    caller: Caller,
    criteria: Criteria,
    offset: int,
    limit: int,
    *,
    total: bool = False,
) -> records.Page:
    """The page `offset` rows into the search (CKAN's `offset`), with the cursor after it, so
    the next page is a keyset read however deep. The database skips the rows before it in the
    search's order; they are neither sent nor logged as read."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    shape = layout(session, dataset)
    parsed = parse(shape, by_keys(dataset, caller.actor, criteria))
    connection = session.connection()
    page = _query(connection, shape, given, criteria, parsed, limit, None, offset)
    counted = _count(connection, shape, given, criteria, parsed) if total else None
    record(engine, dataset, caller, given, rows=len(page.records), sent=page.records, shape=shape)
    return records.Page(page.records, page.next_cursor, counted, version(dataset, given))


def stream_records(
    session: Session,
    dataset: Dataset,
    caller: Caller,
    criteria: Criteria,
    cap: int | None,
    cursor: str | None = None,
    *,
    max_rows: int | None = None,
    variant: str = "",
    seen: Collection[str] = (),
    total: bool = False,
) -> Download:
    """Every record the caller may read, page by page (up to `cap`), for downloads, with the
    count of all matching ones when `total`.

    The grant, the first page and the access event happen now, so a refusal, a bad query, an
    unchanged version in `seen` (NotModified) or more than `max_rows` rows to send (TooLarge,
    counted inside the grant) is an error before any byte is sent; later pages each use a fresh
    connection. A download of more than one page is logged again when it ends (or is cut
    short: its sender calls `close`), with the rows it sent of each subject: only then are
    they known.
    """
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    shape = layout(session, dataset)
    parsed = parse(shape, by_keys(dataset, caller.actor, criteria))
    tag = version(dataset, given, variant)
    if _unchanged(tag, seen):
        record(engine, dataset, caller, given, rows=0, reason=f"{given.reason}; {UNCHANGED}")
        raise NotModified(tag)
    # Counted for `total`, or when the download may pass max_rows (a cap within it cannot).
    limit = max_rows if max_rows is not None and (cap is None or cap > max_rows) else None
    counted = None
    if total or limit is not None:
        counted = _count(session.connection(), shape, given, criteria, parsed)
    if limit is not None and counted is not None and counted > limit:
        record(
            engine,
            dataset,
            caller,
            given,
            rows=0,
            reason=f"{given.reason}; refused: more rows than HUB_MAX_EXPORT_ROWS",
        )
        raise TooLarge(counted, limit)
    size = min(cap or STREAM_PAGE, STREAM_PAGE)
    first = _query(session.connection(), shape, given, criteria, parsed, size, cursor)
    if not first.next_cursor:  # one page: its count is known now
        rows = first.records if cap is None else first.records[:cap]
        record(engine, dataset, caller, given, rows=len(rows), sent=rows, shape=shape)
        return Download(shape, iter([rows]), tag, counted if total else None)
    opened = record(engine, dataset, caller, given)
    sent, counts, ended = 0, Counter[str](), False

    def end() -> None:
        nonlocal ended
        if ended:
            return
        ended = True
        closing = f"download of entry {opened.id} ended" if opened else "download ended"
        # the count is the entry's `rows` (a subject sees it only as a commitment), not its text
        reason = f"{given.reason}; {closing}"
        record(engine, dataset, caller, given, rows=sent, reason=reason, counts=counts)

    def pages() -> Generator[list[dict[str, Any]]]:
        nonlocal sent
        page = first
        try:
            while True:
                rows = page.records if cap is None else page.records[: cap - sent]
                counts.update(subject_counts(shape, rows))  # one count per subject, no rows kept
                sent += len(rows)
                yield rows
                if not page.next_cursor or (cap is not None and sent >= cap):
                    return
                # A connection per page: a long download must not pin one read transaction.
                with engine.connect() as connection:
                    page = _query(
                        connection,
                        shape,
                        given,
                        criteria,
                        parsed,
                        STREAM_PAGE if cap is None else min(STREAM_PAGE, cap - sent),
                        page.next_cursor,
                    )
        finally:
            end()

    reader = pages()

    def close() -> None:
        reader.close()  # its `finally` ends it, if it started
        end()  # one that never started (a package's later member) ends here

    return Download(shape, reader, tag, counted if total else None, close)


def by_keys(dataset: Dataset, actor: Actor, criteria: Criteria) -> Criteria:
    """For the producer's operator (the controller, who holds its customers' subject keys), a
    personal dataset's subject filters given as keys, pseudonymised as the gate stored them;
    anyone else's stay as written (a guessed key must find nothing for them)."""
    if dataset.access != "personal" or not actor.operates(dataset.organization_id):
        return criteria
    terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    if terms is None or not criteria.filters:
        return criteria
    filters = pseudonyms.keyed_filters(criteria.filters, terms.producer, terms.subject_field)
    return dataclasses.replace(criteria, filters=filters)


def parse(shape: records.Layout, criteria: Criteria) -> Parsed:
    """The criteria's filters and sort on this record table (records.QueryError if they do not
    fit it: an unknown field, a value its field cannot hold)."""
    return Parsed(
        selection.parse_filters(shape, criteria.filters),
        selection.parse_sort(shape, criteria.sort),
    )


def version(dataset: Dataset, given: Grant, variant: str = "") -> str:
    """A weak ETag of a read of records: what changes its answer — the dataset's rows and
    metadata (publication, modification, schema and charter), the rows the grant opens (two
    callers with different grants never share one), and the request (`variant`).

    Keyed with the hub's secret, so nobody can compute one: a tag made of known parts and one
    unknown (the count of rows beyond a partial grant, say) would give that part away to a
    brute force. The row count goes in for grants on every row only, for the same reason.
    """
    state = [
        __version__,
        dataset.id,
        _instant(dataset.published_at),
        _instant(dataset.modified_at),
        dataset.record_count if given.whole else None,
        dataset.schema_version,
        dataset.charter_id,
        dataset.charter_version,
        dataset.access,
        given.scope,
        sorted(given.subjects),
        [
            [zone.crisis, zone.shape, _instant(zone.start), _instant(zone.end)]
            for zone in given.zones
        ],
        variant,
    ]
    digest = hmac.new(secret_key(), json.dumps(state).encode(), hashlib.sha256).hexdigest()
    return f'W/"{digest[:32]}"'


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else as_utc(moment).isoformat()


def _unchanged(tag: str, seen: Collection[str]) -> bool:
    """Whether If-None-Match's tags (compared weakly: `W/` aside) hold this version."""
    return "*" in seen or tag.removeprefix("W/") in {t.removeprefix("W/") for t in seen}


def read_latest(
    session: Session, dataset: Dataset, caller: Caller, limit: int
) -> list[dict[str, Any]]:
    """The newest records the caller may read, newest first (the UI's preview)."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    shape = layout(session, dataset)
    connection = session.connection()
    rows = records.latest(
        connection, shape, limit, condition(shape, given, connection.dialect.name)
    )
    record(engine, dataset, caller, given, rows=len(rows), sent=rows, shape=shape)
    return rows


def read_latest_of_each_series(
    session: Session, dataset: Dataset, caller: Caller, max_series: int
) -> list[dict[str, Any]]:
    """The newest record of each series the caller may read, newest first (a feed's snapshot);
    for rows that are no series (records.series_columns), the newest `max_series` records."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    shape = layout(session, dataset)
    connection = session.connection()
    within = condition(shape, given, connection.dialect.name)
    series = records.series_columns(shape)
    if series:
        # A subject's own rows: their pseudonyms lead the key, so the walk visits their series
        # only (else the first max_series households' series might all be someone else's).
        mine = given.scope == "subjects" and series[0] == shape.subject
        walk = within if mine else None
        rows = records.latest_of_each_series(connection, shape, within, max_series, walk)
    else:
        rows = records.latest(connection, shape, max_series, within)
    record(engine, dataset, caller, given, rows=len(rows), sent=rows, shape=shape)
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


def read_own_quarantine(
    session: Session, dataset: Dataset, caller: Caller, limit: int, after: int = 0
) -> list[QuarantinedRow]:
    """A data subject's own quarantined rows of a personal dataset, every run, by id after
    `after` (GDPR art. 15: the hub holds them too); rows whose subject field is one of the
    subject's pseudonyms, never another's. Up to `limit`, and one more when more follow (not
    logged: not shown). Logged with the rows of each pseudonym taken. A service reading under
    consents gets none: quarantined rows are the subject's to see, not a consent's."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller)
    terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
    if caller.actor.role != "subject" or given.scope != "subjects" or not given.subjects:
        return []
    if terms is None:
        return []
    # The gate quarantines the pseudonym, never the key (hub.catalogue), as it stores rows.
    key = col(QuarantinedRow.cells)[terms.subject_field].as_string()
    statement = (
        select(QuarantinedRow)
        .where(
            QuarantinedRow.dataset_id == dataset.id,
            key.in_(sorted(given.subjects)),
            col(QuarantinedRow.id) > after,
        )
        .order_by(col(QuarantinedRow.id))
        .limit(limit + 1)
    )
    rows = list(session.exec(statement).all())
    shown = rows[:limit]
    counts = Counter(str(row.cells.get(terms.subject_field)) for row in shown)
    reason = f"{given.reason}; quarantined rows"
    record(engine, dataset, caller, given, rows=len(shown), reason=reason, counts=counts)
    return rows


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
    parsed: Parsed,
    limit: int,
    cursor: str | None,
    offset: int = 0,
) -> records.Page:
    return records.query(
        connection,
        shape,
        start=criteria.start,
        end=criteria.end,
        bbox=criteria.bbox,
        limit=limit,
        cursor=cursor,
        within=condition(shape, given, connection.dialect.name),
        filters=parsed.filters,
        sort=parsed.sort,
        offset=offset,
    )


def _count(
    connection: sa.Connection,
    shape: records.Layout,
    given: Grant,
    criteria: Criteria,
    parsed: Parsed,
) -> int:
    return records.count(
        connection,
        shape,
        start=criteria.start,
        end=criteria.end,
        bbox=criteria.bbox,
        within=condition(shape, given, connection.dialect.name),
        filters=parsed.filters,
    )


def engine_of(session: Session) -> Engine:
    """The engine behind a request's session (access events are written on their own)."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


GridAnswer = TypeVar("GridAnswer")


def read_grid(
    session: Session,
    dataset: Dataset,
    caller: Caller,
    take: Callable[[Resource], tuple[GridAnswer, int | None]],
) -> GridAnswer:
    """What `take` reads from a dataset's stored grid (its answer, and how many values that
    holds), for a caller granted every row: a grid has no rows a partial grant could keep, so
    such a grant is refused. Logged as record reads are; catalogue.NotFound without a grid."""
    engine = engine_of(session)
    given = admit(engine, dataset, caller, whole=True)
    grid = session.get(Resource, f"{dataset.id}-grid"[:64])  # as resources.register_grid names it
    if grid is None or grid.kind != "grid" or grid.dataset_id != dataset.id:
        raise catalogue.NotFound(f"dataset {dataset.id!r} has no grid")
    answer, cells = take(grid)
    record(engine, dataset, caller, given, rows=cells)
    return answer
