"""The daily purge of personal records past their charter's retention, as a Prefect flow.

`pipelines.serve` deploys it beside the harvests (deployment `retention`, every day at 03:17
UTC); `hub db purge-expired` runs the same `hub.retention.purge_expired` at once. Each personal
dataset's outcome is a line of the flow run's log and an item of its result; a dataset the
purge deleted something from also gets a run in its own history (`hub.retention`). Both then
run the housekeeping (`hub.housekeeping.sweep`: the event log's old events).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger

from hub.db import get_engine
from hub.housekeeping import sweep
from hub.retention import Purge, purge_expired

SCHEDULE = "17 3 * * *"  # every day, at night in Europe, away from the top of the hour
DEPLOYMENT = "retention"


@flow(name="purge-expired", log_prints=False)
def purge_expired_records() -> list[dict[str, Any]]:
    """Delete what each personal dataset's charter no longer lets the hub keep."""
    logger = get_run_logger()
    purges = purge_expired()
    logger.info("%s", sweep(get_engine()).note)  # the event log's old events, personal ones too
    for purge in purges:
        (logger.error if purge.failed else logger.info)("%s: %s", purge.dataset_id, purge.note)
    logger.info(
        "%d personal dataset(s): %d purged, %d record row(s) deleted",
        len(purges),
        sum(purge.deleted for purge in purges),
        sum(purge.rows for purge in purges),
    )
    broken = [purge.dataset_id for purge in purges if purge.failed]
    if broken:  # the flow run fails, so that the schedule's failures show in Prefect
        raise RuntimeError(f"the purge failed for {', '.join(broken)}")
    return [outcome_of(purge) for purge in purges]


def outcome_of(purge: Purge) -> dict[str, Any]:
    """A purge as the flow's result carries it (JSON: times as ISO 8601 text)."""
    outcome = asdict(purge)
    outcome["before"] = purge.before.isoformat() if purge.before else None
    return outcome
