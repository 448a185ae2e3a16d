"""What one feed stream sent of each non-open dataset, for the access log's entry at its end.

A stream logs its first event of a dataset before it goes out, when nothing is counted yet. It
then counts the rows it writes (observations and alerts: a dataset event is no row) in all and,
for a read of named subjects, of each subject; when the stream ends, however it ends, each
dataset's count is logged as a download's is (hub.reading.stream_records), so that a subject
sees how many of their rows a service's stream took. A stream open for days logs its counts
every COUNT_SECONDS as well: a subject sees them while it runs, and a process that dies loses
at most that much of them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine

from hub import reading
from hub.access import Grant
from hub.audit import AuditUnavailable
from hub.models import Dataset

log = logging.getLogger(__name__)

ROWS = frozenset({"observation", "alert"})  # event kinds that carry a record
COUNT_SECONDS = 300.0  # an open stream's rows sent are logged at least this often


@dataclass
class Tally:
    """The rows a stream sent of one dataset since its entry `opened` was logged."""

    dataset: Dataset
    grant: Grant
    opened: int | None  # the id of the entry logged at its first event
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    # every subject the stream's grants named: a consent revoked mid-stream leaves the grant,
    # not the end entry of the rows sent under it
    subjects: set[str] = field(default_factory=set)
    counted_at: float = field(default_factory=time.monotonic)  # when its rows were last logged
    counts_logged: int = 0  # how many of its counts were logged while the stream went on

    def __post_init__(self) -> None:
        self.subjects.update(self.grant.subjects)

    def due(self, now: float) -> bool:
        """Whether rows were sent that have waited COUNT_SECONDS to be logged."""
        return self.rows > 0 and now - self.counted_at >= COUNT_SECONDS

    def add(self, grant: Grant | None, subject: str, row: bool) -> None:
        """Count one event written to the client, under the grant it was judged with."""
        if grant is not None and grant is not self.grant:
            self.grant = grant
            self.subjects.update(grant.subjects)
        if row:
            self.rows += 1
            if subject:
                self.counts[subject] += 1


def take_due(tallies: list[Tally]) -> list[Tally]:
    """The counts due to be logged, the stream going on: each a copy of its tally, which counts
    again from zero (taken in the stream's own task, so that its end, if it comes while they
    are logged, logs only what followed)."""
    now = time.monotonic()
    taken = []
    for tally in tallies:
        if tally.due(now):
            taken.append(dataclasses.replace(tally, subjects=set(tally.subjects)))
            tally.rows, tally.counts = 0, Counter()
            tally.counted_at = now
            tally.counts_logged += 1
    return taken


def close(engine: Engine, tallies: list[Tally], caller: reading.Caller) -> None:
    """Log the end of a stream: each dataset's rows sent, of each subject (blocking)."""
    for tally in tallies:
        _log(engine, tally, caller, "ended")


def count(engine: Engine, taken: list[Tally], caller: reading.Caller) -> None:
    """Log the counts `take_due` took of an open stream (blocking)."""
    for tally in taken:
        _log(engine, tally, caller, "goes on")


def _log(engine: Engine, tally: Tally, caller: reading.Caller, state: str) -> None:
    given = dataclasses.replace(tally.grant, subjects=frozenset(tally.subjects))
    opened = f" of entry {tally.opened}" if tally.opened else ""
    since = ", rows counted since its last count" if tally.counts_logged else ""
    # The count is the entry's `rows` (a subject sees it only as a commitment), never its text.
    reason = f"{given.reason}; feed stream{opened} {state}{since}"
    try:
        reading.record(
            engine,
            tally.dataset,
            caller,
            given,
            rows=tally.rows,
            reason=reason,
            counts=tally.counts,
        )
    except AuditUnavailable:
        log.warning("the count of a feed stream of %s could not be logged", tally.dataset.id)
