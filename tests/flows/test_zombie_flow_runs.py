"""A harvest through Prefect whose process dies leaves no zombie flow run: the hub's recovery,
which fails the dead process's runs, ends their flow run Crashed (else, under a work pool's
concurrency limit, it held a slot for ever and scheduled harvests stayed Late)."""

from __future__ import annotations

import os
import subprocess
import sys
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL
from sqlmodel import Session, select

from hub import runs
from hub.config import PROJECT_ROOT, get_settings
from hub.models import HarvestRun
from tests.flows.test_stopped_harvest import CHILD, ROWS
from tests.test_interrupted_harvest import DEADLINE, generate, source_file, wait_for_line

pytestmark = pytest.mark.flows


def state_of(flow_run_id: str) -> str:
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(flow_run_id)).state
    assert state is not None
    return state.type.value


def test_a_killed_harvest_s_flow_run_is_ended_crashed_when_its_run_is_recovered(engine, tmp_path):
    big = tmp_path / "big.csv"
    generate(big, ROWS)
    source = source_file(tmp_path, "big", big)
    settings = get_settings()
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.effective_database_url,
        "HUB_DATA_DIR": str(settings.data_dir),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(PROJECT_ROOT), str(source)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(child, "stored ")
        child.kill()  # kill -9: nothing of the harvest's own handling runs
        child.communicate(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    with Session(engine) as session:
        (run,) = session.exec(select(HarvestRun)).all()
    assert run.status == "running" and run.flow_run_id
    assert state_of(run.flow_run_id) == "RUNNING"  # what Prefect alone would keep for ever
    assert runs.recover_stale_runs(engine) == 1
    assert state_of(run.flow_run_id) == "CRASHED"
    with Session(engine) as session:
        recovered = session.get(HarvestRun, run.id)
        assert recovered is not None and (recovered.status, recovered.error) == (
            "failed",
            runs.STOPPED,
        )
