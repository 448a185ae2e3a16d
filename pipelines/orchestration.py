"""How `hub harvest` runs its sources: through a running Prefect server, or in-process.

In this order: the server PREFECT_API_URL names, if it answers; else the one `hub serve`
started (HUB_DATA_DIR/prefect.json), if its process lives and it answers; else in-process, with
the same `pipelines.harvesting` logic and outcomes. Never a temporary Prefect server: starting
one costs more than most harvests. Either way at most HUB_HARVEST_CONCURRENCY sources (default
4) run at once, and a source that breaks only fails itself.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

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
    """Rows read so far by each harvest in flight, reported to one callback as their total."""

    def __init__(self, report: Callable[[int], None]):
        self._report = report
        self._rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def progress_of(self, ref: str) -> Progress:
        """The progress callback of one source's harvest."""

        def tick(rows: int) -> None:
            with self._lock:
                self._rows[ref] = rows
                total = sum(self._rows.values())
            self._report(total)

        return tick


def prepare_store() -> None:
    """Migrate the catalogue and fail the runs of dead processes, once before the harvests."""
    engine = get_engine()
    upgrade(engine)
    runs.recover_stale_runs(engine)


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
        return closed_run_of(source.id, started) or Outcome(source.id, "failed", message=reason)


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
    # the hub's runs keep their own (a run whose process dies is failed by the next recovery).
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

    outcomes: dict[int, dict[str, Any]] = {}
    for wave in harvest_waves(refs):
        batch = [refs[index] for index in wave]
        if concurrency == 1 or len(batch) == 1:
            # In the main thread, so that Ctrl-C and SIGTERM land in the harvest and close its run.
            done = [harvest_ref(ref, progress(ref)).as_dict() for ref in batch]
        else:
            done = _in_threads(batch, progress, min(concurrency, len(batch)))
        outcomes.update(zip(wave, done, strict=True))
    return [outcomes[index] for index in range(len(refs))]


def _in_threads(
    refs: list[str], progress: Callable[[str], Progress | None], workers: int
) -> list[dict[str, Any]]:
    """Daemon threads taking sources from a queue: Ctrl-C or SIGTERM ends the command at once
    (a daemon thread is not waited for); runs left open are failed by the next recovery, as
    their process is gone."""
    work: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
    for index, ref in enumerate(refs):
        work.put((index, ref))
    outcomes: dict[int, dict[str, Any]] = {}

    def take() -> None:
        while True:
            try:
                index, ref = work.get_nowait()
            except queue.Empty:
                return
            outcomes[index] = harvest_ref(ref, progress(ref)).as_dict()

    threads = [
        threading.Thread(target=take, name=f"harvest-{n}", daemon=True) for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()  # interruptible: a signal's handler still runs in this thread
    return [outcomes[index] for index in range(len(refs))]
