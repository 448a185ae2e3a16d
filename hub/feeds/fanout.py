"""The per-process fan-out: ONE reader follows the event log and hands each new event to every
client whose filters and grant take it.

The reader wakes on any bus message (the bus carries no event: it only says "read the log
again") or every POLL_SECONDS when the bus is silent or down, reads the events after its
position once, and puts each on the bounded queue of the clients it is for. A live client whose
queue is full is dropped: its queue is emptied, it is sent a final `overflow` message with the id
to resume from (cut off if it does not take even that within DROP_GRACE_SECONDS): it never slows
the others. Grants are refreshed every REFRESH_SECONDS, and at once when one of them ends (a
consent expires, a token expires, a crisis's window closes: the keeper knows when), for crisis
datasets on each `crisis` event, and for a personal dataset on each `grant` event (a consent
given or revoked, a link made or removed: the next event of that dataset is judged under the
grants as they are now). Everything runs on the
event loop, one task per client: no thread per client.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub import crises, events, outage
from hub.db import DatabaseLocked
from hub.feeds import filters, grants, judging, listener, replay
from hub.feeds.clients import Client, Closing, Delivery, Mailbox
from hub.feeds.filters import Shape
from hub.feeds.grants import Keeper, Key
from hub.feeds.index import Index
from hub.models import utcnow

log = logging.getLogger(__name__)

# Events after which grants are computed again before the next event is handed out.
REGRANTING = ("crisis", "grant")
# Module settings, read when a fan-out is made (tests shorten them).
HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 1_000  # events waiting for one client before it is dropped
REFRESH_SECONDS = 30.0
POLL_SECONDS = 1.0
DROP_GRACE_SECONDS = 30.0
PAGE = 1_000  # events read from the log at once
RECENT = 5_000  # events the reader keeps for replays that start inside them
YOUNG_THRESHOLD = 50_000  # allocations between two young collections (CPython's default: 700)
SHUTTING_DOWN = Closing("closed", "the server is shutting down")
HAND_OUT_RUN = 200  # events handed out between two yields to the writers (at most a quarter queue)


@dataclass(frozen=True)
class Stats:
    """What a fan-out has done (benchmarks and tests read it)."""

    clients: int
    position: int
    read: int  # events read from the log
    delivered: int  # events written to clients
    dropped: int  # clients cut off for falling behind


class Fanout:
    """The feed of one process; started by its first client, stopped with the app."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.heartbeat = HEARTBEAT_SECONDS
        self.queue_size = QUEUE_SIZE
        self.refresh_seconds = REFRESH_SECONDS
        self.poll_seconds = POLL_SECONDS
        self.drop_grace = DROP_GRACE_SECONDS
        self.clients: set[Client] = set()
        self.index = Index()  # the clients by what their filters require, for each event
        self._keys: dict[Key, int] = {}  # clients per key: a key's grants go with its last client
        self.keeper = Keeper()
        self.position = 0
        # What the reader read last, in order: every event logged after `_recent_from`.
        self._recent: list[events.FeedEvent] = []
        self._recent_from = 0
        self.read = self.delivered = self.dropped = 0
        self._reader: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self.listening = threading.Event()  # subscribed to the bus (else it only polls)
        self._start_lock = asyncio.Lock()
        _RUNNING.add(self)

    def stats(self) -> Stats:
        """Counts so far."""
        return Stats(len(self.clients), self.position, self.read, self.delivered, self.dropped)

    async def start(self) -> None:
        """Start following the log from its newest event (once)."""
        async with self._start_lock:
            if self._reader is not None or self._stop.is_set():
                return  # started already, or stopped: a stream opened now is ended at once
            self.position = await asyncio.to_thread(replay.newest, self.engine)
            self._recent, self._recent_from = [], self.position
            _freeze_heap()
            loop = asyncio.get_running_loop()
            self._listener = threading.Thread(
                target=listener.listen,
                args=(
                    self._stop,
                    self.listening,
                    lambda: loop.call_soon_threadsafe(self._wake.set),
                ),
                name="feed-bus",
                daemon=True,
            )
            self._listener.start()
            self._reader = asyncio.create_task(self._follow(), name="feed-reader")

    async def stop(self) -> None:
        """Stop the reader and the bus listener; end the streams still open (again: none)."""
        self._stop.set()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for client in list(self.clients):
            self.drop(client, SHUTTING_DOWN, count=False)
        if self._listener is not None:
            await asyncio.to_thread(self._listener.join, 2 * listener.BUS_WAIT + 1)
        _RUNNING.discard(self)

    def register(self, client: Client) -> None:
        """Queue this client's events from now on (the caller replays up to here)."""
        client.since = self.position
        if client not in self.clients:
            self.clients.add(client)
            self.index.add(client)
            self._keys[client.key] = self._keys.get(client.key, 0) + 1
        if self._stop.is_set():  # opened while the server stops: no event will come
            self.drop(client, SHUTTING_DOWN, count=False)

    def unregister(self, client: Client) -> None:
        """Stop queueing for a client (gone, ended or dropped)."""
        if client not in self.clients:
            return
        self.clients.remove(client)
        self.index.remove(client)
        left = self._keys.pop(client.key, 1) - 1
        if left > 0:
            self._keys[client.key] = left
        else:
            self.keeper.drop_key(client.key)

    async def prepare(self, batch: Sequence[events.FeedEvent], keys: set[Key]) -> None:
        """Load the datasets and grants `batch` needs for `keys` (off the event loop)."""
        unloaded, wanted = self.keeper.missing(keys, {event.dataset for event in batch})
        if not unloaded and not wanted:
            return
        computed = await asyncio.to_thread(
            grants.compute,
            self.engine,
            self.keeper.generation,
            dict(self.keeper.datasets),
            unloaded,
            wanted,
        )
        self.keeper.merge(computed)

    async def grants_for(self, batch: Sequence[events.FeedEvent], key: Key) -> Keeper:
        """The grants one key needs for `batch`, held apart from later refreshes."""
        await self.refresh_if_due()
        for _ in range(5):  # a refresh between computing and keeping them: compute again
            await self.prepare(batch, {key})
            own = self.keeper.copy_for(key)
            unloaded, wanted = own.missing({key}, {event.dataset for event in batch})
            if not unloaded and not wanted:
                break
        return own

    def judge(
        self,
        client: Client,
        event: events.FeedEvent,
        shape: Any,
        encoded: dict[str, bytes],
        keeper: Keeper | None = None,
    ) -> Delivery | None:
        """The delivery of `event` to `client`, or None (filtered out, or not granted);
        `encoded` caches the event's bytes per variant across clients."""
        return judging.judge(
            keeper if keeper is not None else self.keeper, client, event, shape, encoded
        )

    def offer(self, client: Client, delivery: Delivery) -> None:
        """Queue a delivery; a full queue sends a replaying client back to the log, and drops
        a live one."""
        try:
            client.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            if client.replaying:
                client.behind = True
                client.clear()
            else:
                self.drop(client, Closing("overflow", "the client fell behind the feed"))

    def drop(
        self, client: Client, closing: Closing, *, count: bool = True, keep: bool = False
    ) -> None:
        """End a client's stream with a final message; cut it off if it stalls. `keep`: the
        events already queued were judged under grants still in force (a crisis's own close
        event among them), so they go out before the final message, if it fits."""
        self.unregister(client)
        if client.closing is not None:
            return
        self.dropped += count
        client.closing = closing
        if not keep or client.queue.qsize() >= client.queue.maxsize:
            client.clear()
        client.queue.put_nowait(closing)
        asyncio.get_running_loop().call_later(self.drop_grace, client.abort)

    def new_queue(self) -> Mailbox:
        """A client's bounded queue."""
        return Mailbox(self.queue_size)

    async def read_after(self, last_id: int, limit: int = PAGE) -> list[events.FeedEvent]:
        """Events logged after `last_id` (off the event loop)."""
        return await asyncio.to_thread(replay.read_after, self.engine, last_id, limit)

    async def replay_after(self, last_id: int, limit: int = PAGE) -> list[events.FeedEvent]:
        """Events logged after `last_id` for a client's replay: from what the reader read last
        when it holds them all (up to the reader's position; the client's queue has the rest),
        else from the log. A thousand clients that reconnect at once do not each read the log
        again, which on a loaded machine fed itself: reads slower than the live events, queues
        that overflow while replaying, longer reads."""
        if self._reader is not None and last_id >= self._recent_from:
            recent = self._recent
            first = bisect.bisect_right(recent, last_id, key=_event_id)
            return recent[first : first + limit]
        return await self.read_after(last_id, limit)

    def _remember(self, batch: Sequence[events.FeedEvent]) -> None:
        """Keep the last RECENT events read (trimmed by halves: no shift per batch)."""
        self._recent.extend(batch)
        if len(self._recent) > 2 * RECENT:
            dropped = len(self._recent) - RECENT
            self._recent_from = self._recent[dropped - 1].id
            self._recent = self._recent[dropped:]

    async def _follow(self) -> None:
        refreshed = time.monotonic()
        while not self._stop.is_set():
            wait = min(
                self.poll_seconds, max(0.0, refreshed + self.refresh_seconds - time.monotonic())
            )
            if self.keeper.until is not None:  # wake when a grant ends, events or not
                wait = min(wait, max(0.0, (self.keeper.until - utcnow()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            self._wake.clear()
            try:
                await self._catch_up()
                if time.monotonic() - refreshed >= self.refresh_seconds:
                    refreshed = time.monotonic()
                    await self.refresh()
                else:
                    await self.refresh_if_due()
                outage.DATABASE.recovered()
            except (SQLAlchemyError, DatabaseLocked) as exc:  # an outage must not end the feed
                # Its start, reminders and end, once each: not a traceback every poll.
                outage.DATABASE.failed(exc, "the feed reading the event log")
                await asyncio.sleep(self.poll_seconds)
            except Exception:  # noqa: BLE001 — nor a fault of its own: that one says where
                log.warning("the feed could not read the event log; retrying", exc_info=True)
                await asyncio.sleep(self.poll_seconds)

    async def _catch_up(self) -> None:
        while True:
            batch = await self.read_after(self.position)
            self.read += len(batch)
            self._remember(batch)
            await self._dispatch(batch)
            if len(batch) < PAGE:
                return

    async def _dispatch(self, batch: list[events.FeedEvent]) -> None:
        """Hand out a batch in order; grants are made ready before each run of events, and
        those a `crisis` or `grant` event changes forgotten after it."""
        await self.refresh_if_due()
        start = 0
        while start < len(batch):
            end = next(
                (i + 1 for i in range(start, len(batch)) if batch[i].kind in REGRANTING), None
            )
            segment = batch[start : end or len(batch)]
            await self.prepare(segment, set(self._keys))
            # Let the writers take a run of events at a time (each writes its share at once):
            # a batch longer than a queue must not overflow a client that keeps up.
            run = max(1, min(HAND_OUT_RUN, self.queue_size // 4))
            for number, event in enumerate(segment, 1):
                self._hand_out(event)
                if number % run == 0 or number == len(segment):
                    await asyncio.sleep(0)
            start += len(segment)

    def _hand_out(self, event: events.FeedEvent) -> None:
        shape = Shape(event)
        encoded: dict[str, bytes] = {}
        candidates = self.index.candidates(event)
        shared = judging.open_delivery(self.keeper, event, encoded) if candidates else None
        for client in candidates:
            if shared is not None:  # the same bytes for every client its filters take
                if client.filters.matches(event, shape):
                    self.offer(client, shared)
                continue
            delivery = self.judge(client, event, shape, encoded)
            if delivery is not None:
                self.offer(client, delivery)
        self.position = event.id
        if event.kind == "grant":
            self.keeper.forget(dataset=event.dataset)
        if event.kind == "crisis":
            self.keeper.forget(crisis_only=True)
            crisis_id, state = str(event.data.get("id") or ""), event.data.get("status")
            if state in ("closed", "ended"):
                self._end_crisis_streams(crisis_id, _over(crisis_id, event.data, state))
            elif state == "updated":
                self._follow_crisis(crisis_id, event.data.get("area"))

    def _follow_crisis(self, crisis_id: str, area: object) -> None:
        """Streams `within` a crisis that was updated follow its new area."""
        for client in list(self.clients):
            moved = filters.moved(client.filters, crisis_id, area)
            if moved is not None:
                self.index.remove(client)
                client.filters = moved
                self.index.add(client)

    def _end_crisis_streams(self, crisis_id: str, reason: str = "") -> None:
        """End the streams `within` a crisis that is over; they get its close event first."""
        for client in list(self.clients):
            if any(area.crisis == crisis_id for area in client.filters.areas):
                closing = Closing("closed", reason or f"crisis {crisis_id} was closed")
                self.drop(client, closing, count=False, keep=True)

    async def refresh_if_due(self) -> None:
        """Refresh now if a grant the keeper holds has ended since it was computed."""
        if self.keeper.due(utcnow()):
            await self.refresh()

    async def refresh(self) -> None:
        """Check every client's token again, end the streams `within` a crisis that has ended
        (its window passed: no event says so) and forget every grant (recomputed when needed)."""
        within = {a.crisis for c in self.clients for a in c.filters.areas if a.crisis}
        if within:
            over = await asyncio.to_thread(crises.over, self.engine, within)
            for crisis_id, reason in over.items():
                self._end_crisis_streams(crisis_id, reason)
        actors = {c.caller.actor for c in self.clients if not c.caller.actor.anonymous}
        checked = await asyncio.to_thread(grants.recheck, self.engine, actors)
        for client in list(self.clients):
            actor = client.caller.actor
            if actor in checked and checked[actor] is None:
                self.drop(
                    client, Closing("closed", "the token was revoked or expired"), count=False
                )
        self.keeper.forget()


def _over(crisis_id: str, data: dict[str, object], state: object) -> str:
    """Why streams within a crisis end: as hub.crises.why_over says it."""
    if state == "ended":
        return f"crisis {crisis_id} ended at {data.get('until')}"
    return f"crisis {crisis_id} was closed"


def _event_id(event: events.FeedEvent) -> int:
    return event.id


_RUNNING: set[Fanout] = set()
_frozen = False


def _freeze_heap() -> None:
    """Take the process's long-lived heap out of the cyclic collector's sight, once, and collect
    the young generation less often.

    A served app holds ~0.5 M objects (imports, routes, models); each full collection walks them
    all and stalls the event loop 0.1–0.7 s, which every stream's latency then carries (the bench
    at 250 events/s: nine such pauses in ten seconds of start-up and load, 1–3 s of CPU). They
    live as long as the process: frozen after a last collection, they are never walked again;
    what is made later (clients, events) is collected as before. The fan-out makes and drops
    short-lived objects for every delivery: with CPython's default threshold (700) enough of them
    outlive a young collection to bring a full one (of the ~0.1 M objects of 1,000 clients,
    ~0.1–0.25 s) every few seconds; at YOUNG_THRESHOLD almost all die before one."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
        young, older, oldest = gc.get_threshold()
        gc.set_threshold(max(YOUNG_THRESHOLD, young), older, oldest)


def running() -> list[Fanout]:
    """The fan-outs of this process (a benchmark counts their deliveries)."""
    return list(_RUNNING)


def delivered() -> int:
    """Events written to clients by every fan-out of this process."""
    return sum(fanout.delivered for fanout in _RUNNING)
