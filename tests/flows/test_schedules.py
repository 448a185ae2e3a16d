"""pipelines.serve and the runner `hub serve` starts: one source Prefect cannot schedule is left
out, the others run; a runner that stops before `hub serve` does is said on its console."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from sourcefiles import openaq_source_file

import pipelines.flows  # noqa: F401 — Prefect sets its logging up once, before caplog's
from pipelines.orchestrator import Orchestrator
from pipelines.serve import build_deployments
from pipelines.sources import load_source

pytestmark = pytest.mark.flows


def test_a_schedule_prefect_refuses_leaves_out_its_source_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = load_source(openaq_source_file(tmp_path, "good", "file:x.csv", schedule="5 * * * *"))
    # The loader refuses it now; a Source built otherwise (an older check) must not stop the rest.
    bad = dataclasses.replace(good, id="bad", schedule="61 25 * * *")
    with caplog.at_level(logging.ERROR, logger="pipelines.serve"):
        deployments = build_deployments([bad, good])
    assert "good" in {d.name for d in deployments} and "bad" not in {d.name for d in deployments}
    assert "source bad left out of the schedules: Invalid cron string" in caplog.text


def test_a_runner_that_stops_is_said_and_reaped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    orchestrator = Orchestrator(tmp_path)
    orchestrator.runner = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with caplog.at_level(logging.ERROR, logger="pipelines.orchestrator"):
        orchestrator._watch_runner()
    assert "the schedules' runner stopped (exit 3): no schedule runs" in caplog.text
    assert orchestrator.runner.returncode == 3  # reaped: no zombie left


def test_a_runner_stopped_with_hub_serve_is_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    orchestrator = Orchestrator(tmp_path)
    orchestrator.runner = subprocess.Popen([sys.executable, "-c", "pass"])
    orchestrator._stopping.set()
    with caplog.at_level(logging.ERROR, logger="pipelines.orchestrator"):
        orchestrator._watch_runner()
    assert caplog.text == ""
