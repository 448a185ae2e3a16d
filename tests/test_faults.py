"""Faults: heartbeats and stale runs, a SQLite lock held too long, a Redis that goes away."""

from __future__ import annotations

import logging
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sourcefiles import OPENAQ_SAMPLE, openaq_source_file
from sqlmodel import Session, select

from hub import runs
from hub.config import get_settings
from hub.db import DatabaseLocked, get_engine, is_sqlite, reset_engines
from hub.models import HarvestRun, utcnow
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source

WAIT = 30.0  # bounded waits for background work on a loaded machine (not a timing assert)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def wait_for(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"not within {WAIT:.0f} s: {what}")


def status_of(engine, run_id: int) -> HarvestRun:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        run = session.get(HarvestRun, run_id)
        assert run is not None
        return run


def add_run(engine, **fields) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        run = HarvestRun(dataset_id="ds", **fields)
        session.add(run)
        session.commit()
        assert run.id is not None
        return run.id


@pytest.fixture
def fast_checks(engine, monkeypatch):  # type: ignore[no-untyped-def]
    """Heartbeats and stale-run checks every few tenths of a second."""
    monkeypatch.setenv("HUB_HEARTBEAT_SECONDS", "0.1")
    monkeypatch.setenv("HUB_RECOVER_RUNS_SECONDS", "0.2")
    get_settings.cache_clear()
    return engine


def test_an_open_run_beats_until_it_is_closed(fast_checks):
    engine = fast_checks
    run = runs.open_run(engine, "ds", "ds")
    first = status_of(engine, run.id or 0).heartbeat_at
    assert first is not None
    wait_for(lambda: status_of(engine, run.id or 0).heartbeat_at != first, "a heartbeat")
    runs.close_run(engine, run, "succeeded")
    assert run.id not in runs._beats
    closed = status_of(engine, run.id or 0)
    time.sleep(0.5)  # a stopped heartbeat writes nothing more
    assert status_of(engine, run.id or 0).heartbeat_at == closed.heartbeat_at


def test_the_server_fails_a_run_whose_process_stopped_while_it_serves(fast_checks):
    from hub.app import create_app

    engine = fast_checks
    old = utcnow() - timedelta(minutes=5)
    with TestClient(create_app()):
        # Added once the server is up: only its background check can settle them.
        here = add_run(
            engine, host=socket.gethostname(), pid=dead_pid(), started_at=old, heartbeat_at=old
        )
        away = add_run(engine, host="another-host", pid=1, started_at=old, heartbeat_at=old)
        alive = add_run(engine, host="another-host", pid=1, started_at=old, heartbeat_at=utcnow())
        wait_for(
            lambda: (
                status_of(engine, here).status == "failed"
                and status_of(engine, away).status == "failed"
            ),
            "stale runs failed",
        )
        assert status_of(engine, here).error == runs.STOPPED
        assert status_of(engine, alive).status == "running"


def test_a_live_local_run_is_kept_although_sqlite_let_no_heartbeat_through(engine):
    harvester = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        run_id = add_run(
            engine,
            host=socket.gethostname(),
            pid=harvester.pid,
            heartbeat_at=utcnow() - timedelta(minutes=5),
        )  # a long batch
        runs.recover_stale_runs(engine)
        assert status_of(engine, run_id).status == "running"
    finally:
        harvester.kill()
        harvester.wait()


# --- a writer holding SQLite's lock --------------------------------------------------------------


@pytest.fixture
def short_busy(engine, monkeypatch):  # type: ignore[no-untyped-def]
    """SQLite writes wait half a second for a lock (a minute by default)."""
    if not is_sqlite(engine):
        pytest.skip("SQLite's database-wide write lock only")
    monkeypatch.setenv("HUB_SQLITE_BUSY_SECONDS", "0.5")
    get_settings.cache_clear()
    reset_engines()
    return get_engine()


def source_file(folder, samples, source_id: str):  # type: ignore[no-untyped-def]
    return openaq_source_file(folder, source_id, f"file://{samples}/{OPENAQ_SAMPLE}")


class Releaser(logging.Handler):
    """Lets the other writer go once the harvest has said it gave up (as a real writer would)."""

    def __init__(self, holder: sqlite3.Connection) -> None:
        super().__init__(logging.WARNING)
        self.holder = holder

    def emit(self, record: logging.LogRecord) -> None:
        if "locked by another writer" in record.getMessage() and self.holder.in_transaction:
            self.holder.rollback()


def test_a_held_lock_fails_the_source_with_one_clear_line_and_the_next_goes_on(
    short_busy, tmp_path, samples, caplog
):
    engine = short_busy
    holder = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another writer takes the lock and keeps it
    releaser = Releaser(holder)
    logging.getLogger("pipelines.harvesting").addHandler(releaser)
    try:
        first = harvest_source(load_source(source_file(tmp_path, samples, "locked-out")))
        second = harvest_source(load_source(source_file(tmp_path, samples, "after-it")))
    finally:
        logging.getLogger("pipelines.harvesting").removeHandler(releaser)
        holder.close()
    assert first.status == "failed"
    assert first.message.startswith("the database was locked by another writer for ")
    assert "\n" not in first.message and "SELECT" not in first.message
    assert second.status == "succeeded" and second.published == 1000
    with Session(engine) as session:
        recorded = {r.dataset_id: r for r in session.exec(select(HarvestRun))}
    assert recorded["locked-out"].status == "failed"
    assert recorded["locked-out"].error == first.message
    assert "Traceback" not in caplog.text


def test_a_write_that_waits_past_its_patience_names_the_lock(short_busy):
    holder = sqlite3.connect(short_busy.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseLocked, match="locked by another writer"):
            runs.open_run(short_busy, "ds", "ds")
        assert runs.recover_stale_runs(short_busy) == 0  # reads still work; nothing to write
    finally:
        holder.close()


# --- a database that goes away during a harvest --------------------------------------------------

DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/gone"


def test_a_database_lost_mid_harvest_fails_the_source_with_its_error_and_the_summary_comes_out(
    engine, tmp_path, samples, monkeypatch
):
    """The gate's own record fails too, and so does reading it back: the source fails with
    the database's error, the others' outcomes and the summary still come out, exit 1."""
    from sqlalchemy.exc import OperationalError
    from typer.testing import CliRunner

    from hub.cli import app
    from pipelines import orchestration

    def database_lost(source, progress=None):  # type: ignore[no-untyped-def]
        monkeypatch.setenv("HUB_DATABASE_URL", DEAD_DATABASE)
        get_settings.cache_clear()
        reset_engines()  # from now on every session of this process finds no server
        raise OperationalError("COPY", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(orchestration, "harvest_source", database_lost)
    path = source_file(tmp_path, samples, "lost-store")
    result = CliRunner().invoke(app, ["harvest", str(path)])
    assert result.exit_code == 1, result.output
    assert "Harvest summary" in result.output and "lost-store" in result.output
    assert "server closed the connection unexpectedly" in result.output
    assert "KeyError" not in result.output


def test_a_run_the_database_was_away_to_close_is_recorded_with_its_reason_once_it_is_back(
    engine, monkeypatch
):
    """Not left "running" until a recovery blames a process that never stopped."""
    from sqlalchemy.exc import OperationalError

    run = runs.open_run(engine, "ds", "ds")

    def away(write):  # type: ignore[no-untyped-def]
        raise OperationalError("UPDATE", {}, Exception("connection refused"))

    with monkeypatch.context() as outage:
        outage.setattr(runs, "retry_locked", away)
        with pytest.raises(OperationalError):
            runs.close_run(engine, run, "failed", "OperationalError: server closed the connection")
    assert status_of(engine, run.id).status == "running"  # nothing could be written then
    runs.recover_stale_runs(engine)  # the database is back: the next check records it
    recorded = status_of(engine, run.id)
    assert recorded.status == "failed"
    assert recorded.error == "OperationalError: server closed the connection"
