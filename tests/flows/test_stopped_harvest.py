"""SIGTERM on `hub harvest` ends its sources as interrupted, through a Prefect server as
in-process: the stop lands in the waiting main thread, never inside a harvest's database write
(on PostgreSQL, Prefect's TerminationSignal raised inside psycopg's COPY left the connection
busy, and the run failed with "another command is already in progress")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from prefect.settings import PREFECT_API_URL
from sqlmodel import Session, select

from hub.config import PROJECT_ROOT, get_settings
from hub.models import Dataset, HarvestRun
from tests.test_interrupted_harvest import DEADLINE, generate, source_file, wait_for_line

pytestmark = pytest.mark.flows
ROWS = 300_000  # enough chunks that the stop comes while the batch is being written

# The real harvest, which says when its first chunk is stored (and goes on at full speed).
CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from pipelines import orchestration

def announcing(self, ref):
    said = []
    def tick(rows):
        if not said:
            said.append(print(f"stored {ref}", flush=True))
    return tick

orchestration.Tally.progress_of = announcing
from hub.cli import app
app(["harvest", *sys.argv[2:]], prog_name="hub")
"""


@pytest.mark.parametrize("through", ["prefect", "in-process"])
def test_sigterm_ends_a_harvest_as_interrupted_with_nothing_kept(engine, tmp_path, through):
    big = tmp_path / "big.csv"
    generate(big, ROWS)
    source = source_file(tmp_path, "big", big)
    settings = get_settings()
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.effective_database_url,
        "HUB_DATA_DIR": str(settings.data_dir),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()) if through == "prefect" else "",
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
        child.send_signal(signal.SIGTERM)
        summary, errors = child.communicate(timeout=DEADLINE)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 143, errors
    said = "Prefect server" if through == "prefect" else "in-process"
    assert f"orchestration: {said}" in errors
    assert "Traceback" not in errors and "OperationalError" not in errors, errors
    assert "Stopped: 1 source(s) above ended." in errors
    (row,) = [line.split() for line in summary.splitlines() if line.startswith("│ interrupted-")]
    assert row[3] == "failed", summary
    with Session(engine) as session:
        (run,) = session.exec(select(HarvestRun)).all()
        assert (run.status, run.error) == ("failed", "interrupted")
        dataset = session.get(Dataset, run.dataset_id)
        assert dataset is None or dataset.record_count == 0
