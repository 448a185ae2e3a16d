"""`hub demo` stopped with SIGTERM while it harvests ends as `hub harvest` does: its sources end
interrupted, the summary is said, nothing is left running and no personal download is left; a
port already taken stops it before any work."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
from flows.processes import free_port
from sqlmodel import Session, select
from typer.testing import CliRunner

from hub.cli import app
from hub.config import PROJECT_ROOT, get_settings
from hub.models import HarvestRun
from tests.test_interrupted_harvest import DEADLINE, wait_for_line

pytestmark = pytest.mark.flows
PERSONAL = "demo-grid-load-curves"

# The real demo, whose household curves' harvest says when its first chunk is read, then waits
# there (between two chunks, where a stopped harvest ends) until it is stopped.
CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from pipelines import orchestration

def holding(self, ref):
    def tick(rows):
        if "demo-grid-load-curves" in ref:
            print("stored demo-grid-load-curves", flush=True)
            while True:
                time.sleep(0.1)
    return tick

orchestration.Tally.progress_of = holding
from hub.cli import app
app(["demo", "--households", "12", "--household-days", "14", "--port", sys.argv[2]],
    prog_name="hub")
"""


def test_sigterm_ends_the_demo_s_harvest_as_interrupted_with_its_summary(engine):
    settings = get_settings()
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.effective_database_url,
        "HUB_DATA_DIR": str(settings.data_dir),
        "PREFECT_API_URL": "",
        # One source at a time: another waiting on SQLite's lock, which the held one keeps, is
        # inside a C call no stop reaches (the next recovery fails its run, as for hub harvest).
        "HUB_HARVEST_CONCURRENCY": "1",
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(PROJECT_ROOT), str(free_port())],
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
    assert "Stopped:" in errors and "Traceback" not in errors, errors
    assert PERSONAL in summary, summary
    with Session(engine) as session:
        ran = session.exec(select(HarvestRun)).all()
    assert [r.dataset_id for r in ran if r.status == "running"] == []
    (curves,) = [r for r in ran if r.source_id == PERSONAL]
    assert (curves.status, curves.error) == ("failed", "interrupted")
    folder = settings.data_dir / "downloads" / PERSONAL
    assert not folder.is_dir() or [p for p in folder.rglob("*") if p.is_file()] == []


def test_a_taken_port_stops_the_demo_before_any_work(engine):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["demo", "--port", str(port), "--households", "12"])
    assert result.exit_code == 2, result.output
    assert f"127.0.0.1:{port} is taken" in result.output
    assert not (get_settings().data_dir / "demo").exists()  # no feed generated
    with Session(engine) as session:
        assert session.exec(select(HarvestRun)).all() == []
