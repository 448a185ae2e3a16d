"""Runs are never left "running" after their process dies."""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from hub import runs
from hub.models import HarvestRun, utcnow


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_whose_process_died_is_marked_failed(engine):
    run = runs.open_run(engine, "ds", "src")
    with Session(engine) as session:
        stored = session.get(HarvestRun, run.id)
        stored.pid = dead_pid()
        session.add(stored)
        session.commit()
    assert runs.recover_stale_runs(engine) == 1
    with Session(engine) as session:
        stored = session.get(HarvestRun, run.id)
    assert stored.status == "failed" and "ended before the run finished" in stored.error
    assert stored.finished_at is not None


def test_a_live_run_is_left_alone(engine):
    run = runs.open_run(engine, "ds", "src")  # this very process: alive
    assert runs.recover_stale_runs(engine) == 0
    with Session(engine) as session:
        assert session.get(HarvestRun, run.id).status == "running"


def test_a_run_on_another_host_is_failed_only_when_old(engine):
    with Session(engine, expire_on_commit=False) as session:
        recent = HarvestRun(dataset_id="a", host="elsewhere", pid=1)
        old = HarvestRun(
            dataset_id="b",
            host="elsewhere",
            pid=1,
            started_at=utcnow() - runs.STALE_AFTER - timedelta(minutes=1),
        )
        session.add_all([recent, old])
        session.commit()
    assert runs.recover_stale_runs(engine) == 1
    with Session(engine) as session:
        assert session.get(HarvestRun, recent.id).status == "running"
        assert session.get(HarvestRun, old.id).status == "failed"


def test_a_reused_pid_does_not_keep_a_dead_run_running(engine):
    """The harvester died; a newer process now has its pid (even if the run is recent)."""
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with Session(engine, expire_on_commit=False) as session:
            run = HarvestRun(
                dataset_id="ds",
                host=runs.socket.gethostname(),
                pid=stranger.pid,
                started_at=utcnow() - timedelta(minutes=10),
            )
            session.add(run)
            session.commit()
        assert runs.recover_stale_runs(engine) == 1
    finally:
        stranger.kill()
        stranger.wait()


def test_a_full_disk_behind_a_lost_savepoint_is_named_not_the_savepoint(engine):
    """On a full disk SQLite undoes the whole transaction; SQLAlchemy's ROLLBACK TO SAVEPOINT
    then fails, and that second error must not stand for the first."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's behaviour on a full disk")
    with (  # noqa: PT012
        pytest.raises(sa.exc.OperationalError) as caught,
        engine.connect() as connection,
        connection.begin_nested(),
    ):
        connection.exec_driver_sql("ROLLBACK")  # what SQLITE_FULL does to the transaction
        raise OSError(errno.ENOSPC, "No space left on device")
    assert "no such savepoint" in str(caught.value)
    reason = runs.failure_of(caught.value)
    assert reason.startswith("OSError: [Errno 28] No space left on device"), reason
    assert "the disk is full" in reason
    full = sqlite3.OperationalError("database or disk is full")
    assert runs.failure_of(full).endswith("then harvest again)")
    assert runs.failure_of(ValueError("x")) == "ValueError: x"
