"""One source's harvest without Prefect: fetch → read → normalise → hub.catalogue.publish."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from hub import runs
from hub.batches import Chunk
from hub.catalogue import (
    Batch,
    BatchRejected,
    Progress,
    Publisher,
    PublishFailed,
    PublishRefused,
    publish,
)
from hub.db import DatabaseLocked, get_engine
from hub.models import HarvestRun
from hub.redaction import redact_text, redact_url
from pipelines import downloads, readers
from pipelines.credentials import resolve_credentials
from pipelines.fetch import fetch
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

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (flow results must serialise)."""
        return dict(self.__dict__)


def batch_for(source: Source, data: Path) -> Batch:
    """The batch a fetched source file makes, read lazily chunk by chunk."""
    operator = source.operator
    return Batch(
        dataset_id=source.id,
        title=source.title,
        publisher=Publisher(id=operator.id, name=operator.name, kind=operator.kind),
        theme=source.theme,
        schema=source.schema,
        charter=source.charter,
        chunks=readers.read_records(source, readers.Fetched(data)),
        description=source.description,
        source_id=source.id,
        source_url=redact_url(source.url),
        keywords=[source.theme, source.format],
        max_invalid_share=source.max_invalid_share,
        quarantine_cap=source.quarantine_cap,
    )


def harvest_source(source: Source, progress: Progress | None = None) -> Outcome:
    """Harvest one source without Prefect: the logic the flow wraps, testable directly."""
    try:
        return _harvest(source, progress)
    finally:  # published, refused or failed: the downloaded feed has served (unless kept)
        downloads.settle(source)


def _harvest(source: Source, progress: Progress | None) -> Outcome:
    """Fetch, read and publish one source, recording a failed run for what the gate never saw."""
    secrets: tuple[str, ...] = ()
    try:
        credentials = resolve_credentials(source)
        secrets = credentials.secrets
        data = fetch(
            source.url,
            downloads.folder_for(source),
            base=source.base_dir,
            credentials=credentials,
            deadline=source.deadline,
        )
        batch = batch_for(source, data)
        batch.chunks = _paths_hidden(batch.chunks, source.base_dir)
    except Exception as exc:  # noqa: BLE001 — unreachable feed or misconfigured source
        # The gate never saw it, so record the run here: operators read failures in the history.
        # Run errors are public for open datasets: no folder of the hub's may show in them.
        reason = without_paths(
            redact_text(f"{type(exc).__name__}: {exc}", secrets), source.base_dir
        )
        log.warning("harvest of %s failed before the gate: %s", source.id, reason)
        failed = runs.record_failed(get_engine(), source.id, source.id, reason)
        return Outcome(source.id, "failed", failed.id if failed else None, message=reason)
    try:
        run = publish(batch, progress=progress)
    except DatabaseLocked as locked:  # another writer kept SQLite's lock: fail this one, go on
        log.warning("harvest of %s failed: %s", source.id, locked)
        failed = runs.record_failed(get_engine(), source.id, source.id, str(locked))
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
    return outcome_of(source.id, run)


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
