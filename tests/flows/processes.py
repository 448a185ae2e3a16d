"""Process helpers for tests that start `hub` commands and Prefect servers: who is alive, who
listens, and leaving nothing behind whatever the test's outcome (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: bench/
from bench.ports import free_port  # noqa: E402, F401 — the benchmarks pick their ports alike

T = TypeVar("T")


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


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (not a zombie)."""
    return pid in _table()


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


def cmdline(pid: int) -> list[str]:
    """A process's command line, [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def survivors(family: dict[int, str], wait: float) -> list[int]:
    """Pids of `family` still alive (same start time) after up to `wait` seconds; [] if none."""
    deadline = time.monotonic() + wait
    while True:
        table = _table()
        left = [pid for pid, start in family.items() if table.get(pid, (0, ""))[1] == start]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def wait_for(
    check: Callable[[], T], wait: float, what: str, process: subprocess.Popen | None = None
) -> T:
    """Poll `check()` until it returns something truthy; fail naming `what` after `wait` s."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process ended first (exit {process.returncode})")
        time.sleep(0.2)
    raise AssertionError(f"{what}: not after {wait:.0f} s")


def answers(url: str) -> bool:
    """Whether `url` answers 200."""
    try:
        return httpx.get(url, timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def child_env(**settings: str) -> dict[str, str]:
    """The test's environment for a child process, plus `settings`.

    Where PYTHONDONTWRITEBYTECODE keeps Python from caching compiled modules, every child
    would compile Prefect from source (tens of seconds on two busy cores): children share a
    bytecode cache of their own instead, outside the virtualenv.
    """
    env = {**os.environ, **settings}
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "hub-test-pyc"))
    return env


def end(process: subprocess.Popen) -> None:
    """End a process and every descendant it has left, whatever the test's outcome."""
    left = descendants(process.pid)
    if process.poll() is None:
        process.kill()
    process.communicate()
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
