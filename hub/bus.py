"""Publish / subscribe hub events: in-process by default, Redis when HUB_BUS_URL says so
(redis://, rediss:// or unix://)."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from hub.config import get_settings, masked

log = logging.getLogger(__name__)

CHANNEL = "hub.events"
RECONNECT_PAUSE_MAX = 5.0  # seconds between tries to reach Redis again


class Bus(Protocol):
    """Where the gate announces what it published."""

    def publish(self, event: dict[str, Any]) -> None:
        """Send one event to every subscriber."""

    def subscribe(self) -> Subscription:
        """Start receiving events published from now on."""


class Subscription(Protocol):
    """An open subscription; iterate with `get`, end with `close`."""

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after `timeout` seconds."""

    def close(self) -> None:
        """Stop receiving."""


class MemorySubscription:
    """A subscriber queue inside this process."""

    def __init__(self, bus: MemoryBus) -> None:
        self._bus = bus
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=10_000)

    def put(self, event: dict[str, Any]) -> None:
        """Deliver an event, dropping the oldest when a slow reader lets the queue fill."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._queue.get_nowait()
            self._queue.put_nowait(event)

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after `timeout` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Stop receiving."""
        self._bus.unsubscribe(self)


class MemoryBus:
    """The embedded bus: one process, no broker."""

    def __init__(self) -> None:
        self._subscribers: list[MemorySubscription] = []
        self._lock = threading.Lock()

    def publish(self, event: dict[str, Any]) -> None:
        """Send one event to every subscriber in this process."""
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber.put(event)

    def subscribe(self) -> MemorySubscription:
        """Start receiving events published from now on."""
        subscription = MemorySubscription(self)
        with self._lock:
            self._subscribers.append(subscription)
        return subscription

    def unsubscribe(self, subscription: MemorySubscription) -> None:
        """Forget a subscriber."""
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)


class RedisSubscription:
    """A Redis pub/sub subscription, live once the constructor returns, that outlives a Redis
    restart: while Redis is away `get` waits and answers None, then reconnects and resubscribes
    (redis-py resubscribes a pub/sub's channels on reconnection) with a growing pause."""

    def __init__(self, client: Any) -> None:
        import redis

        self._outages = (redis.ConnectionError, redis.TimeoutError)
        self._pause = 0.0  # the current wait between tries; 0 while Redis answers
        self._retry_at = 0.0  # monotonic time of the next try while Redis is away
        self._pubsub = client.pubsub()
        self._pubsub.subscribe(CHANNEL)
        # Wait for Redis to confirm, so nothing published after this is missed.
        confirmation = self._pubsub.get_message(timeout=5.0)
        if not confirmation or confirmation.get("type") != "subscribe":
            raise ConnectionError("Redis did not confirm the subscription")

    def get(self, timeout: float) -> dict[str, Any] | None:
        """The next event, or None after `timeout` seconds (also while Redis is unreachable)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self._pause:
                # The pause spans calls: a reader that asks every 0.5 s still backs off.
                time.sleep(max(0.0, min(self._retry_at - time.monotonic(), left)))
                if time.monotonic() < self._retry_at:
                    return None
            try:
                message = self._pubsub.get_message(timeout=max(deadline - time.monotonic(), 0))
            except self._outages as exc:
                self._note_outage(exc)
                continue
            if self._pause:  # at the outage's level: whoever saw it go sees it come back
                log.warning("event bus: Redis answers again; subscription restored")
                self._pause = 0.0
            if message is not None and message.get("type") == "message":
                return json.loads(message["data"])
        return None

    def _note_outage(self, exc: Exception) -> None:
        """Log the first failure of an outage and back off: 0.1 s, doubling, at most 5 s."""
        if not self._pause:
            log.warning("event bus: Redis unreachable (%s); retrying, feeds poll the log", exc)
        self._pause = min(max(self._pause * 2, 0.1), RECONNECT_PAUSE_MAX)
        self._retry_at = time.monotonic() + self._pause

    def close(self) -> None:
        """Stop receiving."""
        self._pubsub.close()


class BusUnreachable(RuntimeError):
    """A Redis HUB_BUS_URL that does not answer at start-up (a misspelt host is no outage)."""


class RedisBus:
    """The distributed bus: API replicas and workers share events through Redis."""

    def __init__(self, url: str) -> None:
        import redis

        # Bounded waits: a Redis that restarts or vanishes fails a publish fast (the gate logs it
        # and goes on); the client's pool reconnects by itself on the next command.
        self._client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        # A readiness probe's own client: short waits, so a hung Redis answers the probe fast.
        self._probe = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        try:
            self._client.ping()  # fail at start-up, not at the first event
        except (redis.RedisError, OSError) as exc:
            raise BusUnreachable(
                f"HUB_BUS_URL: Redis at {masked(url)} does not answer ({exc}); start it, or "
                "leave HUB_BUS_URL empty for a hub of one process"
            ) from exc

    def publish(self, event: dict[str, Any]) -> None:
        """Send one event to every subscriber of every process."""
        self._client.publish(CHANNEL, json.dumps(event, default=str))

    def subscribe(self) -> RedisSubscription:
        """Start receiving events published from now on."""
        return RedisSubscription(self._client)

    def ping(self) -> None:
        """Raise unless Redis answers within a second (a hung one, SIGSTOPped say, included)."""
        self._probe.ping()


_bus: Bus | None = None
_lock = threading.Lock()


def get_bus() -> Bus:
    """The process-wide bus chosen by HUB_BUS_URL."""
    global _bus
    with _lock:
        if _bus is None:
            url = get_settings().bus_url  # empty, or a Redis URL: the settings refuse the rest
            _bus = RedisBus(url) if url else MemoryBus()
            log.info("event bus: %s", type(_bus).__name__)
        return _bus


def reset_bus() -> None:
    """Forget the process-wide bus (tests, settings changes)."""
    global _bus
    with _lock:
        _bus = None


@contextmanager
def subscription() -> Iterator[Subscription]:
    """Subscribe for the duration of a `with` block."""
    sub = get_bus().subscribe()
    try:
        yield sub
    finally:
        sub.close()
