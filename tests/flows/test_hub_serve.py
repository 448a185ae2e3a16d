"""`hub serve` starts one Prefect server beside the API (recorded in HUB_DATA_DIR/prefect.json)
and a runner serving the scheduled sources' deployments; `hub harvest` uses that server; and
the server and runner end with `hub serve`, stopped (SIGTERM) or killed (SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from processes import (
    answers,
    child_env,
    cmdline,
    descendants,
    end,
    free_port,
    listening,
    survivors,
    wait_for,
)
from sourcefiles import OPENAQ_SAMPLE, openaq_source_file
from sqlmodel import Session

from hub.models import Dataset
from hub.watchdog import GRACE_SECONDS
from pipelines.orchestration import choose_orchestration
from pipelines.orchestrator import ServerRecord, read_record, record_path, running_server

pytestmark = [
    pytest.mark.flows,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

HUB = Path(sys.executable).with_name("hub")
START_WAIT = 300.0  # a fresh Prefect database migrates first: a guard, not a timing assertion
END_WAIT = 60.0
SOURCE_ID = "toronto-daily"
SCHEDULE = "30 4 * * *"


@dataclass
class Served:
    """A running `hub serve` and what it was started with."""

    process: subprocess.Popen
    port: int
    data_dir: Path
    env: dict[str, str]


def start_hub_serve(
    tmp_path: Path, database_url: str, samples: Path, prefect_db: Path | None = None
) -> Served:
    """`hub serve` on a free port, with one scheduled source of the territory's own (and a
    copy of `prefect_db` as its Prefect database, else a fresh one)."""
    sources = tmp_path / "sources"
    sources.mkdir()
    url, title = f"file://{samples}/{OPENAQ_SAMPLE}", "PM2.5 Toronto, every morning"
    openaq_source_file(sources, SOURCE_ID, url, title=title, schedule=SCHEDULE)
    port = free_port()
    data_dir = tmp_path / "var"
    if prefect_db is not None:
        data_dir.mkdir(mode=0o700)
        shutil.copyfile(prefect_db, data_dir / "prefect.db")
    env = child_env(
        HUB_DATA_DIR=str(data_dir),
        HUB_DATABASE_URL=database_url,
        HUB_SOURCES_PATH=str(sources),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_URL="",
    )
    with (tmp_path / "serve.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [str(HUB), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    return Served(process, port, data_dir, env)


def wait_for_schedules(served: Served) -> ServerRecord:
    """Wait for the API, then for the recorded Prefect server and its runner; the record."""
    api = f"http://127.0.0.1:{served.port}/healthz"
    wait_for(lambda: answers(api), START_WAIT, "the hub's API", served.process)
    record = wait_for(
        lambda: running_server(served.data_dir), START_WAIT, "Prefect server", served.process
    )
    assert record.owner == served.process.pid and record.pid in descendants(served.process.pid)
    assert record_path(served.data_dir).stat().st_mode & 0o777 == 0o600
    wait_for(lambda: runner_pids(served), START_WAIT, "the schedules' runner", served.process)
    return record


def runner_pids(served: Served) -> list[int]:
    return [p for p in descendants(served.process.pid) if "pipelines.serve" in cmdline(p)]


def deployment(record: ServerRecord) -> dict | None:
    """The scheduled source's deployment as the server holds it, once there."""
    answer = httpx.get(f"{record.url}/deployments/name/harvest/{SOURCE_ID}", trust_env=False)
    return answer.json() if answer.status_code == 200 else None


def test_hub_serve_runs_prefect_beside_the_api_and_stops_it_on_sigterm(
    tmp_path, database_url, engine, samples
):
    served = start_hub_serve(tmp_path, database_url, samples)
    try:
        api = f"http://127.0.0.1:{served.port}/healthz"
        wait_for(lambda: answers(api), START_WAIT, "the hub's API", served.process)
        # The API did not wait for Prefect's server: it answers while a fresh one migrates.
        assert running_server(served.data_dir) is None
        record = wait_for_schedules(served)
        found = wait_for(lambda: deployment(record), START_WAIT, "the deployment")
        (schedule,) = found["schedules"]
        assert (schedule["schedule"]["cron"], schedule["active"]) == (SCHEDULE, True)
        assert found["parameters"] == {"source_refs": [SOURCE_ID]}

        harvested = subprocess.run(
            [str(HUB), "harvest", SOURCE_ID], env=served.env, capture_output=True, timeout=300
        )
        assert harvested.returncode == 0, harvested.stderr.decode()
        base = record.url.removesuffix("/api")
        assert f"orchestration: Prefect server at {base} (hub serve)" in harvested.stderr.decode()
        with Session(engine) as session:
            assert session.get(Dataset, SOURCE_ID).record_count == 1000

        family = descendants(served.process.pid)
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=END_WAIT)
        assert survivors(family, END_WAIT) == [], "processes survived `hub serve`"
        assert not listening(int(base.rsplit(":", 1)[1]))
        assert not record_path(served.data_dir).exists()
    finally:
        end(served.process)


def test_a_killed_hub_serve_leaves_no_prefect_process(
    tmp_path, database_url, engine, samples, migrated_prefect_db
):
    served = start_hub_serve(tmp_path, database_url, samples, migrated_prefect_db)
    try:
        record = wait_for_schedules(served)
        family = descendants(served.process.pid)
        served.process.kill()
        served.process.wait()
        assert survivors(family, GRACE_SECONDS + END_WAIT) == [], "`hub serve` left orphans"
        assert not listening(int(record.url.rsplit(":", 1)[1].removesuffix("/api")))
        # Its record stays behind, naming a dead process: `hub harvest` then runs in-process.
        assert read_record(served.data_dir) == record
        assert choose_orchestration(served.data_dir).api_url is None
    finally:
        end(served.process)


# `make` on Ctrl-C waits for its child instead of ending it (GNU make's fatal_error_signal).
MAKE_LIKE = """
import signal, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGINT, lambda *_: None)
sys.exit(child.wait())
"""


def drain(terminal: int, output: bytearray) -> bool:
    """Read what the command wrote to its terminal so far (it must not block on a full pty)."""
    while select.select([terminal], [], [], 0.2)[0]:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        output.extend(chunk)
    return False


def test_ctrl_c_in_a_terminal_stops_hub_serve_started_by_make(
    tmp_path, database_url, engine, samples, migrated_prefect_db
):
    """`make serve` in a shell: the terminal sends Ctrl-C to its foreground group. `hub serve`
    leads a group of its own (its watchdog ends it on SIGKILL), so it takes the terminal from
    its parent's group, or Ctrl-C would reach only `make`, which waits for it for ever."""
    sources = tmp_path / "sources"
    sources.mkdir()
    openaq_source_file(sources, SOURCE_ID, f"file://{samples}/{OPENAQ_SAMPLE}", schedule=SCHEDULE)
    port, data_dir = free_port(), tmp_path / "var"
    data_dir.mkdir(mode=0o700)
    shutil.copyfile(migrated_prefect_db, data_dir / "prefect.db")
    env = child_env(
        HUB_DATA_DIR=str(data_dir),
        HUB_DATABASE_URL=database_url,
        HUB_SOURCES_PATH=str(sources),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_URL="",
    )
    command = [sys.executable, "-c", MAKE_LIKE, str(HUB), "serve", "--port", str(port)]
    parent, terminal = pty.fork()  # the child leads a session whose terminal is the pty
    if parent == 0:
        os.execve(sys.executable, command, env)
    family: dict[int, str] = {}
    try:
        output = bytearray()
        wait_for(
            lambda: drain(terminal, output) or answers(f"http://127.0.0.1:{port}/healthz"),
            START_WAIT,
            "the hub's API",
        )
        wait_for(lambda: running_server(data_dir), START_WAIT, "Prefect server")
        family = descendants(parent)
        os.write(terminal, b"\x03")  # Ctrl-C, as the terminal sends it
        deadline = time.monotonic() + END_WAIT
        ended = 0
        while time.monotonic() < deadline and not ended:
            drain(terminal, output)
            ended, _ = os.waitpid(parent, os.WNOHANG)
        said = output.decode(errors="replace")
        assert ended == parent, f"Ctrl-C did not end the command:\n{said}"
        assert survivors(family, GRACE_SECONDS + END_WAIT) == [], "Ctrl-C left processes behind"
        assert not listening(port)
    finally:
        for pid in [parent, *family]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(parent, 0)
        os.close(terminal)
