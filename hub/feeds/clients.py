"""A connected feed client as the fan-out sees it: its filters, its key to grants, its bounded
queue, and where it stands in the event log."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hub.access import Grant
from hub.feeds.filters import Filters
from hub.feeds.grants import Key
from hub.models import Dataset
from hub.reading import Caller


@dataclass(frozen=True)
class Delivery:
    """One event for one client: its SSE bytes, and the read to log before the first one of a
    non-open dataset goes out."""

    id: int
    body: bytes
    dataset: Dataset | None = None  # set for events of non-open datasets
    grant: Grant | None = None


@dataclass(frozen=True)
class Closing:
    """The end of a stream: the final message's event name and why (the writer adds the id to
    resume from)."""

    event: str  # overflow | closed
    reason: str


Item = Delivery | Closing


@dataclass(eq=False)
class Client:
    """One open stream."""

    caller: Caller
    filters: Filters
    queue: asyncio.Queue[Item]
    replaying: bool = True  # between registration and the seam: overflow means read the log
    behind: bool = False  # its queue overflowed while replaying: the replay reads further
    since: int = 0  # the fan-out's position when it last (re)started queueing for this client
    sent_id: int = 0  # the id of the last event written to the client
    closing: Closing | None = None
    logged: set[str] = field(default_factory=set)  # non-open datasets whose read is logged
    delivered: int = 0
    task: asyncio.Task[None] | None = None  # the writer, cancelled if a dropped client stalls

    @property
    def key(self) -> Key:
        """Whose grants apply: the actor, for the purpose it named."""
        return (self.caller.actor, self.caller.purpose)

    def clear(self) -> None:
        """Forget every queued event (memory goes back at once)."""
        while not self.queue.empty():
            self.queue.get_nowait()

    def abort(self) -> None:
        """Cut off a dropped client that did not take its final message."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
