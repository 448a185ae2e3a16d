"""One source's harvest without Prefect: fetch → read → normalise → hub.catalogue.publish."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from hub import credits
from hub.batches import About, AnyBatch, Chunk, MetadataBatch
from hub.catalogue import (
    Batch,
    BatchRejected,
    Progress,
    PublishFailed,
    PublishRefused,
    holds_data,
    publish,
    record_failure,
    record_unchanged,
)
from hub.config import get_settings
from hub.cursors import load_cursor, save_cursor
from hub.db import DatabaseLocked
from hub.models import HarvestRun, SourceCursor, utcnow
from hub.redaction import redact_text, redact_url
from pipelines import archives, downloads, portalfiles, readers, snapshots
from pipelines.credentials import Credentials, credentials_towards, resolve_credentials
from pipelines.fetch import Conditions, Unchanged, fetch
from pipelines.readers import Fetched
from pipelines.readers.base import batch_header
from pipelines.roots import without_paths
from pipelines.sources import Source

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one source's harvest did, for the CLI summary and the flow's result."""

    source: str
    status: str  # succeeded | partial | refused | failed (every row invalid, too many invalid …)
    run_id: int | None = None
    read: int = 0
    published: int = 0
    updated: int = 0
    quarantined: int = 0
    skipped: int = 0
    message: str = ""
    withdrawn: int = 0  # rows a snapshot source no longer holds, withdrawn after the batch

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (flow results must serialise)."""
        return dict(self.__dict__)


def batch_for(source: Source, fetched: Fetched) -> AnyBatch:
    """The batch a fetched source makes: records read lazily, a grid, or a portal's listing."""
    reader = readers.reader_for(source)
    readers.check_options(source, reader)
    if reader.kind == "grids":
        return reader.read(source, fetched)  # type: ignore[no-any-return]
    if reader.kind == "metadata":
        return reader.read(source, fetched)  # type: ignore[no-any-return]
    about = reader.about(source, fetched) if reader.about else None
    header = batch_header(source, _described(source.description, about))
    header["keywords"] += about.keywords if about else []
    header["credits"] = credits_declared(about) if about else None
    return Batch(
        **header,
        schema=source.schema,
        chunks=_paths_hidden(readers.read_records(source, fetched), source.base_dir),
        declared_licence=about.licence if about else "",
        max_invalid_share=source.max_invalid_share,
        quarantine_cap=source.quarantine_cap,
    )


def credits_declared(about: About) -> dict[str, str] | None:
    """What the feed says of its authorship (an EML's creator, contact, citation and DOI)."""
    return credits.declared(
        creator=about.creator,
        contact_name=about.contact_name,
        contact_email=about.contact_email,
        citation=about.citation,
        doi=about.doi,
    ).stored()


def _described(declared: str, about: About | None) -> str:
    """The source file's description, or else what the feed says of itself (an EML abstract)."""
    if declared or about is None:
        return declared
    licence = f"\n\nLicence declared by the feed: {about.licence}" if about.licence else ""
    return f"{about.description}{licence}".strip()


def harvest_source(source: Source, progress: Progress | None = None) -> Outcome:
    """Harvest one source without Prefect: the logic the flow wraps, testable directly."""
    with downloads.harvesting(source):  # no sweep deletes its feed while it runs
        try:
            return _harvest(source, progress)
        finally:  # published, refused or failed: the downloaded feed has served (unless kept)
            downloads.settle(source)


def _harvest(source: Source, progress: Progress | None) -> Outcome:
    """Fetch, read and publish one source; the gate records a run for every outcome."""
    secrets: tuple[str, ...] = ()
    dataset_id = portalfiles.dataset_of(source)  # a portal's file joins the portal's dataset
    cursor = load_cursor(source.id)
    conditions = conditions_for(source, cursor, dataset_id)
    try:
        credentials = resolve_credentials(source)
        secrets = credentials.secrets
        files = portalfiles.plan_of(source)  # a portal's file rules, checked before any request
        fetched = fetch_source(source, credentials, conditions, listing_start(source, cursor))
        batch = portalfiles.joined(source, batch_for(source, fetched))
        tally = None
        if source.snapshot and isinstance(batch, Batch):
            tally = snapshots.KeyTally(source)
            batch.chunks = tally.counted(batch.chunks)
    except Unchanged as unchanged:  # nothing new to read: the run says so, the data stays
        run = record_unchanged(dataset_id, source.id, str(unchanged))
        return Outcome(source.id, "succeeded", run.id if run else None, message=str(unchanged))
    except Exception as exc:  # noqa: BLE001 — unreachable feed or misconfigured source
        # Run errors are public for open datasets: no folder of the hub's may show in them.
        reason = without_paths(
            redact_text(f"{type(exc).__name__}: {exc}", secrets), source.base_dir
        )
        log.warning("harvest of %s failed before the gate: %s", source.id, reason)
        failed = record_failure(dataset_id, source.id, reason)
        return Outcome(source.id, "failed", failed.id if failed else None, message=reason)
    try:
        run = publish(batch, progress=progress)
    except DatabaseLocked as locked:  # another writer kept SQLite's lock: fail this one, go on
        log.warning("harvest of %s failed: %s", source.id, locked)
        failed = record_failure(dataset_id, source.id, str(locked))
        return Outcome(source.id, "failed", failed.id if failed else None, message=str(locked))
    except PublishRefused as refusal:
        reason = without_paths(redact_text(refusal.reason, secrets), source.base_dir)
        return Outcome(source.id, "refused", refusal.run_id, message=reason)
    except BatchRejected as rejected:  # too invalid to publish: its counts still say how much
        log.warning("harvest of %s failed: %s", source.id, rejected.reason)
        if rejected.run is not None:
            return outcome_of(source.id, rejected.run)
        return Outcome(source.id, "failed", rejected.run_id, message=rejected.reason)
    except PublishFailed as failure:  # one broken source must not stop the others
        reason = redact_text(failure.reason, secrets)
        log.warning("harvest of %s failed: %s", source.id, reason)
        return Outcome(source.id, "failed", failure.run_id, message=reason)
    withdrawn, said = (
        snapshots.withdraw_absent(source, dataset_id, run, tally) if tally else (0, "")
    )
    if run.status in ("succeeded", "partial"):  # published: the next harvest starts from here
        listing = batch if isinstance(batch, MetadataBatch) else None
        position = listing.position if listing else cursor.position
        listed = listing is not None and listing.complete
        _move_cursor(source.id, conditions, position, listed)
        if listing is not None:  # the listing stands; its files are runs of their own
            outcome = outcome_of(source.id, run)
            said = portalfiles.harvest_files(source, listing, files, harvest_source)
            outcome.message = "; ".join(m for m in (outcome.message, said) if m)
            return outcome
    outcome = outcome_of(source.id, run)
    outcome.withdrawn = withdrawn
    outcome.message = "; ".join(m for m in (outcome.message, said) if m)
    return outcome


def _move_cursor(source_id: str, conditions: Conditions, position: str, listed: bool) -> None:
    """Save where a published harvest stands. Another writer's lock past the wait (on SQLite,
    a long batch) leaves the cursor where it was: the batch is published all the same, and the
    next harvest reads the feed again, which republishes nothing that did not change."""
    try:
        save_cursor(source_id, conditions.etag, conditions.last_modified, position, listed=listed)
    except DatabaseLocked as locked:
        log.warning(
            "%s: published; its cursor stays where it was (%s): the next harvest reads the "
            "feed again",
            source_id,
            locked,
        )


def conditions_for(source: Source, cursor: SourceCursor, dataset_id: str) -> Conditions:
    """The cursor's ETag/Last-Modified, unless the dataset they vouch for holds no data any more
    (withdrawn with its portal entry, then listed again): an answer 304 would leave it empty."""
    if not (cursor.etag or cursor.last_modified):
        return Conditions("", "")
    listing = source.format in readers.MODULES and readers.kind_of(source.format) == "metadata"
    if not listing and not holds_data(dataset_id):
        return Conditions("", "")
    return Conditions(cursor.etag, cursor.last_modified)


def listing_start(source: Source, cursor: SourceCursor) -> str:
    """Where a portal's listing starts: its stored position, or the start when a whole listing
    is due (`pipelines.portal.relisting_due`); other feeds keep their position as it is."""
    if not readers.reader_for(source).fetches_itself:
        return cursor.position
    from pipelines.portal import relisting_due  # the portal's HTTP stack, for portals only

    return "" if relisting_due(source, cursor.listed_at, utcnow()) else cursor.position


def fetch_source(
    source: Source, credentials: Credentials, conditions: Conditions, since: str = ""
) -> Fetched:
    """Fetch a source's feed, its archive's members and the documents its options link."""
    reader = readers.reader_for(source)
    shown = redact_url(source.url)
    since = str(source.options.get("since") or since)
    if reader.fetches_itself:  # a portal pages its own API: nothing to download first
        return Fetched(path=Path(), url=shown, since=since)
    folder = downloads.folder_for(source)
    path = fetch(
        source.url,
        folder,
        base=source.base_dir,
        credentials=credentials,
        deadline=source.deadline,
        conditions=conditions,
    )
    return replace(open_fetched(source, path, folder, credentials), url=shown, since=since)


def open_fetched(source: Source, path: Path, folder: Path, credentials: Credentials) -> Fetched:
    """A fetched file with its archive's members extracted and its linked documents fetched."""
    members = {}
    if archives.is_archive(path):
        members = archives.extract(path, folder / "members", get_settings().fetch_max_bytes)
    linked = {
        name: fetch(
            url, folder / "linked" / name, base=source.base_dir, deadline=source.deadline,
            credentials=credentials_towards(credentials, source.url, url),
        )
        for name, url in _linked(source).items()
    }  # fmt: skip
    return Fetched(path=path, members=members, linked=linked)


def _linked(source: Source) -> dict[str, str]:
    """The documents `options.linked` names (a station list …), each a url like the feed's."""
    linked = source.options.get("linked") or {}
    if not isinstance(linked, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in linked.items()
    ):
        raise readers.ReaderError("options.linked must map names to urls")
    for name in linked:
        if not name.replace("_", "").replace("-", "").isalnum():
            raise readers.ReaderError(f"options.linked: {name!r} is not a plain name")
    return linked


def outcome_of(source_id: str, run: HarvestRun) -> Outcome:
    """What a closed run did, its error (if any) as the message."""
    return Outcome(
        source_id,
        run.status,
        run.id,
        run.rows_read,
        run.rows_published,
        run.rows_updated,
        run.rows_quarantined,
        run.rows_skipped,
        run.error,
    )


def _paths_hidden(
    chunks: Iterable[Chunk | pl.DataFrame], base: Path | None
) -> Iterator[Chunk | pl.DataFrame]:
    """A reader's chunks, whose errors name no folder of the hub (the gate records them)."""
    try:
        yield from chunks
    except Exception as exc:
        shown = without_paths(str(exc), base)
        if shown == str(exc):
            raise
        exc.args = (shown,)  # the same error, so the run still names its type
        if str(exc) == shown:
            raise
        raise readers.ReaderError(f"{type(exc).__name__}: {shown}") from exc
