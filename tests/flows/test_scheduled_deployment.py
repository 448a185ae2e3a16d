"""Scheduled harvests on several machines, as infra/prefect.sh runs them: a real Prefect server,
a source's deployment in a process work pool (its cron scheduled by the server), and a real
worker that runs it into the hub's database (HUB_DATABASE_URL, shared with the worker)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from processes import answers, child_env, end, free_port, wait_for
from sourcefiles import OPENAQ_SAMPLE, openaq_source_file
from sqlmodel import Session, select

from hub import catalogue
from hub.config import PROJECT_ROOT
from hub.models import HarvestRun

pytestmark = [
    pytest.mark.flows,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

SCRIPT = PROJECT_ROOT / "infra" / "prefect.sh"
WAIT = 300.0  # Prefect's first start migrates its database: a guard, not a timing assertion
SOURCE_ID = "toronto-scheduled"
SCHEDULE = "45 5 * * *"
POOL = "hub-test-pool"


@pytest.fixture
def infra_env(
    tmp_path: Path, database_url: str, samples: Path, migrated_prefect_db: Path
) -> dict[str, str]:
    """The settings infra/.env would give, for one machine running everything."""
    shutil.copyfile(migrated_prefect_db, tmp_path / "prefect.db")
    sources = tmp_path / "sources"
    sources.mkdir()
    url = f"file://{samples}/{OPENAQ_SAMPLE}"
    title = "PM2.5 Toronto, every morning, through a work pool"
    openaq_source_file(sources, SOURCE_ID, url, title=title, schedule=SCHEDULE)
    port = free_port()
    return child_env(
        # The Prefect server's own database: SQLite here, migrated (PostgreSQL in production).
        PREFECT_API_DATABASE_CONNECTION_URL=f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_WORKER_QUERY_SECONDS="1",
        HUB_PREFECT_POOL=POOL,
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_SOURCES_PATH=str(sources),
    )


def started(command: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`infra/prefect.sh COMMAND` in the background, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(["bash", str(SCRIPT), command], env=env, stdout=out, stderr=out)


@pytest.fixture
def prefect_server(infra_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """infra/prefect.sh server, until it answers; its API url. Stopped whatever happens."""
    server = started("server", infra_env, tmp_path / "server.log")
    api = infra_env["PREFECT_API_URL"]
    try:
        wait_for(lambda: answers(f"{api}/health"), WAIT, "the Prefect server", server)
        yield api
    finally:
        end(server)


@pytest.fixture
def worker(prefect_server: str, infra_env: dict[str, str], tmp_path: Path) -> Iterator[Path]:
    """infra/prefect.sh worker on the pool; its log. Stopped (with its flow runs) afterwards."""
    log = tmp_path / "worker.log"
    process = started("worker", infra_env, log)
    try:
        yield log
    finally:
        end(process)


# A server busy with its own scheduler answers 503: asked again, as Prefect's client does.
BUSY_TRIES = 6


def api(method: str, url: str, **body: object) -> dict:
    payload = body if method == "POST" else None
    for attempt in range(BUSY_TRIES):
        answer = httpx.request(method, url, json=payload, trust_env=False, timeout=30)
        if answer.status_code != 503 or attempt == BUSY_TRIES - 1:
            break
        time.sleep(2**attempt / 4)
    answer.raise_for_status()
    return answer.json() if answer.content else {}


def scheduled_runs(api_url: str, deployment_id: str) -> list[dict]:
    """The flow runs the server's scheduler created for the deployment."""
    return list(
        api(
            "POST",
            f"{api_url}/flow_runs/filter",
            deployments={"id": {"any_": [deployment_id]}},
            flow_runs={"state": {"type": {"any_": ["SCHEDULED"]}}},
        )
    )


def finished(api_url: str, run_id: str) -> dict | None:
    run = api("GET", f"{api_url}/flow_runs/{run_id}")
    return run if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None


def test_a_scheduled_source_runs_through_a_work_pool_and_a_worker(
    prefect_server, worker, infra_env, engine, tmp_path
):
    deployed = subprocess.run(
        ["bash", str(SCRIPT), "deploy"], env=infra_env, capture_output=True, timeout=WAIT
    )
    assert deployed.returncode == 0, deployed.stderr.decode()
    assert f"deployed harvest/{SOURCE_ID} to work pool {POOL}" in deployed.stdout.decode()
    pool = api("GET", f"{prefect_server}/work_pools/{POOL}")
    assert pool["type"] == "process"
    deployment = api("GET", f"{prefect_server}/deployments/name/harvest/{SOURCE_ID}")
    assert (deployment["work_pool_name"], deployment["entrypoint"]) == (
        POOL,
        "pipelines.flows.harvest",
    )
    assert [s["schedule"]["cron"] for s in deployment["schedules"]] == [SCHEDULE]
    # The server's scheduler turns the cron into runs to come (at 05:45 UTC each day).
    upcoming = wait_for(
        lambda: scheduled_runs(prefect_server, deployment["id"]), 60, "scheduled runs"
    )
    assert all(r["expected_start_time"][11:16] == "05:45" for r in upcoming)

    run = api("POST", f"{prefect_server}/deployments/{deployment['id']}/create_flow_run")
    done = wait_for(lambda: finished(prefect_server, run["id"]), WAIT, "the worker's run")
    assert done["state_type"] == "COMPLETED", worker.read_text()[-3000:]
    with Session(engine) as session:
        (harvest,) = session.exec(select(HarvestRun)).all()
        assert (harvest.dataset_id, harvest.status, harvest.rows_published) == (
            SOURCE_ID,
            "succeeded",
            1000,
        )
        dataset = catalogue.get(session, SOURCE_ID)
        assert dataset.bbox[0] == pytest.approx(-79.47, abs=0.01)
