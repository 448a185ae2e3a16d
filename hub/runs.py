"""Harvest runs: opened before a batch, closed after it, never left "running" by a dead process."""

from __future__ import annotations

import asyncio
import atexit
import errno
import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from hub import flowruns
from hub.config import get_settings
from hub.db import DatabaseLocked, is_sqlite, retry_locked
from hub.models import HarvestRun, as_utc, utcnow
from hub.redaction import without_folders

log = logging.getLogger(__name__)

# A run on another host is only presumed dead after this long without finishing.
STALE_AFTER = timedelta(hours=6)


def open_run(engine: Engine, dataset_id: str, source_id: str | None) -> HarvestRun:
    """Record a new run as running, with this process as its owner, and start its heartbeat."""
    now = utcnow()
    flow_run_id, flow_run_api = flowruns.current() or (None, None)
    run = HarvestRun(
        dataset_id=dataset_id,
        source_id=source_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=now,
        heartbeat_at=now,
        flow_run_id=flow_run_id,
        flow_run_api=flow_run_api,
    )

    def insert() -> None:
        with Session(engine, expire_on_commit=False) as session:
            session.add(run)
            session.commit()
            session.refresh(run)

    retry_locked(insert)
    _start_heartbeat(engine, run.id or 0)
    return run


def close_run(engine: Engine, run: HarvestRun, status: str, error: str = "") -> HarvestRun:
    """Record how a run ended (and stop its heartbeat)."""
    _stop_heartbeat(run.id or 0)
    run.status = status
    run.error = without_folders(error)  # shown with the run's history: no folder of the hub's
    run.finished_at = utcnow()

    def update() -> None:
        with Session(engine, expire_on_commit=False) as session:
            session.add(session.merge(run))
            session.commit()

    try:
        retry_locked(update)
    except SQLAlchemyError:  # the database went away: said when it is back, not "process stopped"
        with _unclosed_lock:
            _unclosed[run.id or 0] = (engine, run)
        raise
    log.info(
        "run %s %s: read %d, published %d, updated %d, quarantined %d, skipped %d%s",
        run.id,
        status,
        run.rows_read,
        run.rows_published,
        run.rows_updated,
        run.rows_quarantined,
        run.rows_skipped,
        f" ({error})" if error else "",
    )
    return run


def record_failed(
    engine: Engine, dataset_id: str, source_id: str | None, reason: str
) -> HarvestRun | None:
    """Record a run that failed before it could start; None when even that cannot be written."""
    return record_finished(engine, dataset_id, source_id, "failed", reason)


def record_finished(
    engine: Engine, dataset_id: str, source_id: str | None, status: str, note: str
) -> HarvestRun | None:
    """Record a run that ended before a batch (failed, or nothing new); None if unwritable."""
    try:
        return close_run(engine, open_run(engine, dataset_id, source_id), status, note)
    except DatabaseLocked as locked:
        log.error("could not record the %s run of %s: %s", status, dataset_id, locked)
        return None


# Runs this process ended but could not record (the database was away), closed as soon as it
# answers again: at the next recovery this process runs, or as the process exits.
_unclosed: dict[int, tuple[Engine, HarvestRun]] = {}
_unclosed_lock = threading.Lock()


def close_unclosed() -> int:
    """Record how the runs this process could not close ended; how many are recorded now."""
    with _unclosed_lock:
        pending = list(_unclosed.items())
    closed = 0
    for run_id, (engine, run) in pending:
        try:
            with Session(engine) as session:
                session.add(session.merge(run))
                session.commit()
        except SQLAlchemyError as exc:
            log.warning("run %s still unrecorded: %s", run_id, str(exc).splitlines()[0])
            continue
        with _unclosed_lock:
            _unclosed.pop(run_id, None)
        closed += 1
    if closed:
        log.warning("recorded %d run(s) the database was away for when they ended", closed)
    return closed


atexit.register(close_unclosed)


def recover_stale_runs(engine: Engine) -> int:
    """Mark runs whose process died as failed; returns how many were recovered."""
    close_unclosed()
    try:
        return _recover(engine)
    except DatabaseLocked as locked:  # a long batch holds the lock: the next check will do
        log.info("stale runs not checked: %s", locked)
        return 0


def _recover(engine: Engine) -> int:
    host = socket.gethostname()
    recovered = 0
    flow_runs: set[tuple[str, str]] = set()  # the Prefect flow runs they died in
    sources: set[str] = set()  # whose downloads they may have left
    with Session(engine) as session:
        for run in session.exec(select(HarvestRun).where(HarvestRun.status == "running")):
            if _is_dead(run, host):
                run.status = "failed"
                run.error = STOPPED
                run.finished_at = utcnow()
                session.add(run)
                recovered += 1
                sources.add(run.source_id or "")
                if run.flow_run_id and run.flow_run_api:
                    flow_runs.add((run.flow_run_id, run.flow_run_api))
        session.commit()
    if recovered:
        log.warning("marked %d interrupted run(s) as failed", recovered)
    flowruns.crash(flow_runs, STOPPED)  # else a zombie holds a work-pool slot for ever
    if sources - {""}:
        forget_personal_downloads(engine, sources - {""})
    return recovered


def forget_personal_downloads(engine: Engine, source_ids: set[str] | None = None) -> None:
    """Delete what stopped harvests left of personal feeds (all sources' by default): personal
    data outside the catalogue's access rules (pipelines.leftovers)."""
    from pipelines.leftovers import forget_personal  # the pipelines' folders; imported late

    try:
        forget_personal(engine, source_ids)
    except (OSError, SQLAlchemyError) as exc:  # the next recovery or start tries again
        log.error("leftover personal downloads not deleted: %s", str(exc).splitlines()[0])


STOPPED = "the harvesting process stopped: it ended before the run finished"


async def watch_stale_runs(engine: Engine) -> None:
    """Fail runs whose process is gone, every `recover_runs_seconds`, until cancelled."""
    while True:
        await asyncio.sleep(get_settings().recover_runs_seconds)
        try:
            await asyncio.to_thread(recover_stale_runs, engine)
        except SQLAlchemyError as exc:  # the database is away: look again next time
            log.warning("stale runs not checked: %s", str(exc).splitlines()[0])


def _is_dead(run: HarvestRun, host: str) -> bool:
    """Whether the process running `run` is gone.

    On this host the pid says so at once (and is all SQLite can rely on: a batch holds the write
    lock, so its heartbeat cannot be written until it ends). Elsewhere only the heartbeat can:
    a run silent for `stale_run_seconds` is presumed dead; a run from before heartbeats (none
    recorded) only after STALE_AFTER.
    """
    started = as_utc(run.started_at)
    if run.host != host or run.pid is None:
        if run.heartbeat_at is not None:
            silent = utcnow() - as_utc(run.heartbeat_at)
            return silent > timedelta(seconds=get_settings().stale_run_seconds)
        return utcnow() - started > STALE_AFTER
    if run.pid == os.getpid():
        return False
    if not _pid_alive(run.pid):
        return True
    process_start = _process_start(run.pid)
    if process_start is None:  # no /proc: a live pid this old is presumed reused
        return utcnow() - started > STALE_AFTER
    # A process that started after the run began cannot be the one running it: the pid was reused.
    return process_start > started.timestamp() + PID_START_SLACK


PID_START_SLACK = 5.0  # seconds between a process's start and the run it opens


def _process_start(pid: int) -> float | None:
    """When a process started (epoch seconds), from Linux's /proc; None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    if fields[0] == "Z":  # a zombie: it has ended, its parent just has not reaped it
        return float("inf")
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


# --- heartbeats ----------------------------------------------------------------------------------
# A daemon thread per open run renews heartbeat_at in a short transaction of its own. On
# PostgreSQL this works during the batch (the batch only key-share-locks the run row). On SQLite
# the batch holds the database's one write lock, so a beat that cannot get it at once is skipped:
# there, liveness rests on host + pid (SQLite is one host's file) and the beat covers the gaps.

_beats: dict[int, threading.Event] = {}
_beats_lock = threading.Lock()
SQLITE_BEAT_WAIT_MS = 200


def _start_heartbeat(engine: Engine, run_id: int) -> None:
    stop = threading.Event()
    with _beats_lock:
        _beats[run_id] = stop
    threading.Thread(
        target=_beat_until, args=(engine, run_id, stop), daemon=True, name=f"heartbeat-run-{run_id}"
    ).start()


def _stop_heartbeat(run_id: int) -> None:
    with _beats_lock:
        stop = _beats.pop(run_id, None)
    if stop is not None:
        stop.set()


def _beat_until(engine: Engine, run_id: int, stop: threading.Event) -> None:
    while not stop.wait(get_settings().heartbeat_seconds):
        try:
            beat(engine, run_id, utcnow())
        except (DatabaseLocked, SQLAlchemyError) as exc:  # busy or unreachable: beat next time
            log.debug("heartbeat of run %s skipped: %s", run_id, exc)


def beat(engine: Engine, run_id: int, now: datetime) -> None:
    """Say a running run's process is alive."""
    table = HarvestRun.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        if is_sqlite(engine):  # never queue behind our own batch's write lock
            connection.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BEAT_WAIT_MS}")
        try:
            connection.execute(
                sa.update(table)
                .where(table.c.id == run_id, table.c.status == "running")
                .values(heartbeat_at=now)
            )
            connection.commit()
        finally:
            if is_sqlite(engine):
                connection.rollback()
                busy = int(get_settings().sqlite_busy_seconds * 1000)
                connection.exec_driver_sql(f"PRAGMA busy_timeout={busy}")


def failure_of(exc: BaseException) -> str:
    """`Type: message` of what made a run fail: its first error, not a failed ROLLBACK TO
    SAVEPOINT raised while handling it (on a full disk SQLite undoes the whole transaction, the
    savepoint with it, and that second error would hide "database or disk is full")."""
    first = exc
    while first.__context__ is not None and "no such savepoint" in str(first):
        first = first.__context__
    full = "database or disk is full" in str(first) or (
        isinstance(first, OSError) and first.errno == errno.ENOSPC
    )
    hint = " (the disk is full: free space where the database is, then harvest again)"
    return f"{type(first).__name__}: {first}{hint if full else ''}"
