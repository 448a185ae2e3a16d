"""The harvest flow: Prefect's wrapping of `pipelines.harvesting`, one flow run per harvest.

`hub harvest` runs it against a running Prefect server (see `pipelines.orchestration`);
`pipelines.serve` deploys it once per scheduled source. Its sources run in the hub's own bounded
pool (HUB_HARVEST_CONCURRENCY), as in-process harvests do, and a source that breaks only fails
its own outcome; each outcome is a line of the flow run's log. Sources are not Prefect task
runs: a scheduled flow run harvests one source, the hub's runs keep each source's history, and
task runs cost a `hub harvest` of 50 sample sources about a fifth of its time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL

from hub import flowruns
from pipelines.harvesting import Outcome, harvest_source
from pipelines.orchestration import Tally, harvest_concurrency, harvest_in_process

__all__ = ["Outcome", "harvest", "harvest_source", "reporting_progress"]

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


def _named_on_runs() -> AbstractContextManager[None]:
    """This flow run, named on the hub runs it opens: their recovery ends it Crashed."""
    context = FlowRunContext.get()
    api = PREFECT_API_URL.value()
    if context is None or context.flow_run is None or not api:
        return nullcontext()
    return flowruns.running_in(str(context.flow_run.id), str(api))


@flow(name="harvest", log_prints=False)
def harvest(source_refs: list[str]) -> list[dict[str, Any]]:
    """Harvest the given sources (ids or source-file paths) into the catalogue."""
    # HUB_HARVEST_CONCURRENCY where the flow runs (a worker's, a runner's, the CLI's)
    with _named_on_runs():
        outcomes = harvest_in_process(source_refs, _tally, harvest_concurrency())
    logger = get_run_logger()
    for outcome in outcomes:
        logger.info(
            "%s: %s (%d read, %d published, %d quarantined)%s",
            outcome["source"],
            outcome["status"],
            outcome["read"],
            outcome["published"],
            outcome["quarantined"],
            f": {outcome['message']}" if outcome["message"] else "",
        )
    return outcomes
