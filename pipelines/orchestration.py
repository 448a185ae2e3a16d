"""How `hub harvest` runs its sources: through a running Prefect server, or in-process.

In this order: the server PREFECT_API_URL names, if it answers; else the one `hub serve`
started (HUB_DATA_DIR/prefect.json), if its process lives and it answers; else in-process, with
the same `pipelines.harvesting` logic and outcomes. Never a temporary Prefect server: starting
one costs more than most harvests. Either way at most HUB_HARVEST_CONCURRENCY sources (default
4) run at once, and a source that breaks only fails itself.
"""

from __future__ import annotations

import contextvars
import ctypes
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from hub import runs
from hub.catalogue import Progress
from hub.config import get_settings
from hub.db import get_engine, upgrade
from hub.models import HarvestRun, Organization, utcnow
from hub.redaction import redact_text
from pipelines.harvesting import Outcome, harvest_source, outcome_of
from pipelines.orchestrator import healthy, running_server
from pipelines.roots import without_paths
from pipelines.sources import SourceError, resolve_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Orchestration:
    """Where harvests run: a Prefect API (`api_url`) or in-process (None), and why."""

    api_url: str | None
    origin: str  # PREFECT_API_URL | hub serve | why in-process

    def describe(self) -> str:
        """One line for the user: which one, and where."""
        if self.api_url is None:
            return f"in-process ({self.origin})"
        base = self.api_url.removesuffix("/").removesuffix("/api")
        return f"Prefect server at {base} ({self.origin})"


def choose_orchestration(data_dir: Path) -> Orchestration:
    """PREFECT_API_URL if it answers, else the server `hub serve` recorded, else in-process."""
    configured = os.environ.get("PREFECT_API_URL", "").strip()
    if configured and healthy(configured):
        return Orchestration(configured, "PREFECT_API_URL")
    recorded = running_server(data_dir)
    if recorded is not None:
        return Orchestration(recorded.url, "hub serve")
    if configured:
        return Orchestration(None, f"PREFECT_API_URL {configured} does not answer")
    return Orchestration(None, "no Prefect server running")


def harvest_concurrency() -> int:
    """HUB_HARVEST_CONCURRENCY: how many sources one harvest runs at once (default 4); a
    SettingsError (a ValueError) names it when it is not a whole number from 1."""
    return get_settings().harvest_concurrency


class Tally:
    """Rows read so far by each harvest in flight, reported to one callback as their total;
    and the outcome of each source that ended, for a summary even when Ctrl-C or a lost
    Prefect server ends the harvest before it returns them."""

    def __init__(self, report: Callable[[int], None]):
        self._report = report
        self._rows: dict[str, int] = {}
        self._lock = threading.Lock()
        self.ended: dict[str, dict[str, Any]] = {}  # by ref, as given

    def record(self, ref: str, outcome: dict[str, Any]) -> None:
        """Keep the outcome of the source `ref`, which has ended."""
        with self._lock:
            self.ended[ref] = outcome

    def outcomes(self, refs: list[str]) -> list[dict[str, Any]]:
        """The outcomes kept of `refs`, in their order (those that never ended are left out)."""
        with self._lock:
            return [self.ended[ref] for ref in refs if ref in self.ended]

    def progress_of(self, ref: str) -> Progress:
        """The progress callback of one source's harvest."""

        def tick(rows: int) -> None:
            with self._lock:
                self._rows[ref] = rows
                total = sum(self._rows.values())
            self._report(total)

        return tick


def prepare_store() -> None:
    """Migrate the catalogue, fail the runs of dead processes and delete what they left of
    personal feeds, once before the harvests."""
    engine = get_engine()
    upgrade(engine)
    runs.recover_stale_runs(engine)
    runs.forget_personal_downloads(engine)


def harvest_waves(refs: list[str]) -> list[list[int]]:
    """Indexes of `refs` in waves to harvest one after the other, each wave's sources at once.

    First one source of each operator the catalogue does not know yet, then all the others: the
    first harvest of an operator creates it, and two at once would both try.
    """
    with Session(get_engine()) as session:
        known = set(session.exec(select(Organization.id)))
    first: dict[str, int] = {}
    for index, ref in enumerate(refs):
        try:
            operator = resolve_source(ref).operator.id
        except SourceError:  # its harvest will say so
            continue
        if operator not in known:
            first.setdefault(operator, index)
    leading = sorted(first.values())
    rest = [index for index in range(len(refs)) if index not in first.values()]
    return [wave for wave in (leading, rest) if wave]


def harvest_ref(ref: str, progress: Progress | None = None) -> Outcome:
    """Harvest one source by id or file; whatever breaks is this source's failed outcome."""
    try:
        source = resolve_source(ref)
    except SourceError as exc:
        return Outcome(ref, "failed", message=str(exc))
    started = utcnow()
    try:
        return harvest_source(source, progress)
    except Exception as exc:  # noqa: BLE001 — one broken source must not stop the others
        log.exception("harvest of %s broke", source.id)
        reason = without_paths(redact_text(f"{type(exc).__name__}: {exc}"), source.base_dir)
        return recorded_run_of(source.id, started) or Outcome(source.id, "failed", message=reason)


def source_id(ref: str) -> str:
    """The id of the source `ref` names (a file's path, say), or `ref` itself if none."""
    try:
        return resolve_source(ref).id
    except SourceError:
        return ref


def interrupted(ref: str) -> Outcome:
    """The outcome of a source stopped by Ctrl-C or SIGTERM (its run says so too)."""
    return Outcome(source_id(ref), "failed", message="interrupted before it ended: nothing kept")


def recorded_run_of(source_id: str, since: datetime) -> Outcome | None:
    """`closed_run_of`, or None when the database cannot say (it went away: the very error
    the harvest broke on, most often); the source then fails with its own error."""
    try:
        return closed_run_of(source_id, since)
    except SQLAlchemyError as exc:
        log.warning("the run of %s could not be read: %s", source_id, str(exc).splitlines()[0])
        return None


def closed_run_of(source_id: str, since: datetime) -> Outcome | None:
    """What the source's run since `since` recorded, once closed: the gate's word stands even
    when something broke after it (cleaning up the download, say)."""
    with Session(get_engine()) as session:
        run = session.exec(
            select(HarvestRun)
            .where(HarvestRun.source_id == source_id, HarvestRun.started_at >= since)
            .order_by(col(HarvestRun.id).desc())
        ).first()
    if run is None or run.status == "running":
        return None
    return outcome_of(source_id, run)


def run_harvests(
    refs: list[str], orchestration: Orchestration, tally: Tally | None = None
) -> list[dict[str, Any]]:
    """Harvest `refs` under `orchestration`; their outcomes (as dicts), in the order given."""
    concurrency = harvest_concurrency()
    if orchestration.api_url is None:
        return harvest_in_process(refs, tally, concurrency)
    return harvest_through_prefect(refs, orchestration.api_url, tally)


def harvest_through_prefect(
    refs: list[str], api_url: str, tally: Tally | None
) -> list[dict[str, Any]]:
    """Run the `harvest` flow against the Prefect API at `api_url` (HUB_HARVEST_CONCURRENCY
    sources at a time, as the flow reads it where it runs)."""
    # Imported here: the in-process path never pays for Prefect's import.
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    from pipelines import flows

    # No Prefect heartbeat by default: joining its thread costs up to a second per command, and
    # the hub's runs keep their own: a run whose process dies is failed by the next recovery,
    # which ends its flow run Crashed too (hub.flowruns), so no zombie holds a pool slot.
    # PREFECT_FLOWS_HEARTBEAT_FREQUENCY, when set, still wins, for a zombie-run automation.
    quiet = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with (
        temporary_settings({PREFECT_API_URL: api_url}, set_defaults=quiet),
        flows.reporting_progress(tally),
    ):
        return list(flows.harvest(refs))


def harvest_in_process(
    refs: list[str], tally: Tally | None, concurrency: int
) -> list[dict[str, Any]]:
    """Harvest `refs` in this process, `concurrency` at a time (the `harvest` flow's way too)."""
    prepare_store()

    def progress(ref: str) -> Progress | None:
        return tally.progress_of(ref) if tally else None

    def ended(ref: str, outcome: dict[str, Any]) -> None:
        if tally is not None:
            tally.record(ref, outcome)

    outcomes: dict[int, dict[str, Any]] = {}
    for wave in harvest_waves(refs):
        batch = [refs[index] for index in wave]
        done = _in_threads(batch, progress, min(concurrency, len(batch)), ended)
        outcomes.update(zip(wave, done, strict=True))
    return [outcomes[index] for index in range(len(refs))]


Ended = Callable[[str, dict[str, Any]], None]


GRACE_SECONDS = 5.0  # a stopped harvest reaches its next chunk within this, as a rule


class _Stop(BaseException):
    """Raised in a harvest thread when the command is stopped: it unwinds as Ctrl-C does in the
    main thread (the run closes as failed: interrupted), and no `except Exception` stops it."""


def _in_threads(
    refs: list[str], progress: Callable[[str], Progress | None], workers: int, ended: Ended
) -> list[dict[str, Any]]:
    """Threads taking sources from a queue, one source too: the main thread only waits, so
    Ctrl-C or SIGTERM (KeyboardInterrupt, SystemExit, or Prefect's TerminationSignal inside a
    flow run) is raised there, never in the middle of a harvest's database write (a COPY cut
    short left the connection unusable, and the run failed with that error). The sources in
    flight stop at their next chunk, then the stop goes on up; a second Ctrl-C ends the command
    at once (daemon threads are not waited for; their runs are failed by the next recovery,
    as their process is gone)."""
    work: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
    for index, ref in enumerate(refs):
        work.put((index, ref))
    outcomes: dict[int, dict[str, Any]] = {}
    stopping = threading.Event()

    def stoppable(ref: str) -> Progress:
        """The source's progress, which stops its harvest between two chunks once the command
        is stopped: inside the gate's own handling, so its run closes as interrupted."""
        inner = progress(ref)

        def report(rows: int) -> None:
            if stopping.is_set():
                raise _Stop
            if inner is not None:
                inner(rows)

        return report

    def take(done: threading.Event) -> None:
        ref, started = "", utcnow()
        try:
            while not stopping.is_set():
                try:
                    index, ref = work.get_nowait()
                except queue.Empty:
                    return
                started = utcnow()
                outcomes[index] = _outcome_of(ref, stoppable(ref))
                ended(ref, outcomes[index])
                ref = ""
        except (_Stop, KeyboardInterrupt):  # polars raises Ctrl-C in the thread it computes in
            if ref:  # what its run recorded: stopped, or ended just before the stop
                recorded = recorded_run_of(source_id(ref), started)
                ended(ref, (recorded or interrupted(ref)).as_dict())
        finally:
            done.set()

    dones = [threading.Event() for _ in range(workers)]
    # Each in a copy of the caller's context: a flow's Prefect settings (its API, for
    # `prefect:` secrets) are context variables, which a new thread would not see.
    threads = [
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(take, done),
            name=f"harvest-{n}",
            daemon=True,
        )
        for n, done in enumerate(dones)
    ]
    for thread in threads:
        thread.start()
    try:
        _wait_for(dones)
    except BaseException:  # any stop raised in the waiting thread: Ctrl-C, SIGTERM, Prefect's
        stopping.set()  # each harvest stops at its next chunk, where the gate closes its run
        if not _wait_for(dones, GRACE_SECONDS):
            # Still fetching or reading, where no chunk reaches the gate: stopped where it is.
            for thread, done in zip(threads, dones, strict=True):
                if not done.is_set():
                    raise_in(thread, _Stop)
            # A thread inside a C call that does not return (a feed that never answers) is
            # left behind: it is a daemon, and the stop must end the command.
            _wait_for(dones, GRACE_SECONDS)
        raise
    return [outcomes[index] for index in range(len(refs))]


def _outcome_of(ref: str, progress: Progress) -> dict[str, Any]:
    """`harvest_ref`'s outcome as a dict; even a failure of its own fallback (the source's
    name unresolvable, say) is this source's failure, never a missing outcome."""
    try:
        return harvest_ref(ref, progress).as_dict()
    except Exception as exc:  # noqa: BLE001 — the other sources and the summary go on
        log.exception("harvest of %s broke", ref)
        reason = without_paths(redact_text(f"{type(exc).__name__}: {exc}"))
        return Outcome(ref, "failed", message=reason).as_dict()


def _wait_for(dones: list[threading.Event], seconds: float | None = None) -> bool:
    """Wait until every thread said it is done (or `seconds` passed: False), a while at a time:
    a signal the kernel gave another thread is only handled when this (the main) thread runs
    Python again. Not join(): on Python 3.11, a join() that Ctrl-C interrupts marks the thread
    as ended while it runs."""
    deadline = None if seconds is None else time.monotonic() + seconds
    for done in dones:
        while not done.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                return False
    return True


def raise_in(thread: threading.Thread, error: type[BaseException]) -> None:
    """Raise `error` in `thread` when it next runs Python (after the C call it may be in)."""
    if thread.ident is not None:
        changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(error)
        )
        if changed > 1:  # CPython's own advice: more than one thread hit, take it back
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)
