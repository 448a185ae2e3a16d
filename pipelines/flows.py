"""The harvest flow: Prefect's wrapping of `pipelines.harvesting`, one task per source.

`hub harvest` runs it against a running Prefect server (see `pipelines.orchestration`);
`pipelines.serve` deploys it once per scheduled source. Its tasks run in a bounded thread pool
(HUB_HARVEST_CONCURRENCY), and a source that breaks only fails its own task's outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from pipelines.harvesting import Outcome, harvest_source
from pipelines.orchestration import (
    DEFAULT_CONCURRENCY,
    Tally,
    harvest_concurrency,
    harvest_ref,
    harvest_waves,
    prepare_store,
)

__all__ = ["Outcome", "harvest", "harvest_source", "harvest_task", "reporting_progress"]

log = logging.getLogger(__name__)

# The CLI's progress bar; flow parameters must serialise, so a callback cannot be one.
_tally: Tally | None = None


@contextmanager
def reporting_progress(tally: Tally | None) -> Iterator[None]:
    """Send rows-read counts of harvests in this process to `tally` while inside."""
    global _tally
    previous, _tally = _tally, tally
    try:
        yield
    finally:
        _tally = previous


@task(name="harvest-source", cache_policy=NO_CACHE)
def harvest_task(source_ref: str) -> dict[str, Any]:
    """Prefect task around one source's harvest (`pipelines.orchestration.harvest_ref`)."""
    outcome = harvest_ref(source_ref, _tally.progress_of(source_ref) if _tally else None)
    get_run_logger().info(
        "%s: %s (%d read, %d published, %d quarantined)",
        outcome.source,
        outcome.status,
        outcome.read,
        outcome.published,
        outcome.quarantined,
    )
    return outcome.as_dict()


def _pool_size() -> int:
    """The task pool's size where the flow is defined (a worker's, a runner's)."""
    try:
        return harvest_concurrency()
    except ValueError as exc:  # a worker keeps going with the default; the CLI refuses it
        log.warning("%s: using %d", exc, DEFAULT_CONCURRENCY)
        return DEFAULT_CONCURRENCY


_POOL = ThreadPoolTaskRunner[Any](max_workers=_pool_size())


@flow(name="harvest", log_prints=False, task_runner=_POOL)  # type: ignore[arg-type]  # invariant
def harvest(source_refs: list[str]) -> list[dict[str, Any]]:
    """Harvest the given sources (ids or source-file paths) into the catalogue."""
    prepare_store()
    outcomes: dict[int, dict[str, Any]] = {}
    for wave in harvest_waves(source_refs):
        futures = harvest_task.map([source_refs[index] for index in wave])
        outcomes.update(zip(wave, (future.result() for future in futures), strict=True))
    return [outcomes[index] for index in range(len(source_refs))]
