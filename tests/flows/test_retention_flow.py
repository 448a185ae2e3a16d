"""The daily purge as Prefect runs it: the real flow under the test harness, and its deployment
beside the harvests'."""

from __future__ import annotations

from datetime import timedelta

import pytest
from loadcurves import curves, frame_of, reading, records_of
from sqlmodel import Session

from hub import catalogue
from hub.catalogue import publish
from hub.models import utcnow
from pipelines.retention import DEPLOYMENT, SCHEDULE, purge_expired_records
from pipelines.serve import build_deployments, has_schedules

pytestmark = pytest.mark.flows

METER = "30002512345678"


def test_the_flow_purges_rows_past_retention(engine):
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    rows = [reading(METER, hour, now - timedelta(days=731)) for hour in range(3)]
    rows += [reading(METER, hour, now - timedelta(days=1)) for hour in range(2)]
    publish(curves(frame_of(rows)), engine=engine)
    state = purge_expired_records(return_state=True)
    assert state.is_completed(), state
    (outcome,) = state.result()
    assert (outcome["dataset_id"], outcome["rows"]) == ("household-curves", 3)
    assert outcome["note"].startswith("retention: 3 rows older than")
    assert outcome["run_id"] is not None and outcome["before"].endswith("+00:00")
    assert len(records_of(engine, "household-curves")) == 2
    with Session(engine) as session:
        assert catalogue.get(session, "household-curves").record_count == 2
    (again,) = purge_expired_records()
    assert (again["rows"], again["run_id"]) == (0, None)


def test_the_purge_is_deployed_every_day_beside_the_harvests():
    assert has_schedules()  # the bundled personal charter needs it, with no scheduled source
    (deployment,) = build_deployments(sources=[])
    assert (deployment.flow_name, deployment.name) == ("purge-expired", DEPLOYMENT)
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == (SCHEDULE, "UTC")
    assert deployment.entrypoint == "pipelines.retention.purge_expired_records"
