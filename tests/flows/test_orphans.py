"""No orphan process: `hub harvest` killed (SIGKILL or SIGTERM) takes Prefect's server with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.flows,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

HUB = Path(sys.executable).with_name("hub")
STARTUP_WAIT = 150.0  # Prefect's first start migrates its database: slow on a loaded machine
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


def _table() -> dict[int, tuple[int, str]]:
    """Every live process: pid -> (parent pid, start time), zombies left out."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), fields[19])
    return table


def descendants(pid: int) -> dict[int, str]:
    """The live descendants of a process: pid -> start time (to tell a reused pid)."""
    table = _table()
    found: dict[int, str] = {}
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, start) in table.items():
            if ppid == parent and child not in found:
                found[child] = start
                frontier.append(child)
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def _prefect_server_port(pids: dict[int, str]) -> int | None:
    for pid in pids:
        args = _cmdline(pid)
        if "uvicorn" in args and "--port" in args:
            return int(args[args.index("--port") + 1])
    return None


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _harvest_command(
    tmp_path: Path, feed: HangingFeed, database_url: str
) -> tuple[list[str], dict[str, str]]:
    """`hub harvest` of a source whose feed hangs, and its environment."""
    source = tmp_path / "hanging.yaml"
    source.write_text(
        f"""
id: hanging-feed
title: A feed that never answers
operator: {{id: openaq, name: OpenAQ, kind: public}}
theme: air-quality
format: openaq-csv
url: http://127.0.0.1:{feed.port}/feed.csv
schema: air-quality-observation
charter: openaq-cc-by
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "HUB_DATABASE_URL": database_url,
        "HUB_FETCH_ALLOW_PRIVATE": "127.0.0.1",
        "HUB_FETCH_TIMEOUT": "600",
        "HUB_FETCH_DEADLINE": "900",
        "HUB_FETCH_RETRIES": "0",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": "",
    }
    return [str(HUB), "harvest", str(source)], env


def _wait_for_server(pid: int, feed: HangingFeed) -> tuple[dict[int, str], int]:
    """Wait until the flow is fetching with Prefect's temporary server up; its pids and port."""
    deadline = time.monotonic() + STARTUP_WAIT
    while time.monotonic() < deadline:
        assert pid in _table(), "the harvest ended before its fetch"
        family = descendants(pid)
        port = _prefect_server_port(family)
        if port is not None and feed.asked.is_set():
            return family, port
        time.sleep(0.2)
    pytest.fail("the harvest never reached its fetch with Prefect's server up")


def _wait_all_gone(family: dict[int, str], port: int) -> list[int]:
    """Pids of the family still alive (same start time) after a bounded wait; [] when all ended."""
    deadline = time.monotonic() + END_WAIT
    left = list(family)
    while time.monotonic() < deadline:
        table = _table()
        left = [pid for pid, start in family.items() if table.get(pid, (0, ""))[1] == start]
        if not left and not _listening(port):
            return []
        time.sleep(0.2)
    return left


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_harvest_leaves_no_process_and_no_listening_port(
    tmp_path, feed, database_url, signum
):
    command, env = _harvest_command(tmp_path, feed, database_url)
    cli = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        family, port = _wait_for_server(cli.pid, feed)
        assert _listening(port)
        os.kill(cli.pid, signum)
        cli.communicate(timeout=END_WAIT)
        assert _wait_all_gone(family, port) == [], "processes survived the harvest"
        assert cli.returncode != 0
    finally:
        _end(cli)


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
        family, port = _wait_for_server(parent.pid, feed)
        parent.kill()
        parent.wait()
        assert _wait_all_gone(family, port) == [], "the harvest outlived its parent"
    finally:
        _end(parent)


def _end(process: subprocess.Popen) -> None:
    """Leave nothing behind, whatever the test's outcome."""
    survivors = descendants(process.pid)
    if process.poll() is None:
        process.kill()
    process.communicate()
    for pid in survivors:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
