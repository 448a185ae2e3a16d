"""No orphan process: `hub harvest` starts no Prefect server, and killed (SIGKILL or SIGTERM)
or orphaned it leaves nothing running. (`hub serve`'s server: tests/flows/test_hub_serve.py.)"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import alive, child_env, cmdline, descendants, end, survivors, wait_for
from sourcefiles import openaq_source_file

pytestmark = [
    pytest.mark.flows,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

HUB = Path(sys.executable).with_name("hub")
STARTUP_WAIT = 120.0  # imports on a loaded two-core machine; a guard, not a timing assertion
END_WAIT = 30.0


class HangingFeed:
    """An operator's server that accepts a request and never answers (fake at the network edge)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.asked = threading.Event()
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)
            self.asked.set()

    def close(self) -> None:
        for connection in self.held:
            connection.close()
        self.socket.close()


@pytest.fixture
def feed() -> Iterator[HangingFeed]:
    server = HangingFeed()
    try:
        yield server
    finally:
        server.close()


def _harvest_command(
    tmp_path: Path, feed: HangingFeed, database_url: str
) -> tuple[list[str], dict[str, str]]:
    """`hub harvest` of a source whose feed hangs, and its environment."""
    url = f"http://127.0.0.1:{feed.port}/feed.csv"
    source = openaq_source_file(tmp_path, "hanging-feed", url, title="A feed that never answers")
    env = child_env(
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_DATABASE_URL=database_url,
        HUB_FETCH_ALLOW_PRIVATE="127.0.0.1",
        HUB_FETCH_TIMEOUT="600",
        HUB_FETCH_DEADLINE="900",
        HUB_FETCH_RETRIES="0",
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_API_URL="",
    )
    return [str(HUB), "harvest", str(source)], env


def _wait_for_fetch(pid: int, feed: HangingFeed) -> dict[int, str]:
    """Wait until the harvest is fetching; the process and its descendants then."""
    wait_for(feed.asked.is_set, STARTUP_WAIT, "the harvest reaching its fetch")
    assert alive(pid), "the harvest ended before its fetch"
    return descendants(pid)


def _no_prefect_server(family: dict[int, str]) -> None:
    servers = [
        pid
        for pid in family
        if any(arg == "uvicorn" or arg.startswith("prefect") for arg in cmdline(pid))
    ]
    assert servers == [], "a harvest must never start a Prefect server of its own"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_harvest_leaves_no_process_and_started_no_prefect_server(
    tmp_path, feed, database_url, signum
):
    command, env = _harvest_command(tmp_path, feed, database_url)
    cli = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        family = _wait_for_fetch(cli.pid, feed)
        _no_prefect_server(family)
        cli.send_signal(signum)
        _, err = cli.communicate(timeout=END_WAIT)
        assert survivors(family, END_WAIT) == [], "processes survived the harvest"
        assert cli.returncode != 0
        assert b"orchestration: in-process (no Prefect server running)" in err
    finally:
        end(cli)


def test_a_harvest_started_by_another_program_dies_with_it(tmp_path, feed, database_url):
    """A CLI that left its parent's group (so Ctrl-C no longer reaches it) follows its parent."""
    command, env = _harvest_command(tmp_path, feed, database_url)
    script = "import subprocess,sys,time; subprocess.Popen(sys.argv[1:]); time.sleep(600)"
    parent = subprocess.Popen(
        [sys.executable, "-c", script, *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(feed.asked.is_set, STARTUP_WAIT, "the harvest reaching its fetch", parent)
        family = descendants(parent.pid)
        parent.kill()
        parent.wait()
        assert survivors(family, END_WAIT) == [], "the harvest outlived its parent"
    finally:
        end(parent)
