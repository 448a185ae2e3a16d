"""The bridge's thread: follow the event log, publish what is public, never skip what is unacked.

It reads the log from an id of its own (the cursor) and moves the cursor past a batch only once
the broker has acknowledged every message of it (QoS 1): paho keeps unacknowledged messages and
sends them again after it reconnects, so a broker restart loses nothing still in the log. The bus
only wakes it; when the bus is silent or down it reads the log every `poll_seconds` anyway.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from hub import events
from hub.bus import Subscription, get_bus
from hub.mqttbridge.lease import Lease
from hub.mqttbridge.messages import Broker, payload_of, topic_of

log = logging.getLogger(__name__)

BATCH = 500  # events read from the log at once
RETRY_BUS = 30.0  # seconds between attempts to subscribe again while the bus is down
DRAIN = 1_000  # bus wake-ups swallowed at once: one read of the log answers them all


class Bridge:
    """One MQTT bridge; `start` runs it in a thread, `stop` ends and joins it (and paho's)."""

    def __init__(
        self,
        engine: Engine,
        broker: Broker,
        *,
        root: str = "hub",
        poll_seconds: float = 1.0,
        standby_seconds: float = 2.0,
        takeover_replay_seconds: float = 30.0,
    ) -> None:
        self.engine, self.broker, self.root = engine, broker, root
        self.poll_seconds = poll_seconds
        self.standby_seconds = standby_seconds
        # A standby that takes over replays the log from about this long before it last saw
        # the lease held: what the stopped bridge may not have sent yet (extra copies are
        # harmless: each topic keeps the newest value).
        self.takeover_replay_seconds = takeover_replay_seconds
        # stopped | starting | standby | active (holds the lease: its database's one publisher)
        self.state = "stopped"
        # The newest event id done with: acknowledged by the broker, or not public.
        self.last_id: int | None = None
        self._cursor = 0
        self._seen: deque[tuple[float, int]] = deque()  # (when, newest id) seen in standby
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._acks = threading.Condition()
        self._acked: set[int] = set()
        self._connect_failures = 0
        self._bus_retry_at = 0.0  # while the bus is down: when to try subscribing again
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        """Whether this bridge holds the lease and publishes."""
        return self.state == "active"

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._connected.is_set()

    def start(self) -> None:
        """Run the bridge in its own thread."""
        self._stopping.clear()
        self.state = "starting"
        self._thread = threading.Thread(target=self._run, name="hub-mqtt-bridge", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop publishing, give the lease back and join the bridge's threads."""
        self._stopping.set()
        with self._acks:
            self._acks.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the MQTT bridge did not stop within %.0f s", timeout)
            else:
                self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            lease = self._take_lease()
            if lease is None:
                self.state = "standby"
                self._stopping.wait(self.standby_seconds)
                continue
            self.state = "active"
            log.info(
                "MQTT bridge active: %s, topics %s/…, after event %d",
                self.broker,
                self.root,
                self._cursor,
            )
            try:
                self._serve(lease.connection)
            except sa.exc.SQLAlchemyError as error:
                log.warning("MQTT bridge lost the database (%s); standing by", type(error).__name__)
            except Exception:  # noqa: BLE001 — a bug must not end publishing for good
                log.exception("MQTT bridge failed; standing by")
            finally:
                self.state = "standby"
                lease.give_back()
                # Resume from what this bridge sent if it takes the lease again soon: the log's
                # newest id when it does may already hold events written since the lease was lost.
                self._note(self.last_id or 0)
            self._stopping.wait(self.standby_seconds)
        self.state = "stopped"

    def _take_lease(self) -> Lease | None:
        """The lease if no other bridge of this database holds it; where to resume from."""
        try:
            connection = self.engine.connect()
        except sa.exc.SQLAlchemyError as error:
            log.warning("MQTT bridge cannot reach the database (%s)", type(error).__name__)
            return None
        lease = Lease(connection)
        try:
            self._note(events.newest_id(connection))
            connection.rollback()
            if lease.take():
                self._cursor = max(self.last_id or 0, self._seen[0][1])
                self._seen.clear()
                return lease
        except sa.exc.SQLAlchemyError as error:
            log.warning("MQTT bridge cannot take its lease (%s)", type(error).__name__)
        lease.give_back()
        return None

    def _note(self, newest: int) -> None:
        """Remember the log's newest id, keeping the newest one at least the replay span old."""
        now = time.monotonic()
        self._seen.append((now, newest))
        while len(self._seen) > 1 and self._seen[1][0] <= now - self.takeover_replay_seconds:
            self._seen.popleft()

    def _serve(self, connection: Connection) -> None:
        """Publish from the cursor on, until stopped or the database connection fails."""
        with self._acks:
            self._acked.clear()
        client = self._client()
        client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        client.loop_start()  # paho's thread connects, reconnects with backoff, resends
        subscription = self._subscribe()
        try:
            while not self._stopping.is_set():
                if not self._connected.wait(self.poll_seconds):
                    _check(connection)  # a lost connection is a lost lease: stand by
                    continue
                batch = events.after(connection, self._cursor, BATCH)
                connection.rollback()  # no snapshot held between reads
                if batch:
                    self._send(client, connection, batch)
                else:
                    subscription = self._wait_for_news(subscription)
        finally:
            if subscription is not None:
                _close(subscription)
            client.disconnect()
            client.loop_stop()
            self._connected.clear()

    def _send(
        self, client: mqtt.Client, connection: Connection, batch: list[events.FeedEvent]
    ) -> None:
        """Publish a batch's public events; move the cursor once the broker has them all."""
        mids = set()
        for event in batch:
            payload = payload_of(event)
            if payload is not None:
                # Retained: a dashboard that subscribes later gets each topic's newest value.
                # Not connected: paho queues it and sends it once it is.
                info = client.publish(topic_of(event, self.root), payload, 1, True)
                mids.add(info.mid)
        while mids and not self._stopping.is_set():
            with self._acks:
                self._acks.wait_for(partial(self._settled, mids), 5.0)
                done = mids & self._acked
                self._acked -= done
                mids -= done
            if mids:
                _check(connection)  # the broker is slow or away: still ours to publish?
        if not mids:
            self._cursor = batch[-1].id
            self.last_id = self._cursor

    def _settled(self, mids: set[int]) -> bool:
        return mids <= self._acked or self._stopping.is_set()

    def _wait_for_news(self, subscription: Subscription | None) -> Subscription | None:
        """Sleep until the bus says the log grew, or `poll_seconds`; the subscription after."""
        if subscription is None:
            subscription = self._subscribe()
            if subscription is None:
                self._stopping.wait(self.poll_seconds)
                return None
        try:
            if subscription.get(self.poll_seconds) is not None:
                for _ in range(DRAIN):
                    if subscription.get(0) is None:
                        break
            return subscription
        except Exception as error:  # noqa: BLE001 — the bus only wakes; polling finds it all
            log.warning("MQTT bridge lost the bus (%s); polling the log", type(error).__name__)
            _close(subscription)
            return None

    def _subscribe(self) -> Subscription | None:
        """A bus subscription, or None while the bus is down (tried again every RETRY_BUS s)."""
        if time.monotonic() < self._bus_retry_at:
            return None
        try:
            subscription = get_bus().subscribe()
        except Exception as error:  # noqa: BLE001 — Redis down: poll until it is back
            if not self._bus_retry_at:  # once per outage
                log.warning("MQTT bridge cannot reach the bus (%s); polling the log", error)
            self._bus_retry_at = time.monotonic() + RETRY_BUS
            return None
        self._bus_retry_at = 0.0
        return subscription

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"hub-bridge-{uuid.uuid4().hex[:12]}"
        )
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set()  # the system's CAs; the broker's name is checked
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(0)  # unbounded: the cursor waits, the log is the limit
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_connect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused the bridge: %s", self.broker, reason)
            return
        log.info("MQTT bridge connected to %s", self.broker)
        self._connect_failures = 0
        self._connected.set()

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._connect_failures += 1
        # Once per outage at warning level; paho keeps trying, backing off up to 30 s.
        level = logging.WARNING if self._connect_failures == 1 else logging.DEBUG
        log.log(level, "MQTT broker %s unreachable; retrying", self.broker)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _properties: Any
    ) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("MQTT bridge disconnected from %s (%s); reconnecting", self.broker, reason)

    def _on_publish(
        self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _properties: Any
    ) -> None:
        with self._acks:
            self._acked.add(mid)
            self._acks.notify_all()


def _check(connection: Connection) -> None:
    """Raise if the lease's connection is gone (with it, on PostgreSQL, the lease)."""
    connection.execute(sa.text("SELECT 1"))
    connection.rollback()


def _close(subscription: Subscription) -> None:
    try:
        subscription.close()
    except Exception:  # noqa: BLE001 — a dead Redis connection closes with an error
        log.debug("closing the bus subscription failed", exc_info=True)
