"""Which orchestration `hub harvest` uses (PREFECT_API_URL, the server `hub serve` recorded, or
in-process), and that several sources run at once, bounded, a broken one failing alone.

The Prefect server here is the session's test harness (a real server); `hub serve`'s own server
and its record are exercised end to end in tests/flows/test_hub_serve.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.settings import PREFECT_API_URL
from processes import free_port
from sqlmodel import Session, select
from typer.testing import CliRunner

from hub.cli import app
from hub.config import get_settings
from hub.models import Dataset, HarvestRun
from pipelines.orchestration import Orchestration, choose_orchestration
from pipelines.orchestrator import ServerRecord, record_path, write_record
from tests.sourcefiles import openaq_source_file

pytestmark = pytest.mark.flows
runner = CliRunner()
FEED_DELAY = 1.5  # seconds each feed answer is held, so that concurrent fetches overlap


def openaq_source(folder: Path, source_id: str, url: str) -> Path:
    """A territory's source file of the OpenAQ sample (under OpenAQ's charter) at `url`."""
    return openaq_source_file(folder, source_id, url)


@pytest.fixture
def harness_url() -> str:
    """The API of the session's real Prefect server."""
    url = PREFECT_API_URL.value()
    assert url, "the flows harness is not running"
    return url


@pytest.fixture
def local_source(tmp_path: Path, samples: Path) -> Path:
    return openaq_source(
        tmp_path, "toronto-local", f"file://{samples}/air/openaq_location_3145071_measurements.csv"
    )


def harvest_flow_runs_of(ref: str) -> int:
    """How many `harvest` flow runs the session's server holds for this source ref."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["harvest"])))
    return sum(1 for run in runs if ref in run.parameters.get("source_refs", []))


def ended_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_prefect_api_url_wins_when_it_answers(
    engine, hub_env, harness_url, local_source, monkeypatch
):
    write_record(hub_env, ServerRecord("http://127.0.0.1:9/api", os.getpid(), 0))
    monkeypatch.setenv("PREFECT_API_URL", harness_url)
    assert choose_orchestration(hub_env) == Orchestration(harness_url, "PREFECT_API_URL")
    result = runner.invoke(app, ["harvest", str(local_source)])
    assert result.exit_code == 0, result.output
    base = harness_url.removesuffix("/api")
    assert f"orchestration: Prefect server at {base} (PREFECT_API_URL)" in result.output
    assert harvest_flow_runs_of(str(local_source)) == 1  # the flow ran through that server
    with Session(engine) as session:
        assert session.get(Dataset, "toronto-local").record_count == 1000


def test_the_server_hub_serve_recorded_is_used_when_alive_and_answering(
    engine, hub_env, harness_url, local_source
):
    write_record(hub_env, ServerRecord(harness_url, os.getpid(), 0))
    assert choose_orchestration(hub_env) == Orchestration(harness_url, "hub serve")
    result = runner.invoke(app, ["harvest", str(local_source)])
    assert result.exit_code == 0, result.output
    base = harness_url.removesuffix("/api")
    assert f"orchestration: Prefect server at {base} (hub serve)" in result.output
    assert harvest_flow_runs_of(str(local_source)) == 1


def test_without_a_server_the_harvest_runs_in_process(engine, hub_env, local_source):
    assert not record_path(hub_env).exists()
    assert choose_orchestration(hub_env) == Orchestration(None, "no Prefect server running")
    result = runner.invoke(app, ["harvest", str(local_source)])
    assert result.exit_code == 0, result.output
    assert "orchestration: in-process (no Prefect server running)" in result.output
    assert harvest_flow_runs_of(str(local_source)) == 0
    with Session(engine) as session:
        (run,) = session.exec(select(HarvestRun)).all()
        assert (run.status, run.rows_read, run.rows_published) == ("succeeded", 1000, 1000)


def test_a_stale_record_or_a_silent_prefect_api_url_means_in_process(
    hub_env, harness_url, monkeypatch
):
    # The recorded server answers, but the pid it names is gone: not `hub serve`'s any more.
    write_record(hub_env, ServerRecord(harness_url, ended_pid(), 0))
    assert choose_orchestration(hub_env).api_url is None
    silent = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", silent)
    assert choose_orchestration(hub_env) == Orchestration(
        None, f"PREFECT_API_URL {silent} does not answer"
    )


class CountingFeed(ThreadingHTTPServer):
    """An operator serving the OpenAQ sample slowly, counting requests in flight at once."""

    def __init__(self, body: bytes):
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.body = body
        self.in_flight = 0
        self.most = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FeedHandler(BaseHTTPRequestHandler):
    server: CountingFeed

    def do_GET(self) -> None:  # noqa: N802 — http.server's naming
        feed = self.server
        with feed.lock:
            feed.in_flight += 1
            feed.most = max(feed.most, feed.in_flight)
        try:
            time.sleep(FEED_DELAY)
            if self.path.startswith("/missing"):
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(feed.body)))
            self.end_headers()
            self.wfile.write(feed.body)
        finally:
            with feed.lock:
                feed.in_flight -= 1

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


@pytest.fixture
def counting_feed(samples: Path, monkeypatch) -> Iterator[CountingFeed]:
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
    monkeypatch.setenv("HUB_FETCH_RETRIES", "0")
    get_settings.cache_clear()
    server = CountingFeed(
        (samples / "air" / "openaq_location_3145071_measurements.csv").read_bytes()
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("through", ["in-process", "prefect"])
def test_sources_run_two_at_a_time_and_a_broken_one_fails_alone(
    engine, tmp_path, counting_feed, harness_url, monkeypatch, through
):
    monkeypatch.setenv("HUB_HARVEST_CONCURRENCY", "2")
    get_settings.cache_clear()
    if through == "prefect":
        monkeypatch.setenv("PREFECT_API_URL", harness_url)
    ids = ["aq-a", "aq-b", "aq-missing", "aq-c", "aq-d"]
    paths = [
        openaq_source(tmp_path, i, f"{counting_feed.url}/{i.removeprefix('aq-')}.csv") for i in ids
    ]
    result = runner.invoke(app, ["harvest", *map(str, paths)])
    assert result.exit_code == 1, result.output  # the missing feed's source did not publish
    assert "aq-missing" in result.output and "HTTP 404" in result.output
    assert counting_feed.most == 2  # concurrent, and never more than HUB_HARVEST_CONCURRENCY
    with Session(engine) as session:
        status = {
            r.dataset_id: (r.status, r.rows_published) for r in session.exec(select(HarvestRun))
        }
    assert status == {
        "aq-a": ("succeeded", 1000),
        "aq-b": ("succeeded", 1000),
        "aq-missing": ("failed", 0),
        "aq-c": ("succeeded", 1000),
        "aq-d": ("succeeded", 1000),
    }
    summary = [line.split()[1] for line in result.output.splitlines() if line.startswith("│ aq-")]
    assert summary == ids  # the summary keeps the order given


@pytest.mark.parametrize(
    ("value", "says"),
    [("lots", "input should be a valid integer"), ("0", "input should be greater than or equal")],
)
def test_an_unusable_concurrency_setting_is_refused(engine, local_source, monkeypatch, value, says):
    monkeypatch.setenv("HUB_HARVEST_CONCURRENCY", value)
    get_settings.cache_clear()
    result = runner.invoke(app, ["harvest", str(local_source)])
    assert result.exit_code == 2
    assert f"HUB_HARVEST_CONCURRENCY {says}" in result.output
    assert f"got {value!r}" in result.output
    with Session(engine) as session:  # refused before any work
        assert session.exec(select(HarvestRun)).first() is None
