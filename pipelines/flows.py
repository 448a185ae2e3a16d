"""The harvest flow: Prefect's wrapping of `pipelines.harvesting`, one task per source."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from hub import runs
from hub.catalogue import Progress
from hub.db import get_engine, upgrade
from pipelines.harvesting import Outcome, harvest_source
from pipelines.sources import resolve_source

__all__ = ["Outcome", "harvest", "harvest_source", "harvest_task", "reporting_progress"]

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


@task(name="harvest-source", cache_policy=NO_CACHE)
def harvest_task(source_ref: str) -> dict[str, Any]:
    """Prefect task around `harvest_source`."""
    source = resolve_source(source_ref)
    outcome = harvest_source(source, progress=_progress)
    logger = get_run_logger()
    logger.info(
        "%s: %s (%d read, %d published, %d quarantined)",
        outcome.source,
        outcome.status,
        outcome.read,
        outcome.published,
        outcome.quarantined,
    )
    return outcome.as_dict()


@flow(name="harvest", log_prints=False)
def harvest(source_refs: list[str]) -> list[dict[str, Any]]:
    """Harvest the given sources (ids or source-file paths) into the catalogue."""
    engine = get_engine()
    upgrade(engine)
    runs.recover_stale_runs(engine)
    return [harvest_task(ref) for ref in source_refs]
