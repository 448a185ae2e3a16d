"""What one feed stream sent of each non-open dataset, for the access log's entry at its end.

A stream logs its first event of a dataset before it goes out, when nothing is counted yet. It
then counts the rows it writes (observations and alerts: a dataset event is no row) in all and,
for a read of named subjects, of each subject; when the stream ends, however it ends, each
dataset's count is logged as a download's is (hub.reading.stream_records), so that a subject
sees how many of their rows a service's stream took.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Engine

from hub import reading
from hub.access import Grant
from hub.audit import AuditUnavailable
from hub.models import Dataset

log = logging.getLogger(__name__)

ROWS = frozenset({"observation", "alert"})  # event kinds that carry a record


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

    def __post_init__(self) -> None:
        self.subjects.update(self.grant.subjects)

    def add(self, grant: Grant | None, subject: str, row: bool) -> None:
        """Count one event written to the client, under the grant it was judged with."""
        if grant is not None and grant is not self.grant:
            self.grant = grant
            self.subjects.update(grant.subjects)
        if row:
            self.rows += 1
            if subject:
                self.counts[subject] += 1


def close(engine: Engine, tallies: list[Tally], caller: reading.Caller) -> None:
    """Log the end of a stream: each dataset's rows sent, of each subject (blocking)."""
    for tally in tallies:
        given = dataclasses.replace(tally.grant, subjects=frozenset(tally.subjects))
        opened = f" of entry {tally.opened}" if tally.opened else ""
        reason = f"{given.reason}; feed stream{opened} ended: {tally.rows} rows sent"
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
            log.warning("the end of a feed stream of %s could not be logged", tally.dataset.id)
