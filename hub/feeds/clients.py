"""A connected feed client as the fan-out sees it: its filters, its key to grants, its bounded
queue, and where it stands in the event log."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from hub.access import Grant
from hub.feeds.filters import Filters
from hub.feeds.grants import Key
from hub.feeds.tallies import Tally
from hub.models import Dataset
from hub.reading import Caller


@dataclass(frozen=True)
class Delivery:
    """One event for one client: its SSE bytes, and the read to log before the first one of a
    non-open dataset goes out (and to count, for the entry logged when the stream ends)."""

    id: int
    body: bytes
    dataset: Dataset | None = None  # set for events of non-open datasets
    grant: Grant | None = None
    subject: str = ""  # the pseudonym of a personal record's subject
    row: bool = False  # it carries a record (an observation or alert, not a dataset event)


@dataclass(frozen=True)
class Closing:
    """The end of a stream: the final message's event name and why (the writer adds the id to
    resume from)."""

    event: str  # overflow | closed
    reason: str


Item = Delivery | Closing


class Mailbox:
    """A client's bounded queue, for one writer: asyncio.Queue's interface without its
    bookkeeping (unfinished tasks, lists of getters and putters, a timeout context per wait),
    which cost as much as the judging when the fan-out queues ~40,000 deliveries a second."""

    __slots__ = ("_deadline", "_items", "_timer", "_timer_due", "_waiter", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0  # when the wait under way ends (the event loop's clock)
        # when the timer fires: kept, not read back, as uvloop's TimerHandle.when() is rounded
        # to the millisecond and would look earlier than the deadline it was armed for
        self._timer_due = 0.0

    def qsize(self) -> int:
        """Items queued."""
        return len(self._items)

    def empty(self) -> bool:
        """Whether nothing is queued."""
        return not self._items

    def put_nowait(self, item: Item) -> None:
        """Queue an item and wake the writer; asyncio.QueueFull when `maxsize` are queued."""
        if len(self._items) >= self.maxsize:
            raise asyncio.QueueFull
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Item:
        """The oldest item; asyncio.QueueEmpty when there is none."""
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    def clear(self) -> None:
        """Forget every queued item."""
        self._items.clear()

    def take(self, most: int) -> list[Item]:
        """Up to `most` items, oldest first, ending at a Closing (nothing follows it)."""
        taken: list[Item] = []
        items = self._items
        while items and len(taken) < most:
            item = items.popleft()
            taken.append(item)
            if isinstance(item, Closing):
                break
        return taken

    async def wait(self, timeout: float) -> bool:
        """Wait until something is queued (True) or `timeout` seconds pass (False)."""
        if self._items:
            return True
        loop = asyncio.get_running_loop()
        self._deadline = deadline = loop.time() + timeout
        # One timer per mailbox, moved on when it fires early, instead of a timer made and
        # cancelled for every wait: a writer waits once per batch it writes.
        if self._timer is None or self._timer_due > deadline:
            self._arm(loop, deadline)
        self._waiter = waiter = loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None
        return bool(self._items)

    def close(self) -> None:
        """Stop the timer: the stream has ended (a pending timer would hold the mailbox until
        it fires)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._expire, loop)
        self._timer_due = due

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """The timer: wake the writer if its wait is over, else follow its later deadline."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # no wait under way: the next one arms a timer
        if self._deadline > self._timer_due:  # it waited again since the timer was armed
            self._arm(loop, self._deadline)
        else:
            waiter.set_result(None)


@dataclass(eq=False)
class Client:
    """One open stream."""

    caller: Caller
    filters: Filters
    queue: Mailbox
    replaying: bool = True  # between registration and the seam: overflow means read the log
    behind: bool = False  # its queue overflowed while replaying: the replay reads further
    since: int = 0  # the fan-out's position when it last (re)started queueing for this client
    sent_id: int = 0  # the id of the last event written to the client
    closing: Closing | None = None
    # non-open datasets whose read is logged, with what was sent of them since
    logged: dict[str, Tally] = field(default_factory=dict)
    delivered: int = 0
    task: asyncio.Task[None] | None = None  # the writer, cancelled if a dropped client stalls

    @property
    def key(self) -> Key:
        """Whose grants apply: the actor, for the purpose it named."""
        return (self.caller.actor, self.caller.purpose)

    def clear(self) -> None:
        """Forget every queued event (memory goes back at once)."""
        self.queue.clear()

    def abort(self) -> None:
        """Cut off a dropped client that did not take its final message."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
