"""A fetch ends by its deadline, retries included, and leaves no partial file behind: not when
it fails, not when Ctrl-C or SIGTERM stops the process, not even after SIGKILL (next harvest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.config import PROJECT_ROOT, get_settings
from pipelines import partial
from pipelines.fetch import FetchError, fetch
from pipelines.harvesting import harvest_source
from pipelines.sources import SourceError, load_source

HEADER = (
    "station_id,station_name,pollutant,value,unit,averaging_period,observed_at,longitude,"
    "latitude,quality_flag"
)
ROW = "FR-T-1,Comédie,no2,11.5,µg/m³,PT1H,2025-09-01T00:00:00Z,3.88,43.61,valid"


class Trickle(ThreadingHTTPServer):
    """An operator that answers at once, then sends its body one byte every two seconds."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), TrickleHandler)
        self.hits = 0
        self.stop = threading.Event()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the hub hangs up mid-body: a broken pipe is expected

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class TrickleHandler(BaseHTTPRequestHandler):
    server: Trickle

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server.hits += 1
        if self.path.startswith("/silent"):  # headers never come
            self.server.stop.wait(60)
            return
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            self.wfile.write(b"x")
            if self.server.stop.wait(2):
                return

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def trickle(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trickle]:
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
    monkeypatch.setenv("HUB_FETCH_RETRIES", "3")
    get_settings.cache_clear()
    server = Trickle()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()


# --- 3. the deadline -----------------------------------------------------------------------


@pytest.mark.parametrize("route", ["trickle.csv", "silent.csv"])
def test_a_trickling_or_silent_feed_is_abandoned_at_the_deadline(
    trickle: Trickle, tmp_path: Path, route: str
) -> None:
    with pytest.raises(
        FetchError,
        match=r"ReadTimeout.* \(abandoned at the 3 s deadline, after "
        r"1 attempt\(s\)\)",
    ):
        fetch(f"{trickle.url}/{route}", tmp_path / "dl", deadline=3)
    assert trickle.hits == 1  # three retries were allowed: the deadline covers them too
    assert list((tmp_path / "dl").iterdir()) == []


def test_the_deadline_defaults_to_the_setting(
    trickle: Trickle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_FETCH_DEADLINE", "2.5")
    get_settings.cache_clear()
    with pytest.raises(FetchError, match=r"abandoned at the 2\.5 s deadline"):
        fetch(f"{trickle.url}/trickle.csv", tmp_path / "dl")


def write_source(folder: Path, url: str, options: dict[str, Any]) -> Path:
    data = {
        "id": "trickled",
        "title": "Trickled",
        "theme": "air-quality",
        "format": "csv",
        "url": url,
        "operator": {"id": "atmo-demo", "name": "Atmo Demo", "kind": "public"},
        "schema": "air-quality-observation",
        "charter": "atmo-demo-open",
        "options": options,
    }
    path = folder / "trickled.yaml"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_source_option_sets_its_deadline(
    engine: Engine, trickle: Trickle, tmp_path: Path, hub_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_FETCH_DEADLINE", "600")
    get_settings.cache_clear()
    source = load_source(write_source(tmp_path, f"{trickle.url}/no2.csv", {"deadline": 2}))
    assert source.deadline == 2.0
    outcome = harvest_source(source)
    assert outcome.status == "failed"
    assert "abandoned at the 2 s deadline" in outcome.message
    assert [p.name for p in (hub_env / "downloads" / "trickled").iterdir()] == []


def test_readers_accept_the_deadline_option(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "no2.csv").write_text(f"{HEADER}\n{ROW}\n", encoding="utf-8")
    outcome = harvest_source(load_source(write_source(tmp_path, "no2.csv", {"deadline": 30})))
    assert (outcome.status, outcome.published) == ("succeeded", 1), outcome


@pytest.mark.parametrize("value", [0, -5, "soon", True, [3]])
def test_a_bad_deadline_option_is_refused_at_load(value: object, tmp_path: Path) -> None:
    path = write_source(tmp_path, "no2.csv", {"deadline": value})
    with pytest.raises(
        SourceError,
        match=r"options.deadline must be a positive number of "
        r"seconds, got",
    ):
        load_source(path)


# --- 4. interrupted fetches leave no partial file --------------------------------------------

CHILD = """
import signal, sys
from pathlib import Path
from pipelines.fetch import fetch
if sys.argv[3] == "own-handler":  # a process with its own SIGTERM handler keeps it
    def stop(signum, frame):
        raise SystemExit(3)
    signal.signal(signal.SIGTERM, stop)
fetch(sys.argv[1], Path(sys.argv[2]))
"""


def wait_for_partial(folder: Path, child: subprocess.Popen[bytes]) -> Path:
    """The partial file the child is writing, once it exists."""
    for _ in range(600):
        found = list(folder.glob(f".*{partial.SUFFIX}")) if folder.is_dir() else []
        if found:
            return found[0]
        assert child.poll() is None, child.communicate()
        time.sleep(0.05)
    raise AssertionError("the child never started writing")


@pytest.mark.parametrize(
    ("how", "handler", "code"),
    [
        (signal.SIGTERM, "default", -signal.SIGTERM),
        (signal.SIGTERM, "own-handler", 3),
        (signal.SIGINT, "default", -signal.SIGINT),  # KeyboardInterrupt, then Python's own exit
    ],
)
def test_a_signal_during_a_fetch_leaves_no_partial_file(
    trickle: Trickle, tmp_path: Path, how: signal.Signals, handler: str, code: int
) -> None:
    folder = tmp_path / "downloads" / "trickled"
    env = {**os.environ, "HUB_FETCH_ALLOW_PRIVATE": "127.0.0.1", "HUB_DATA_DIR": str(tmp_path)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"{trickle.url}/no2.csv", str(folder), handler],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        started = wait_for_partial(folder, child)
        assert started.name.startswith(f".no2.csv.{child.pid}.")
        child.send_signal(how)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == code, err.decode()
    assert list(folder.iterdir()) == []


def test_partial_files_of_dead_processes_are_swept(tmp_path: Path) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = tmp_path / f".no2.csv.{int(ended.stdout)}.x1y2z3{partial.SUFFIX}"  # its SIGKILL'd write
    mine = tmp_path / f".no2.csv.{os.getpid()}.a1b2c3{partial.SUFFIX}"  # being written now
    odd = tmp_path / f".notes{partial.SUFFIX}"  # not named by the hub: not the hub's to remove
    feed = tmp_path / "no2.csv"
    for path in (dead, mine, odd, feed):
        path.write_bytes(b"x")
    partial.sweep(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, odd.name, feed.name])


def test_a_failed_write_removes_its_partial_file(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), partial.writing(tmp_path / "no2.csv") as out:
        out.write(b"half a feed")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
