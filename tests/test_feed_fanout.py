"""The feed's fan-out: bounded queues, dropped and replaying clients, and many idle streams on
one reader (no thread per client, bounded memory)."""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
from pathlib import Path

import pytest
from api.support import live_server, write_closed_charters
from api.test_feed_stream import SSE, wait_for
from sqlalchemy import Engine

from hub import events
from hub.config import get_settings
from hub.feeds import fanout, filters
from hub.feeds.clients import Client, Closing, Delivery
from hub.reading import Caller

IDLE = 500  # the issue asks for 2,000 (bench/feeds); 500 keep CI's file descriptors sane


def client_of(hub: fanout.Fanout, *, replaying: bool) -> Client:
    client = Client(Caller(), filters.parse({}), hub.new_queue())
    client.replaying = replaying
    return client


def test_a_live_client_whose_queue_fills_is_dropped_with_a_final_message(engine: Engine) -> None:
    async def scenario() -> None:
        hub = fanout.Fanout(engine)
        hub.queue_size, hub.drop_grace = 3, 60.0
        slow, fast = client_of(hub, replaying=False), client_of(hub, replaying=False)
        hub.register(slow)
        hub.register(fast)
        for number in range(1, 5):
            delivery = Delivery(number, b"id: %d\n\n" % number)
            hub.offer(slow, delivery)
            hub.offer(fast, delivery)
            fast.queue.get_nowait()  # the fast one keeps up
        assert hub.clients == {fast} and hub.stats().dropped == 1
        assert slow.queue.qsize() == 1  # its events are gone: only the final message is kept
        assert slow.queue.get_nowait() == Closing("overflow", "the client fell behind the feed")
        await hub.stop()
        assert hub.clients == set()

    asyncio.run(scenario())


def test_a_replaying_client_that_overflows_goes_back_to_the_log(engine: Engine) -> None:
    async def scenario() -> None:
        hub = fanout.Fanout(engine)
        hub.queue_size = 2
        replaying = client_of(hub, replaying=True)
        hub.register(replaying)
        for number in range(1, 4):
            hub.offer(replaying, Delivery(number, b""))
        assert replaying.behind and replaying.queue.empty() and hub.clients == {replaying}
        assert hub.stats().dropped == 0
        await hub.stop()

    asyncio.run(scenario())


@pytest.fixture
def server(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_closed_charters(tmp_path / "charters")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path / "charters"))
    get_settings.cache_clear()
    monkeypatch.setattr(fanout, "HEARTBEAT_SECONDS", 5.0)
    with live_server() as base:
        yield base


def test_many_idle_streams_share_one_reader_in_bounded_memory(engine: Engine, server: str) -> None:
    threads = threading.active_count()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    clients: list[SSE] = []
    try:
        for _ in range(IDLE):
            clients.append(SSE(server, "/api/v1/feeds/stream?types=crisis").open())
        (hub,) = [f for f in fanout.running() if f._reader is not None]
        wait_for(lambda: hub.stats().clients == IDLE, f"{IDLE} streams registered")
        gc.collect()
        grown = sum(
            stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename")
        )
        tracemalloc.stop()
        assert grown / IDLE < 64_000, f"{grown / IDLE:.0f} bytes per idle stream"
        assert threading.active_count() < threads + 20  # no thread per client
        emitted = events.emit(engine, "crisis", theme="risk", payload={"id": "c", "name": "x"})
        for client in clients:
            (message,) = client.until_id(emitted)
            assert message.event == "crisis" and message.id == str(emitted)
        assert fanout.delivered() >= IDLE
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        for client in clients:
            client.close()
    wait_for(lambda: hub.stats().clients == 0, "every closed stream cleaned up")
