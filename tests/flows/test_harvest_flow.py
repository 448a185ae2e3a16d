"""The harvest flow end to end under a real Prefect server (this also guards the FastAPI pin:
Prefect 3.8's server crashes at start-up with FastAPI >= 0.150)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from hub import catalogue
from pipelines.flows import harvest

pytestmark = pytest.mark.flows


def test_the_flow_harvests_real_openaq_and_sensor_community_files(engine):
    state = harvest(["openaq-toronto-pm25", "sensor-community-aberdeen"], return_state=True)
    assert state.is_completed(), state
    outcomes = {o["source"]: o for o in state.result()}
    openaq = outcomes["openaq-toronto-pm25"]
    assert openaq["status"] in ("succeeded", "partial") and openaq["read"] == 1000
    assert openaq["published"] + openaq["quarantined"] == 1000
    community = outcomes["sensor-community-aberdeen"]
    assert community["status"] in ("succeeded", "partial") and community["published"] > 500
    with Session(engine) as session:
        dataset = catalogue.get(session, "openaq-toronto-pm25")
        assert dataset.time_min == datetime(2025, 9, 1, 0, 13, 59, tzinfo=UTC)
        assert dataset.bbox[0] == pytest.approx(-79.47, abs=0.01)
        assert dataset.bbox[1] == pytest.approx(43.79, abs=0.01)


def test_harvesting_the_same_file_twice_adds_nothing(engine):
    first = harvest(["openaq-toronto-pm25"])[0]
    second = harvest(["openaq-toronto-pm25"])[0]
    assert first["published"] > 0
    assert (second["published"], second["updated"]) == (0, 0)
    assert second["skipped"] == first["published"]
