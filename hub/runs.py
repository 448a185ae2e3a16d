"""Harvest runs: opened before a batch, closed after it, never left "running" by a dead process."""

from __future__ import annotations

import errno
import logging
import os
import socket
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from hub.models import HarvestRun, as_utc, utcnow

log = logging.getLogger(__name__)

# A run on another host is only presumed dead after this long without finishing.
STALE_AFTER = timedelta(hours=6)


def open_run(engine: Engine, dataset_id: str, source_id: str | None) -> HarvestRun:
    """Record a new run as running, with this process as its owner."""
    run = HarvestRun(dataset_id=dataset_id, source_id=source_id, host=socket.gethostname(),
                     pid=os.getpid())
    with Session(engine, expire_on_commit=False) as session:
        session.add(run)
        session.commit()
        session.refresh(run)
    return run


def close_run(engine: Engine, run: HarvestRun, status: str, error: str = "") -> HarvestRun:
    """Record how a run ended."""
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    with Session(engine, expire_on_commit=False) as session:
        session.add(session.merge(run))
        session.commit()
    log.info("run %s %s: read %d, published %d, updated %d, quarantined %d, skipped %d%s",
             run.id, status, run.rows_read, run.rows_published, run.rows_updated,
             run.rows_quarantined, run.rows_skipped, f" ({error})" if error else "")
    return run


def recover_stale_runs(engine: Engine) -> int:
    """Mark runs whose process died as failed; returns how many were recovered."""
    host = socket.gethostname()
    recovered = 0
    with Session(engine) as session:
        for run in session.exec(select(HarvestRun).where(HarvestRun.status == "running")):
            if _is_dead(run, host):
                run.status = "failed"
                run.error = "the harvesting process ended before the run finished"
                run.finished_at = utcnow()
                session.add(run)
                recovered += 1
        session.commit()
    if recovered:
        log.warning("marked %d interrupted run(s) as failed", recovered)
    return recovered


def _is_dead(run: HarvestRun, host: str) -> bool:
    started = as_utc(run.started_at)
    if run.host != host or run.pid is None:
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
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
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
