"""The harvest flow: fetch → read → normalise → hub.catalogue.publish, one run per source."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from hub import runs
from hub.catalogue import Batch, Progress, Publisher, PublishFailed, PublishRefused, publish
from hub.config import get_settings
from hub.db import get_engine, upgrade
from hub.redaction import redact_text, redact_url
from pipelines import readers
from pipelines.credentials import resolve_credentials
from pipelines.fetch import fetch
from pipelines.sources import Source, resolve_source

log = logging.getLogger(__name__)

# The CLI's progress bar; flow parameters must serialise, so a callback cannot be one.
_progress: Progress | None = None


@contextmanager
def reporting_progress(callback: Progress) -> Iterator[None]:
    """Send rows-read counts of harvests in this process to `callback` while inside."""
    global _progress
    previous, _progress = _progress, callback
    try:
        yield
    finally:
        _progress = previous


@dataclass
class Outcome:
    """What one source's harvest did, for the CLI summary and the flow's result."""

    source: str
    status: str  # succeeded | partial | refused | failed
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
        dataset_id=source.id, title=source.title,
        publisher=Publisher(id=operator.id, name=operator.name, kind=operator.kind),
        theme=source.theme, schema=source.schema, charter=source.charter,
        chunks=readers.read(source, data), description=source.description,
        source_id=source.id, source_url=redact_url(source.url),
        keywords=[source.theme, source.format],
    )


def harvest_source(source: Source, progress: Progress | None = None) -> Outcome:
    """Harvest one source without Prefect: the logic the flow wraps, testable directly."""
    downloads = get_settings().data_dir / "downloads" / source.id
    secrets: tuple[str, ...] = ()
    try:
        credentials = resolve_credentials(source)
        secrets = credentials.secrets
        data = fetch(source.url, downloads, base=source.base_dir, credentials=credentials)
        batch = batch_for(source, data)
    except Exception as exc:  # noqa: BLE001 — unreachable feed or misconfigured source
        # The gate never saw it, so record the run here: operators read failures in the history.
        reason = redact_text(f"{type(exc).__name__}: {exc}", secrets)
        log.warning("harvest of %s failed before the gate: %s", source.id, reason)
        engine = get_engine()
        run = runs.close_run(engine, runs.open_run(engine, source.id, source.id), "failed", reason)
        return Outcome(source.id, "failed", run.id, message=reason)
    try:
        run = publish(batch, progress=progress)
    except PublishRefused as refusal:
        reason = redact_text(refusal.reason, secrets)
        return Outcome(source.id, "refused", refusal.run_id, message=reason)
    except PublishFailed as failure:  # one broken source must not stop the others
        reason = redact_text(failure.reason, secrets)
        log.warning("harvest of %s failed: %s", source.id, reason)
        return Outcome(source.id, "failed", failure.run_id, message=reason)
    return Outcome(source.id, run.status, run.id, run.rows_read, run.rows_published,
                   run.rows_updated, run.rows_quarantined, run.rows_skipped)


@task(name="harvest-source", cache_policy=NO_CACHE)
def harvest_task(source_ref: str) -> dict[str, Any]:
    """Prefect task around `harvest_source`."""
    source = resolve_source(source_ref)
    outcome = harvest_source(source, progress=_progress)
    logger = get_run_logger()
    logger.info("%s: %s (%d read, %d published, %d quarantined)", outcome.source, outcome.status,
                outcome.read, outcome.published, outcome.quarantined)
    return outcome.as_dict()


@flow(name="harvest", log_prints=False)
def harvest(source_refs: list[str]) -> list[dict[str, Any]]:
    """Harvest the given sources (ids or source-file paths) into the catalogue."""
    engine = get_engine()
    upgrade(engine)
    runs.recover_stale_runs(engine)
    return [harvest_task(ref) for ref in source_refs]
