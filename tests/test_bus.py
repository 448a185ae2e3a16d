"""The event bus: in-process by default, Redis over a real connection when HUB_BUS_URL says so."""

from __future__ import annotations

import os
import threading

import pytest

from hub.bus import MemoryBus, RedisBus, get_bus, subscription
from hub.config import get_settings

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set HUB_TEST_REDIS_URL (make test does)")


def test_the_default_bus_is_in_process():
    assert isinstance(get_bus(), MemoryBus)


def test_memory_subscribers_get_what_is_published_after_they_subscribe():
    bus = MemoryBus()
    early = bus.subscribe()
    bus.publish({"n": 1})
    late = bus.subscribe()
    bus.publish({"n": 2})
    assert [early.get(0.1), early.get(0.1)] == [{"n": 1}, {"n": 2}]
    assert late.get(0.1) == {"n": 2}
    assert late.get(0.01) is None
    late.close()
    bus.publish({"n": 3})
    assert late.get(0.01) is None


def test_a_slow_memory_subscriber_loses_the_oldest_not_the_newest():
    bus = MemoryBus()
    sub = bus.subscribe()
    for n in range(10_005):
        bus.publish({"n": n})
    assert sub.get(0.1) == {"n": 5}


@needs_redis
def test_redis_bus_is_chosen_by_url_and_carries_events_between_connections(monkeypatch):
    monkeypatch.setenv("HUB_BUS_URL", REDIS_URL)
    get_settings.cache_clear()
    assert isinstance(get_bus(), RedisBus)
    other_process_bus = RedisBus(REDIS_URL)  # a second client, as another replica would have
    with subscription() as sub:
        received = []
        reader = threading.Thread(target=lambda: received.append(sub.get(5.0)))
        reader.start()
        other_process_bus.publish({"event": "dataset", "dataset": "x", "published": 3})
        reader.join(6)
    assert received == [{"event": "dataset", "dataset": "x", "published": 3}]


def test_an_unreachable_redis_fails_at_start_up():
    with pytest.raises(Exception, match="(?i)connect"):
        RedisBus("redis://127.0.0.1:1/0")
