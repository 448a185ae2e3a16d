"""The fan-out's ear on the bus: a thread (the bus's `get` blocks) that wakes the reader on
every message. The bus carries no event, so a lost message or a bus outage only delays the
reader until its next poll; a lost Redis connection is subscribed again."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from hub.bus import Subscription, get_bus

log = logging.getLogger(__name__)

BUS_WAIT = 0.5  # how long one wait blocks, so the thread stops soon after it is told to


def listen(stop: threading.Event, listening: threading.Event, wake: Callable[[], object]) -> None:
    """Call `wake` on every bus message until `stop` is set; `listening` says when subscribed."""
    subscription: Subscription | None = None
    lost = False  # an outage was logged: its end is logged at the same level
    while not stop.is_set():
        if subscription is None:
            try:
                subscription = get_bus().subscribe()
                listening.set()
            except Exception:  # noqa: BLE001 — the bus is down: the reader polls meanwhile
                if not lost:
                    log.warning("the feed cannot subscribe to the bus; polling the event log")
                lost = True
                stop.wait(5.0)
                continue
            if lost:
                log.warning("the feed is subscribed to the bus again")
                lost = False
        try:
            received = subscription.get(BUS_WAIT)
        except Exception:  # noqa: BLE001 — a lost Redis connection: subscribe again
            log.warning("the feed lost the bus; polling until it is back")
            lost = True
            listening.clear()
            with contextlib.suppress(Exception):
                subscription.close()
            subscription = None
            stop.wait(1.0)
            continue
        if received is not None:
            wake()
    if subscription is not None:
        with contextlib.suppress(Exception):
            subscription.close()
