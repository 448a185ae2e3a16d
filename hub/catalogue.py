"""The catalogue: `publish` is the one gate every record goes through; search and get read it."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, or_, select

from hub import (
    atoms,
    charterchecks,
    charterdays,
    charters,
    events,
    grids,
    intervals,
    licences,
    metadatalimits,
    origins,
    pseudonyms,
    quarantine,
    recordnames,
    records,
    resources,
    runs,
    schemas,
    tombstones,
)
from hub.alerts import derived
from hub.batches import (
    Batch,
    Chunk,
    GridBatch,
    MetadataBatch,
    PortalDataset,
    Progress,
    Publisher,
    RowProblem,
    problems_by_row,
)
from hub.bus import get_bus
from hub.config import get_settings
from hub.db import get_engine, session_scope
from hub.models import Dataset, HarvestRun, Organization, QuarantinedRow, Resource, utcnow
from hub.redaction import clipped, redact_text, redact_url
from hub.validation import ChunkResult, Validator
from hub.validation.reports import build_report
from hub.validation.tableerrors import describe_row_problem

__all__ = [
    "Batch",
    "BatchRejected",
    "NotFound",
    "Progress",
    "PublishFailed",
    "PublishRefused",
    "Publisher",
    "publish",
]

log = logging.getLogger(__name__)

META_COLUMNS = ("_row", "_error")
REPORT_ERROR_CAP = 10_000  # errors listed in a run's report; each quarantined row keeps all its own
# A refused batch keeps no row, only its report: enough errors to see the pattern, and no more,
# so that a broken feed harvested every few minutes does not grow the run table either.
REJECTED_ERROR_CAP = 100
VALIDATION_SLICE = 10_000  # rows validated (and stored) at a time


class PublishRefused(Exception):
    """A batch the gate will not take (no charter in force, unknown schema, wrong header …)."""

    def __init__(self, reason: str, run_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.run_id = run_id


class PublishFailed(Exception):
    """A batch that broke while being stored (unreadable feed, database error): nothing was kept."""

    def __init__(self, reason: str, run_id: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.run_id = run_id


class BatchRejected(PublishFailed):
    """A batch too invalid to publish, refused whole: its run keeps counts and first errors."""

    def __init__(self, reason: str, report: dict[str, Any]) -> None:
        super().__init__(reason, None)
        self.report = report
        self.run: HarvestRun | None = None


class NotFound(LookupError):
    """No dataset with that id."""


def publish(
    batch: Batch | GridBatch | MetadataBatch,
    *,
    engine: Engine | None = None,
    on: date | None = None,
    progress: Progress | None = None,
) -> HarvestRun:
    """Check a batch against its charter (and schema), store it; quarantine invalid rows.

    Record batches are validated row by row; a grid batch stores its file and registers the
    grid; a metadata batch registers a portal's datasets and their files.
    """
    engine = engine or get_engine()
    run = runs.open_run(engine, batch.dataset_id, batch.source_id)
    day = on or charterdays.today()
    span: Span | None = None
    cuts = metadatalimits.cap_batch(batch)  # before anything reads it, whatever the way in
    try:
        if isinstance(batch, GridBatch):
            _store_grid(engine, batch, _admit_charter(batch, run, day), run)
        elif isinstance(batch, MetadataBatch):
            _store_listing(engine, batch, _admit_charter(batch, run, day), run)
        else:
            schema, charter = admit(batch, day)
            run.schema_name, run.schema_version = schema.name, schema.version
            run.charter_id, run.charter_version = charter.id, charter.version
            span = _store(engine, batch, schema, charter, run, progress, cuts)
        if cuts and run.report is None:  # a grid or a listing: the cuts are its report
            run.report = build_report(
                redact_url(batch.source_url),
                [],
                [],
                time.perf_counter(),
                {},
                cuts,
                name=batch.dataset_id,
            )
    except PublishRefused as refusal:
        refusal.run_id = run.id
        runs.close_run(engine, run, "refused", redact_text(refusal.reason))
        raise
    except BatchRejected as rejected:  # rolled back: the run keeps its counts and first errors
        _forget_counts(run)
        run.report = rejected.report
        rejected.run_id, rejected.run = (
            run.id,
            runs.close_run(engine, run, "failed", rejected.reason),
        )
        raise
    except Exception as exc:
        reason = redact_text(runs.failure_of(exc))  # a feed's url may hold a key
        _forget_counts(run)
        runs.close_run(engine, run, "failed", reason)
        raise PublishFailed(reason, run.id) from exc
    except BaseException:  # interrupted (Ctrl-C): the run must not stay "running"
        _forget_counts(run)
        runs.close_run(engine, run, "failed", "interrupted")
        raise
    if run.rows_read and run.rows_quarantined == run.rows_read:  # nothing could be published
        runs.close_run(
            engine,
            run,
            "failed",
            f"{quarantine.EVERY_ROW}: {run.rows_read:,} rows read, all quarantined, none published",
        )
    else:
        runs.close_run(engine, run, "partial" if run.rows_quarantined else "succeeded")
    _announce(batch, run)
    derived.raise_derived_alerts(batch, run, engine, span)  # its own batch is never judged
    # The log carries personal rows too; it keeps only what replay needs (one indexed read
    # when nothing is due).
    events.purge_quietly(engine)
    return run


def check(batch: Batch, on: date | None = None) -> dict[str, Any]:
    """What `publish` would find in a record batch, as a validation report; nothing is stored.

    The charter and schema are admitted as for a publication (a refusal raises PublishRefused).
    """
    started = time.perf_counter()
    schema, charter = admit(batch, on or charterdays.today())
    errors: list[dict[str, Any]] = []
    rows, left_out, unmapped = 0, Counter[str](), dict[str, None]()
    validator = Validator(schema.descriptor)
    for height, result in _validated(
        validator, batch, left_out, charter, _period_of(schema), unmapped=unmapped
    ):
        rows += height
        errors.extend(result.errors)
    return build_report(
        redact_url(batch.source_url),
        schema.fields,
        errors,
        started,
        {"rows": rows, "fields": len(schema.fields)},
        [
            *_left_out_notes(left_out),
            *licences.unjudged_note(batch.declared_licence),
            *_unmapped_notes(unmapped, schema),
        ],
        name=batch.dataset_id,
    )


def record_failure(dataset_id: str, source_id: str | None, reason: str) -> HarvestRun | None:
    """Record a harvest that failed before it had a batch (unreachable feed, unreadable file)."""
    return runs.record_failed(get_engine(), dataset_id, source_id, reason)


def record_unchanged(dataset_id: str, source_id: str | None, note: str) -> HarvestRun | None:
    """Record a harvest that found its feed unchanged: nothing read, nothing to publish."""
    return runs.record_finished(get_engine(), dataset_id, source_id, "succeeded", note)


def _admit_charter(batch: GridBatch | MetadataBatch, run: HarvestRun, on: date) -> charters.Charter:
    """The charter in force for a batch without a table schema, or a refusal that says why."""
    if not batch.charter:
        raise PublishRefused(f"batch for {batch.dataset_id!r} names no charter: refused")
    try:
        charter = charters.load_charter(batch.charter, on)
        charters.check_publication(
            charter, producer=batch.publisher.id, theme=batch.theme, schema=None, on=on
        )
    except charters.CharterError as exc:
        raise PublishRefused(f"no charter in force: {exc}") from exc
    except charters.CharterRefused as exc:
        raise PublishRefused(exc.reason) from exc
    # Rows of a subject need a subject field: a grid or a linked file has none. A personal
    # dataset's bare metadata (a package created before its rows are pushed) is public anyway.
    links = isinstance(batch, GridBatch) or any(entry.resources for entry in batch.datasets)
    if charter.access == "personal" and links:
        raise PublishRefused(
            f"charter {charter.id!r} shares personal data, which only record batches carry "
            "(no grid, no linked file)"
        )
    run.charter_id, run.charter_version = charter.id, charter.version
    return charter


def _store_grid(
    engine: Engine, batch: GridBatch, charter: charters.Charter, run: HarvestRun
) -> None:
    """Keep the grid's file in the data folder and register it as the dataset's grid."""
    stored = grids.store_grid(batch.path, get_settings().data_dir, batch.dataset_id)
    digest = stored.stem
    run.rows_read = 1
    with engine.begin() as connection:
        session = Session(bind=connection, expire_on_commit=False)
        dataset, _ = register_dataset(session, batch, charter)
        previous = session.get(Resource, f"{dataset.id}-grid"[:64])
        unchanged = previous is not None and (previous.details or {}).get("sha256_prefix") == digest
        resources.register_grid(session, dataset, batch, stored, digest)
        dataset.bbox, dataset.time_min, dataset.time_max = (
            batch.bbox,
            batch.time_min,
            batch.time_max,
        )
        if not unchanged:  # a grid replaced is new data
            dataset.modified_at = dataset.published_at = utcnow()
        session.add(dataset)
        session.flush()
        run.rows_skipped, run.rows_published = (1, 0) if unchanged else (0, 1)
        _log_event(connection, batch, run, charter.access)


def _store_listing(
    engine: Engine, batch: MetadataBatch, charter: charters.Charter, run: HarvestRun
) -> None:
    """Register a portal's datasets and their files; a complete listing withdraws the rest."""
    run.rows_read = len(batch.datasets)
    with engine.begin() as connection:
        session = Session(bind=connection, expire_on_commit=False)
        for entry in batch.datasets:
            known = session.get(Dataset, entry.id) is not None
            dataset, described = register_dataset(session, batch, charter, entry=entry)
            files = resources.register_files(session, dataset, entry.resources)
            if not known:
                run.rows_published += 1
            elif files or described:  # a new landing page is an update as a new file is
                run.rows_updated += 1
            else:
                run.rows_skipped += 1
            if files:
                dataset.modified_at = utcnow()
            if not known or files:
                dataset.published_at = entry.modified or utcnow()
            session.add(dataset)
        withdrawn = _withdraw_missing(session, batch, run) if batch.complete else []
        session.flush()
        _log_event(connection, batch, run, charter.access)
        events.append(connection, withdrawn)  # after the run's: each names its dataset


def _withdraw_missing(
    session: Session, batch: MetadataBatch, run: HarvestRun
) -> list[dict[str, Any]]:
    """Remove the datasets this portal source listed before and no longer lists, each leaving
    a tombstone; their `dataset` events."""
    listed = {entry.id for entry in batch.datasets}
    source = batch.source_id or batch.dataset_id
    statement = select(Dataset).where(
        col(Dataset.id).startswith(f"{source}--"), Dataset.organization_id == batch.publisher.id
    )
    withdrawn = []
    for dataset in session.exec(statement).all():
        if dataset.id not in listed:
            log.info("withdrawing %s: its portal no longer lists it", dataset.id)
            withdrawn.append(tombstones.bury(session, dataset, source, run.id))
            resources.remove_all(session, dataset.id)
            session.delete(dataset)
    return withdrawn


def _forget_counts(run: HarvestRun) -> None:
    """A rolled-back batch kept nothing: its run must not claim stored or quarantined rows."""
    run.rows_published = run.rows_updated = run.rows_quarantined = run.rows_skipped = 0
    run.report = None


def admit(batch: Batch, on: date) -> tuple[schemas.TableSchema, charters.Charter]:
    """The schema and the charter in force for a batch, or a refusal that says why."""
    try:
        schema = schemas.load_schema(batch.schema)
    except schemas.UnknownSchemaError as exc:
        raise PublishRefused(str(exc)) from exc
    if not batch.charter:
        raise PublishRefused(f"batch for {batch.dataset_id!r} names no charter: refused")
    try:
        charter = charters.load_charter(batch.charter, on)
    except charters.CharterError as exc:  # unknown, or a file that fails the profile
        raise PublishRefused(f"no charter in force: {exc}") from exc
    try:
        charters.check_publication(
            charter, producer=batch.publisher.id, theme=batch.theme, schema=schema.name, on=on
        )
    except charters.CharterRefused as exc:
        raise PublishRefused(exc.reason) from exc
    if batch.theme != schema.theme:
        raise PublishRefused(
            f"schema {schema.name!r} is for theme {schema.theme!r}, not {batch.theme!r}"
        )
    licence_id = str((charter.licence or {}).get("id", ""))
    for refusal in (
        charterchecks.schema_refusal(schema, charter),
        licences.refusal_of(batch.declared_licence, charter.id, licence_id),
    ):
        if refusal:
            raise PublishRefused(refusal)
    return schema, charter


def _store(
    engine: Engine,
    batch: Batch,
    schema: schemas.TableSchema,
    charter: charters.Charter,
    run: HarvestRun,
    progress: Progress | None,
    cuts: list[str],
) -> Span | None:
    """Store a batch in one transaction: all of it (valid + quarantined) or nothing; the span
    of times of the chunks that changed rows (None: no time field, or nothing changed).

    A batch whose quarantine passes its cap stops there; one whose invalid share passes its
    threshold is judged once read. Either is rolled back whole and raised as BatchRejected.
    """
    started = time.perf_counter()
    limits = quarantine.Limits.of(batch.max_invalid_share, batch.quarantine_cap)
    errors: list[dict[str, Any]] = []
    error_total = valid = changed = 0
    left_out, unmapped = Counter[str](), dict[str, None]()
    unprovided: set[str] = set()  # fields the source does not give: their stored values stay
    with engine.begin() as connection:
        resource = _register(connection, batch, schema, charter)
        layout = records.layout_for(resource.table_name or "", schema.descriptor, sa.MetaData())
        records.ensure_table(connection, layout)
        before = records.count_rows(connection, layout)
        subject = _subject_of(charter)
        plan = (
            atoms.plan_of(batch.dataset_id, layout, schema.descriptor["fields"], subject[1])
            if subject
            else None
        )
        timed = {c: f for f, c in layout.columns.items()}.get(layout.time or "")
        touched: set[int] = set()  # hours of chunks that changed rows: their atoms are redone
        span: Span | None = None
        validator = Validator(schema.descriptor)
        if validator.lookup.keys:
            validator.learn_stored_references(
                records.stored_values(connection, layout, sorted(validator.lookup.referenced))
            )
        with records.bulk_loading(connection, layout) as load:
            parts = records.staged_ahead(
                layout,
                connection.dialect.name,
                _validated(
                    validator,
                    batch,
                    left_out,
                    charter,
                    _period_of(schema),
                    unprovided,
                    unmapped,
                ),
                lambda part: part[1].valid,
            )
            for (height, result), staged in parts:
                run.rows_read += height
                invalid = run.rows_quarantined + result.invalid.height
                error_total += len(result.errors)
                errors.extend(result.errors[: max(0, REPORT_ERROR_CAP - len(errors))])
                overflow = limits.overflow(run.rows_read, invalid)
                if overflow:  # the rest cannot save the batch: stop reading, write no more
                    raise _rejected(batch, schema, run, overflow, errors, error_total, started)
                stored = records.store_staged(
                    connection, layout, staged, run.id or 0, load, frozenset(unprovided)
                )
                if stored and timed:
                    span = _widened(span, result.valid.get_column(timed))
                    if plan is not None:
                        touched |= atoms.hours_of(result.valid, timed)
                changed += stored
                quarantine.write(connection, run.id or 0, batch.dataset_id, result.invalid)
                run.rows_quarantined = invalid
                valid += result.valid.height
                if progress:
                    progress(run.rows_read)
            excess = limits.excess(run.rows_read, run.rows_quarantined)
            if excess:
                raise _rejected(batch, schema, run, excess, errors, error_total, started)
        inserted = records.count_rows(connection, layout) - before
        if plan is not None and (touched or not atoms.is_built(connection, plan)):
            atoms.refresh(connection, plan, touched)
        run.rows_published, run.rows_updated = inserted, changed - inserted
        run.rows_skipped = valid - changed
        refresh_extent(connection, batch.dataset_id, resource, layout, changed > 0)
        cut = (
            [
                f"{error_total} errors; the first {len(errors)} are listed, and every "
                "quarantined row keeps its own"
            ]
            if error_total > len(errors)
            else []
        )
        notes = [
            *cuts,
            *cut,
            *_left_out_notes(left_out),
            *licences.unjudged_note(batch.declared_licence),
            *_unmapped_notes(unmapped, schema),
        ]
        run.report = _report(batch, schema, run, errors, error_total, started, notes)
        published = events.Published(
            batch.dataset_id, batch.theme, schema.name, charter.access, layout, run.id or 0
        )
        _log_event(connection, batch, run, charter.access, events.log_batch(connection, published))
    return span


Span = tuple[datetime, datetime]  # the first and last time a batch's changed chunks hold


def _widened(span: Span | None, times: pl.Series) -> Span | None:
    """`span` stretched over a chunk's times (typed UTC datetimes; nulls are no time)."""
    low, high = times.min(), times.max()
    if not isinstance(low, datetime) or not isinstance(high, datetime):
        return span
    return (low, high) if span is None else (min(span[0], low), max(span[1], high))


def _report(
    batch: Batch,
    schema: schemas.TableSchema,
    run: HarvestRun,
    errors: list[dict[str, Any]],
    error_total: int,
    started: float,
    warnings: list[str],
) -> dict[str, Any]:
    """A run's validation report: its listed errors, all of them counted."""
    return build_report(
        redact_url(batch.source_url),
        schema.fields,
        errors,
        started,
        {"rows": run.rows_read, "fields": len(schema.fields)},
        warnings,
        error_total=error_total,
        name=batch.dataset_id,
    )


def _rejected(
    batch: Batch,
    schema: schemas.TableSchema,
    run: HarvestRun,
    why: str,
    errors: list[dict[str, Any]],
    error_total: int,
    started: float,
) -> BatchRejected:
    """The refusal of a batch too invalid to publish, with its report (first errors only); its
    reason quotes the first error, so that a run's summary says what went wrong (a feed whose
    linked alerts could not be fetched, say) without opening the report."""
    first = str(errors[0].get("message") or "") if errors else ""
    quoted = f"; the first error: {clipped(first, 300)}" if first else ""
    reason = (
        f"{why}{quoted}; the batch was refused whole: none of its rows was published or quarantined"
    )
    listed = errors[:REJECTED_ERROR_CAP]
    notes = [
        reason,
        *(
            [f"{error_total} errors; the first {len(listed)} are listed"]
            if error_total > len(listed)
            else []
        ),
    ]
    return BatchRejected(reason, _report(batch, schema, run, listed, error_total, started, notes))


def _subject_of(charter: charters.Charter) -> tuple[str, str] | None:
    """(producer, subject field) of a personal charter's rows: what the gate pseudonymises."""
    terms = charters.terms_of(charter)
    return (terms.producer, terms.subject_field) if terms else None


def _validated(
    validator: Validator,
    batch: Batch,
    left_out: Counter[str],
    charter: charters.Charter,
    period: tuple[str, str, str] | None = None,
    unprovided: set[str] | None = None,
    unmapped: dict[str, None] | None = None,
) -> Iterator[tuple[int, ChunkResult]]:
    """A batch's rows validated a part at a time, with each part's height; `left_out` adds
    up the rows its reader did not pass on, by why, and `unmapped` the feed's columns that
    fill no field, in the feed's order. A personal batch's subject keys become pseudonyms
    first, so no raw key reaches a table or a report. A schema whose rows cover periods has
    their first and last days derived (`period`: the period, time and end fields), whether a
    reader or a push wrote them. A row licensed more narrowly than the charter's licence
    allows (its dcterms:license) is quarantined, saying so. `unprovided` gets the fields the
    source does not give (its first chunk says, before any part is yielded: a source's
    mapping and header hold for its whole batch).

    The next chunk is read and validated in a helper thread while the caller stores this one.
    """
    unmapped = {} if unmapped is None else unmapped

    subject = _subject_of(charter)
    licence_id = str((charter.licence or {}).get("id", ""))

    def prepared() -> Iterator[Chunk]:
        header_checked = False
        for given in batch.chunks:
            chunk = given if isinstance(given, Chunk) else Chunk(given)  # a push: no problems
            unmapped.update(dict.fromkeys(chunk.unmapped))
            if not header_checked:
                _check_header(validator, chunk.frame, batch)
                header_checked = True
                if unprovided is not None:
                    unprovided.update(chunk.unprovided)
                    if period is not None and period[0] in chunk.frame.columns:
                        unprovided.difference_update(period[1:])  # derived below, so given
            if subject is not None:
                chunk = pseudonyms.pseudonymise(chunk, *subject)
            if period is not None:
                chunk = intervals.with_days(chunk, *period)
            yield chunk

    def frames() -> Iterator[tuple[pl.DataFrame, dict[int, list[dict[str, Any]]]]]:
        chunks: Iterable[Chunk] = prepared()
        if validator.lookup.keys:  # keys into its own rows: every row's values first, as
            chunks = list(chunks)  # frictionless reads them (only such schemas hold a batch)
            for chunk in chunks:
                validator.learn_references(chunk.frame)
        for chunk in chunks:
            left_out.update(chunk.left_out)
            narrower = licences.uncovered_rows(chunk.frame, licence_id)
            if narrower:
                chunk = replace(
                    chunk,
                    problems=[
                        *chunk.problems,
                        *(RowProblem(row, licences.ROW_FIELD, why) for row, why in narrower),
                    ],
                )
            yield chunk.frame, _described(chunk.frame, problems_by_row(chunk.problems))

    # An invalid row's error descriptors weigh kilobytes while they exist: parts of at most
    # VALIDATION_SLICE invalid rows keep a reader's chunk of garbage from taking a gigabyte,
    # and the cap exact.
    for result in validator.validate_stream(frames(), part_rows=VALIDATION_SLICE):
        yield result.valid.height + result.invalid.height, result


def _left_out_notes(left_out: Counter[str]) -> list[str]:
    """The report's words for rows the reader left out by design (never silently)."""
    if not left_out:
        return []
    reasons = "; ".join(f"{why} ({count:,})" for why, count in left_out.most_common())
    total = sum(left_out.values())
    return [f"{total:,} rows of the feed left out by its reader, as documented: {reasons}"]


def _unmapped_notes(unmapped: dict[str, None], schema: schemas.TableSchema) -> list[str]:
    """The report's words for the feed's columns that no field of the schema takes."""
    if not unmapped:
        return []
    names = ", ".join(unmapped)
    return [
        f"{len(unmapped)} column(s) of the feed fill no field of schema {schema.name!r} "
        f"{schema.version} and were not published: {names}"
    ]


def _described(
    part: pl.DataFrame, problems: dict[int, list[Any]]
) -> dict[int, list[dict[str, Any]]]:
    """The descriptors of the problems found in a slice's rows, by row number."""
    if not problems:
        return {}
    rows = part["_row"].unique(maintain_order=True).to_list()
    return {
        row: [describe_row_problem(row, p.field, p.note) for p in problems[row]]
        for row in rows
        if row in problems
    }


def _period_of(schema: schemas.TableSchema) -> tuple[str, str, str] | None:
    """The period, time and end fields of a schema whose rows cover periods, or None."""
    if schema.period_field and schema.time_field and schema.end_field:
        return schema.period_field, schema.time_field, schema.end_field
    return None


def _check_header(validator: Validator, chunk: pl.DataFrame, batch: Batch) -> None:
    labels = [c for c in chunk.columns if c not in META_COLUMNS]
    problems = validator.check_header(labels)
    if problems:
        notes = "; ".join(p.get("message", p.get("type", "")) for p in problems[:5])
        raise PublishRefused(
            f"the rows of {batch.dataset_id!r} do not match the schema's fields: {notes}"
        )


def _register(
    connection: Connection, batch: Batch, schema: schemas.TableSchema, charter: charters.Charter
) -> Resource:
    """Create or update the organization, dataset and record resource rows of a batch."""
    session = Session(bind=connection, expire_on_commit=False)
    dataset, _ = register_dataset(session, batch, charter, schema.name, schema.version)
    try:
        return resources.register_records(
            session, dataset, schema.descriptor, redact_url(batch.source_url)
        )
    except resources.ResourceConflict as exc:
        raise PublishRefused(str(exc)) from exc


def register_organization(publisher: Publisher, description: str = "") -> Organization:
    """A new organization, before it publishes anything (CKAN's organization_create); an
    organization that exists is a PublishRefused."""
    with session_scope(get_engine()) as session:
        if session.get(Organization, publisher.id) is not None:
            raise PublishRefused(f"organization {publisher.id!r} exists")
        organization = Organization(
            id=publisher.id,
            name=publisher.name,
            kind=publisher.kind,
            description=description,
            email=publisher.email,
            website=publisher.website,
        )
        session.add(organization)
    return organization


def _insert_organization(session: Session, publisher: Publisher) -> None:
    """Insert the publisher's organization unless it exists: two first harvests of one
    operator at once, in two processes, must not fail on each other's row."""
    table = Organization.__table__  # type: ignore[attr-defined]
    values = {
        "id": publisher.id,
        "name": publisher.name,
        "kind": publisher.kind,
        "description": "",
        "email": publisher.email,
        "website": publisher.website,
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=["id"]))


def register_dataset(
    session: Session,
    batch: Batch | GridBatch | MetadataBatch,
    charter: charters.Charter,
    schema_name: str = "",
    schema_version: str = "",
    entry: PortalDataset | None = None,
) -> tuple[Dataset, bool]:
    """Create or update a batch's organization and dataset (or one entry of a portal's); the
    dataset, and whether its metadata changed (a new dataset's did)."""
    _insert_organization(session, batch.publisher)
    organization = session.get(Organization, batch.publisher.id)
    assert organization is not None  # inserted just above, or there already
    organization.name, organization.kind = batch.publisher.name, batch.publisher.kind
    # A contact declared (the source file's operator) replaces the one stored; a batch that
    # declares none (a CKAN write, a feed) leaves it.
    organization.email = batch.publisher.email or organization.email
    organization.website = batch.publisher.website or organization.website
    session.add(organization)
    session.flush()
    dataset_id = entry.id if entry else batch.dataset_id
    title = entry.title if entry else batch.title
    existing = session.get(Dataset, dataset_id)
    before = _metadata_of(existing) if existing is not None else None
    dataset = existing or Dataset(
        id=dataset_id,
        title=title,
        organization_id=organization.id,
        theme=batch.theme,
        schema_name=schema_name,
        charter_id=charter.id,
        access=charter.access,
    )
    if existing is None:
        tombstones.revive(session, dataset_id)
    if dataset.organization_id != organization.id:
        raise PublishRefused(
            f"dataset {dataset.id!r} belongs to {dataset.organization_id!r}, "
            f"not {organization.id!r}"
        )
    levels = (existing.access if existing is not None else charter.access, charter.access)
    if levels[0] != levels[1] and "personal" in levels:
        # Personal rows are pseudonymised and tied to their subjects, other rows are not: no
        # version can turn one into the other. Between open, restricted and crisis the producer's
        # new version decides, for the rows already stored too (charters/README.md).
        raise PublishRefused(
            f"dataset {dataset.id!r} is shared as {dataset.access!r}; charter "
            f"{charter.id!r} {charter.version} shares as {charter.access!r}: personal records "
            "cannot change access level; publish them as a new dataset"
        )
    licence = charter.licence or {}
    dataset.title, dataset.theme = title, batch.theme
    dataset.description = entry.description if entry else batch.description
    if entry is None:  # a listing has no schema: the one its records were stored under stays
        dataset.schema_name, dataset.schema_version = schema_name, schema_version
    dataset.charter_id, dataset.charter_version = charter.id, charter.version
    dataset.access = charter.access
    dataset.licence_id = str(licence.get("id", ""))
    dataset.licence_title = str(licence.get("label", licence.get("id", "")))
    dataset.licence_url = str(licence.get("uri", ""))
    dataset.mandatory_mention = charter.mandatory_mention or ""
    # Defense in depth: a source url's user:password@ and ?apikey= must not become metadata.
    # A dataset a portal lists keeps the portal's page as its source, whatever file it reads.
    if entry is not None or existing is None or not resources.lists_files(session, dataset_id):
        dataset.source_url = redact_url(entry.landing_page if entry else batch.source_url)
    dataset.keywords = list(entry.keywords if entry else batch.keywords)
    dataset.credits = entry.credits if entry else batch.credits
    if entry is not None and not resources.holds_data(session, dataset_id):
        dataset.bbox = entry.bbox  # the portal's declared extent; else the data's stands
    if entry is not None:  # the original's identity and dates: a new one is new metadata
        dataset.origin = origins.stored_origin(entry)
    changed = before != _metadata_of(dataset)
    if changed:
        # Harvesters ask for what changed since their last visit (metadata_modified,
        # modified_since, updated_since): a batch that changed nothing must not say it did.
        dataset.modified_at = utcnow()
    session.add(dataset)
    session.flush()
    return dataset, changed


def _metadata_of(dataset: Dataset) -> tuple[Any, ...]:
    """What a batch declares of a dataset: a change to any of it is a change of its metadata."""
    return (
        dataset.title,
        dataset.description,
        dataset.theme,
        dataset.schema_name,
        dataset.schema_version,
        dataset.charter_id,
        dataset.charter_version,
        dataset.access,
        dataset.licence_id,
        dataset.licence_title,
        dataset.licence_url,
        dataset.mandatory_mention,
        dataset.source_url,
        list(dataset.keywords),
        list(dataset.bbox) if dataset.bbox is not None else None,
        dict(dataset.origin) if dataset.origin is not None else None,
        dict(dataset.credits) if dataset.credits is not None else None,
    )


def refresh_extent(
    connection: Connection,
    dataset_id: str,
    resource: Resource,
    layout: records.Layout,
    changed: bool,
) -> None:
    """Keep the dataset's row count, time range and bbox in step with its records."""
    extent = records.extent(connection, layout)
    session = Session(bind=connection)
    dataset = session.get(Dataset, dataset_id)
    stored = session.get(Resource, resource.id)
    assert dataset is not None and stored is not None
    dataset.record_count = stored.row_count = extent["count"]
    dataset.time_min, dataset.time_max, dataset.bbox = (
        extent["time_min"],
        extent["time_max"],
        extent["bbox"],
    )
    if changed:  # rows published, updated or withdrawn: the dataset changed for its harvesters
        dataset.modified_at = dataset.published_at = stored.modified_at = utcnow()
        # Places and taxa, for the search: read again only when rows changed, and kept only
        # for open data (the search indexes no other's): no batch of an unchanged or closed
        # dataset scans its table for them.
        names = recordnames.names(connection, layout) if dataset.access == "open" else []
        if (stored.details or {}).get("names") != names:
            stored.details = {**(stored.details or {}), "names": names}
    session.add(dataset)
    session.add(stored)
    session.flush()


def _log_event(
    connection: Connection,
    batch: Batch | GridBatch | MetadataBatch,
    run: HarvestRun,
    access: str,
    records_announced: int = 0,
) -> None:
    """The batch's `dataset` event, after the events of its records (hub.events); `access`:
    its charter's level, which decides who may receive it. It carries the terms the rows are
    now published under (hub.catalogue.terms_of)."""
    payload = {
        **_batch_event(batch, run),
        "time": utcnow().isoformat(),
        "geometry": None,
        "events": records_announced,
        **terms_of(connection, batch.dataset_id, run),
    }
    events.append(
        connection,
        [
            {
                "kind": "dataset",
                "dataset_id": batch.dataset_id,
                "theme": batch.theme,
                "access": access,
                "payload": payload,
            }
        ],
    )


def terms_of(connection: Connection, dataset_id: str, run: HarvestRun) -> dict[str, Any]:
    """The terms a dataset's rows are published under after `run` — its schema and charter,
    each with its version, and its licence — and `terms_changed`, those that differ from the
    dataset's previous run: a service builder following the feed learns that a new schema
    version or a new charter (a licence, an access level) applies, without polling the
    catalogue. Nothing for a portal's listing, which names no one dataset."""
    session = Session(bind=connection)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        return {}
    now = {
        "schema": dataset.schema_version and f"{dataset.schema_name} {dataset.schema_version}",
        "charter": f"{dataset.charter_id} {dataset.charter_version}",
    }
    previous = session.exec(
        select(HarvestRun)
        .where(
            HarvestRun.dataset_id == dataset_id,
            col(HarvestRun.id) < (run.id or 0),
            col(HarvestRun.status).in_(("succeeded", "partial")),
        )
        .order_by(col(HarvestRun.id).desc())
        .limit(1)
    ).first()
    before = (
        {
            "schema": previous.schema_version
            and f"{previous.schema_name} {previous.schema_version}",
            "charter": f"{previous.charter_id} {previous.charter_version}",
        }
        if previous is not None
        else now
    )
    return {
        "schema": (
            {"name": dataset.schema_name, "version": dataset.schema_version}
            if dataset.schema_version
            else None
        ),
        "charter": {"id": dataset.charter_id, "version": dataset.charter_version},
        "licence": dataset.licence_id,
        "terms_changed": [name for name in ("schema", "charter") if before[name] != now[name]],
    }


def _batch_event(batch: Batch | GridBatch | MetadataBatch, run: HarvestRun) -> dict[str, Any]:
    return {
        "dataset": batch.dataset_id,
        "theme": batch.theme,
        "run": run.id,
        "published": run.rows_published,
        "updated": run.rows_updated,
        "quarantined": run.rows_quarantined,
        "skipped": run.rows_skipped,
    }


def _announce(batch: Batch | GridBatch | MetadataBatch, run: HarvestRun) -> None:
    """Tell subscribers a batch landed; a bus outage must not undo a committed batch."""
    try:
        get_bus().publish({"event": "dataset", **_batch_event(batch, run), "status": run.status})
    except Exception as exc:  # noqa: BLE001 — the data is stored; the event log keeps it for replay
        log.warning("could not announce run %s on the bus: %s", run.id, exc)


# --- reading the catalogue -----------------------------------------------------------------------


def holds_data(dataset_id: str) -> bool:
    """Whether the dataset has records or a grid stored (a withdrawn one has none)."""
    with Session(get_engine()) as session:
        return resources.holds_data(session, dataset_id)


def get(session: Session, dataset_id: str) -> Dataset:
    """One dataset, or NotFound."""
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound(f"no dataset {dataset_id!r}")
    return dataset


def resource_of(session: Session, dataset_id: str) -> Resource:
    """The record resource of a dataset, or NotFound."""
    resource = session.exec(
        select(Resource).where(Resource.dataset_id == dataset_id, Resource.kind == "records")
    ).first()
    if resource is None:
        raise NotFound(f"dataset {dataset_id!r} has no records")
    return resource


def layout_of(resource: Resource) -> records.Layout:
    """The record-table layout of a resource (one object per table and schema, so SQLAlchemy
    reuses its compiled queries instead of compiling each request's anew)."""
    return _layout(resource.table_name, json.dumps(resource.schema_descriptor, sort_keys=True))


def layout_of_dataset(connection: Connection, dataset_id: str) -> records.Layout:
    """The record-table layout of a dataset, or NotFound; read as text, so a request that
    finds the layout cached decodes no JSON and builds no table."""
    row = connection.execute(_RESOURCE_TEXT, {"dataset_id": dataset_id}).first()
    if row is None:
        raise NotFound(f"dataset {dataset_id!r} has no records")
    return _layout(row[0], row[1])


_RESOURCES: sa.Table = Resource.__table__  # type: ignore[attr-defined]
_RESOURCE_TEXT = (
    sa.select(_RESOURCES.c.table_name, sa.cast(_RESOURCES.c.schema_descriptor, sa.Text))
    .where(_RESOURCES.c.dataset_id == sa.bindparam("dataset_id"), _RESOURCES.c.kind == "records")
    .order_by(_RESOURCES.c.position)
    .limit(1)
)


@lru_cache(maxsize=512)
def _layout(table_name: str, descriptor: str) -> records.Layout:
    return records.layout_for(table_name, json.loads(descriptor), sa.MetaData())


def runs_of(session: Session, dataset_id: str, limit: int = 50) -> list[HarvestRun]:
    """A dataset's runs, newest first: its history of batches, schemas and charter versions."""
    statement = (
        select(HarvestRun)
        .where(HarvestRun.dataset_id == dataset_id)
        .order_by(col(HarvestRun.started_at).desc(), col(HarvestRun.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement).all())


def has_report(session: Session, dataset_id: str) -> bool:
    """Whether a run of the dataset kept a validation report (one that checked rows)."""
    report = col(HarvestRun.report)
    # a run without one holds SQL NULL, or JSON null where None was written to the column
    kept = sa.and_(report.is_not(None), sa.cast(report, sa.Text) != "null")
    found = select(HarvestRun.id).where(HarvestRun.dataset_id == dataset_id, kept).limit(1)
    return session.exec(found).first() is not None


def quarantined(
    session: Session,
    dataset_id: str,
    run_id: int | None = None,
    limit: int = 1000,
    offset: int = 0,
    after: tuple[int, int] | None = None,
) -> list[QuarantinedRow]:
    """A run's quarantined rows (default the latest run) by row number, after a (row, id)."""
    if run_id is None:
        latest = runs_of(session, dataset_id, limit=1)
        if not latest:
            return []
        run_id = latest[0].id
    number, row_id = col(QuarantinedRow.row_number), col(QuarantinedRow.id)
    statement = select(QuarantinedRow).where(
        QuarantinedRow.dataset_id == dataset_id, QuarantinedRow.run_id == run_id
    )
    if after is not None:
        # Spelled out rather than as a row value: both databases then walk the (run_id,
        # row_number, id) index from the cursor on, whatever the page.
        statement = statement.where(number >= after[0], or_(number > after[0], row_id > after[1]))
    statement = statement.order_by(number, row_id).offset(offset or None)
    return list(session.exec(statement.limit(limit)).all())


def organizations(session: Session) -> list[Organization]:
    """Every organization, by name."""
    return list(session.exec(select(Organization).order_by(col(Organization.name))).all())
