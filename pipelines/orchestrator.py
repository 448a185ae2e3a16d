"""The hub's own Prefect server: a child of `hub serve`, recorded in HUB_DATA_DIR/prefect.json.

`hub serve` (and `hub demo`) start it beside the API without waiting for it, and a runner that
serves the scheduled sources' deployments once it answers; both end with the command (SIGTERM
and Ctrl-C through `stop`, SIGKILL through `hub.watchdog`, which ends the command's process
group). `hub harvest` finds it through the record (`running_server`) and never starts one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

import httpx

from hub.config import get_settings
from hub.keys import private_folder

log = logging.getLogger(__name__)

RECORD_FILE = "prefect.json"
LOG_FILE = "prefect.log"
HOST = "127.0.0.1"  # the hub's own server: for this machine only (workers elsewhere: infra/)
HEALTH_TIMEOUT = 2.0  # seconds one health check may take
POLL_SECONDS = 0.25
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL of a child
STARTS = 2  # a free port taken by someone else before uvicorn bound it: one more try


@dataclass(frozen=True)
class ServerRecord:
    """Where the hub's Prefect server listens (`url`, its API), its pid and whose child it is."""

    url: str
    pid: int
    owner: int


def record_path(data_dir: Path) -> Path:
    """The file that says where the Prefect server `hub serve` started listens."""
    return data_dir / RECORD_FILE


def read_record(data_dir: Path) -> ServerRecord | None:
    """The recorded server, or None when there is no (readable) record."""
    try:
        data = json.loads(record_path(data_dir).read_text(encoding="utf-8"))
        return ServerRecord(str(data["url"]), int(data["pid"]), int(data.get("owner", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(data_dir: Path, record: ServerRecord) -> None:
    """Write the record (mode 0600), atomically: a reader never sees half of it."""
    private_folder(data_dir)
    path = record_path(data_dir)
    draft = path.with_name(f".{RECORD_FILE}.{os.getpid()}")
    descriptor = os.open(draft, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(asdict(record), out)
    os.replace(draft, path)


def clear_record(data_dir: Path, pid: int) -> None:
    """Remove the record if it still names the server `pid` (another may have replaced it)."""
    record = read_record(data_dir)
    if record is not None and record.pid == pid:
        record_path(data_dir).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies included)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, though surely not our server
        return True
    return True


def healthy(api_url: str, timeout: float = HEALTH_TIMEOUT) -> bool:
    """Whether a Prefect API answers its health check at `api_url` (…/api)."""
    try:
        answer = httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def running_server(data_dir: Path) -> ServerRecord | None:
    """The recorded server if its process lives and it answers; None for a stale record."""
    record = read_record(data_dir)
    if record is None or not pid_alive(record.pid) or not healthy(record.url):
        return None
    return record


def database_url(data_dir: Path) -> str:
    """Prefect's own database: PostgreSQL when configured so, else SQLite in the data folder."""
    for name in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL"):
        configured = os.environ.get(name, "")
        if configured.startswith("postgresql"):
            return configured
    return f"sqlite+aiosqlite:///{(data_dir / 'prefect.db').resolve()}"


def child_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of the server and the runner: the hub's, plus Prefect's home and DB."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.setdefault("PREFECT_HOME", str((data_dir / "prefect").resolve()))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url(data_dir)
    env.pop("PREFECT_SERVER_DATABASE_CONNECTION_URL", None)  # one spelling, the one above
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def configured_port() -> int | None:
    """HUB_PREFECT_PORT, if set: the port the hub's Prefect server must listen on."""
    return get_settings().prefect_port


class Orchestrator:
    """The Prefect server `hub serve` runs beside the API, and the runner of its schedules."""

    def __init__(self, data_dir: Path, port: int | None = None, schedules: bool = True):
        self.data_dir = data_dir
        self.port = port
        self.schedules = schedules  # start the runner of scheduled deployments once ready
        self.server: subprocess.Popen[bytes] | None = None
        self.runner: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.ready = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        """Start the server now; wait for it (and start the runner) in the background."""
        private_folder(self.data_dir)
        with self._lock:
            if self._stopping.is_set():  # stopped before it started: nothing to start
                return
            self._log = _private_log(self.data_dir / LOG_FILE)
        self._spawn_server()
        threading.Thread(target=self._follow, name="prefect-server", daemon=True).start()

    def _spawn_server(self) -> None:
        port = self.port or free_port()
        self.url = f"http://{HOST}:{port}/api"
        command = [sys.executable, "-m", "uvicorn", "--factory"]
        command += ["prefect.server.api.server:create_app", "--host", HOST, "--port", str(port)]
        with self._lock:
            if self._stopping.is_set():
                return
            self.server = subprocess.Popen(  # noqa: S603 — our interpreter, Prefect's app
                [*command, "--log-level", "warning"],
                env=child_environment(self.data_dir, PREFECT__SERVER_FINAL="1"),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        write_record(self.data_dir, ServerRecord(self.url, self.server.pid, os.getpid()))
        log.info("Prefect server starting at %s (pid %d)", self.url, self.server.pid)

    def _follow(self) -> None:
        """Wait until the server answers (one more start on a lost port); then the runner."""
        for attempt in range(1, STARTS + 1):
            if self._wait_healthy():
                self.ready.set()
                log.info("Prefect server ready at %s", self.url)
                if self.schedules:
                    self._start_runner()
                    self._watch_runner()
                return
            if self._stopping.is_set() or self.port is not None or attempt == STARTS:
                break
            self._spawn_server()
        if not self._stopping.is_set():
            log.error("the Prefect server did not start: see %s", self.data_dir / LOG_FILE)

    def _wait_healthy(self) -> bool:
        while not self._stopping.is_set():
            server = self.server
            if server is None or server.poll() is not None:
                return False
            if healthy(self.url, timeout=1.0):
                return True
            time.sleep(POLL_SECONDS)
        return False

    def _start_runner(self) -> None:
        from pipelines.serve import has_schedules

        if not has_schedules():
            log.info("no scheduled source and no personal charter: no deployment to serve")
            return
        with self._lock:
            if self._stopping.is_set():
                return
            self.runner = subprocess.Popen(  # noqa: S603 — our interpreter, our module
                [sys.executable, "-m", "pipelines.serve"],
                env=child_environment(self.data_dir, PREFECT_API_URL=self.url),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )

    def _watch_runner(self) -> None:
        """Say on the console when the runner ends before `hub serve` does: no schedule (nor
        the retention purge) runs then, and its reason is only in the children's log."""
        runner = self.runner
        if runner is None:
            return
        code = runner.wait()  # reaps it too: no zombie child left behind
        if not self._stopping.is_set():
            log.error(
                "the schedules' runner stopped (exit %d): no schedule runs until `hub serve` "
                "restarts; see %s",
                code,
                self.data_dir / LOG_FILE,
            )

    def stop(self) -> None:
        """Stop the runner, then the server; remove the record. Safe to call twice."""
        with self._lock:
            self._stopping.set()
            runner, server = self.runner, self.server
        for child in (runner, server):
            if child is not None:
                end_child(child)
        if server is not None:
            clear_record(self.data_dir, server.pid)
        with self._lock:
            if self._log is not None:
                self._log.close()


def _private_log(path: Path) -> IO[bytes]:
    """The children's log (mode 0600: it may name the hub's folders), appended to."""
    return os.fdopen(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600), "ab")


def end_child(child: subprocess.Popen[bytes], grace: float = STOP_GRACE) -> None:
    """SIGTERM a child, SIGKILL it if it is still there after `grace` seconds; reap it."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def orchestrator_for(data_dir: Path, schedules: bool = True) -> Orchestrator | None:
    """The Prefect server this hub should start, or None when one runs already for it."""
    if os.environ.get("PREFECT_API_URL", "").strip():
        log.info("PREFECT_API_URL is set: its server and workers run the schedules")
        return None
    other = running_server(data_dir)
    if other is not None and other.owner != os.getpid():
        log.info("Prefect server of this hub already running at %s (pid %d)", other.url, other.pid)
        return None
    return Orchestrator(data_dir, configured_port(), schedules)


@contextlib.contextmanager
def beside(data_dir: Path, schedules: bool = True) -> Iterator[Orchestrator | None]:
    """Run the hub's Prefect server while inside, unless one is running already for this hub."""
    orchestrator = orchestrator_for(data_dir, schedules)
    try:
        if orchestrator is not None:
            orchestrator.start()
        yield orchestrator
    finally:
        if orchestrator is not None:
            orchestrator.stop()
