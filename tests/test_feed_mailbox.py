"""A feed client's mailbox (its bounded queue, for one writer), the heap the feed freezes once,
and the bench client's reading of a chunked stream by hand."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hub import events
from hub.feeds import fanout
from hub.feeds.clients import Closing, Delivery, Mailbox

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.feeds_load import Listener, subscriber, unchunk  # noqa: E402

WAIT = 30.0  # a readiness bound, never a timing assertion
TIMER_SLACK = 0.01  # a loop runs a timer up to its clock's resolution early


def test_a_mailbox_is_bounded_and_hands_out_in_order_up_to_the_final_message() -> None:
    box = Mailbox(3)
    for number in (1, 2, 3):
        box.put_nowait(Delivery(number, b""))
    with pytest.raises(asyncio.QueueFull):
        box.put_nowait(Delivery(4, b""))
    assert [item.id for item in box.take(2) if isinstance(item, Delivery)] == [1, 2]
    box.put_nowait(Closing("closed", "why"))
    box.put_nowait(Delivery(5, b""))  # never queued after a Closing in practice: still kept apart
    assert box.take(10) == [Delivery(3, b""), Closing("closed", "why")]
    assert box.get_nowait() == Delivery(5, b"")
    with pytest.raises(asyncio.QueueEmpty):
        box.get_nowait()
    box.put_nowait(Delivery(6, b""))
    box.clear()
    assert box.empty() and box.qsize() == 0


def test_a_waiting_writer_wakes_on_a_delivery_or_after_its_timeout() -> None:
    async def scenario() -> None:
        box = Mailbox(10)
        assert await box.wait(0.01) is False  # nothing came: time for a heartbeat
        waiting = asyncio.create_task(box.wait(30.0))
        await asyncio.sleep(0)
        box.put_nowait(Delivery(1, b""))
        assert await asyncio.wait_for(waiting, 5.0) is True
        assert await box.wait(30.0) is True  # already queued: no wait at all
        cancelled = asyncio.create_task(box.wait(30.0))
        box.clear()
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        box.put_nowait(Delivery(2, b""))  # no writer waits any more: nothing to wake
        assert box.qsize() == 1

    asyncio.run(scenario())


def test_a_wait_s_timeout_counts_from_that_wait_though_the_mailbox_keeps_one_timer() -> None:
    """The timer armed by a wait that a delivery ended is not that of the next wait: when it
    fires during a later, longer wait it moves on to that wait's end, and a shorter wait
    brings it forward."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        box = Mailbox(10)
        loop.call_soon(box.put_nowait, Delivery(1, b""))
        assert await box.wait(0.5) is True  # woken at once; its timer stays armed for 0.5 s
        box.get_nowait()
        await asyncio.sleep(0.2)
        started = loop.time()
        assert await box.wait(0.5) is False  # the first timer fires 0.2 s in: not this end
        assert loop.time() - started >= 0.5 - TIMER_SLACK
        loop.call_soon(box.put_nowait, Delivery(2, b""))
        assert await box.wait(60.0) is True
        box.get_nowait()
        # a wait shorter than the timer armed (60 s) ends on time, not with that timer
        assert await asyncio.wait_for(box.wait(0.05), WAIT) is False

    asyncio.run(scenario())


def test_a_closed_mailbox_leaves_no_timer_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    fired: list[Mailbox] = []
    monkeypatch.setattr(Mailbox, "_expire", lambda box, _loop: fired.append(box))

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        box = Mailbox(10)
        loop.call_soon(box.put_nowait, Delivery(1, b""))
        assert await box.wait(0.05) is True  # woken at once: its timer is still armed
        box.close()  # the stream ended: a pending timer would hold the mailbox until it fires
        await asyncio.sleep(0.3)

    asyncio.run(scenario())
    assert fired == []


def test_the_heap_is_frozen_and_young_collections_spaced_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen: list[bool] = []
    thresholds: list[tuple[int, ...]] = []
    monkeypatch.setattr(fanout, "_frozen", False)
    monkeypatch.setattr(fanout.gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(fanout.gc, "set_threshold", lambda *given: thresholds.append(given))
    fanout._freeze_heap()
    fanout._freeze_heap()
    assert frozen == [True]
    assert [given[0] for given in thresholds] == [
        max(fanout.YOUNG_THRESHOLD, gc.get_threshold()[0])
    ]
    assert thresholds[0][1:] == gc.get_threshold()[1:]


def test_the_bench_client_undoes_chunks_and_takes_ids_and_stamps_across_reads() -> None:
    message = (
        b'id: 7\nevent: observation\ndata: {"dataset":"d","seq":3,"published_at":1.5}\n\n'
        b"id: 8\nevent: crisis\ndata: {}\n\n"
    )
    framed = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (message[:30], message[30:]))
    body, rest, ended = unchunk(framed[:-5])  # the second chunk is incomplete
    assert body == message[:30] and not ended and rest == framed[len(body) + 6 : -5]
    body, rest, ended = unchunk(framed + b"0\r\n\r\n")
    assert body == message and rest == b"" and ended
    listener = Listener(subscriber(1), "http://127.0.0.1:1/api/v1/feeds/stream")
    left = listener.take(message[:50])
    assert listener.received == [] and left == message[:50]
    assert listener.take(left + message[50:] + b": heartbeat\n\nid: 9") == b"id: 9"
    assert listener.received == [3] and listener.last_id == 8


def test_replays_inside_what_the_reader_read_last_come_from_it_and_older_ones_from_the_log(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "RECENT", 3)
    before = [emit(engine, n) for n in range(2)]  # logged before the feed started

    async def scenario() -> None:
        hub = fanout.Fanout(engine)
        await hub.start()
        try:
            await replays(hub)
        finally:
            await hub.stop()

    async def replays(hub: fanout.Fanout) -> None:
        logged = [emit(engine, n) for n in range(2, 9)]
        for _ in range(200):  # the reader reads them (woken by the bus, or its next poll)
            if hub.position == logged[-1]:
                break
            await asyncio.sleep(0.05)
        assert hub.position == logged[-1]
        from_log: list[int] = []  # the reader's own reads count here too
        reading = hub.read_after

        async def counted(last_id: int, limit: int = fanout.PAGE) -> list[events.FeedEvent]:
            from_log.append(last_id)
            return await reading(last_id, limit)

        monkeypatch.setattr(hub, "read_after", counted)
        # 7 read, more than 2 × 3: the last 3 are kept, a replay after the 4th needs no read
        reads = len(from_log)
        kept = await hub.replay_after(logged[3])
        assert [e.id for e in kept] == logged[4:]
        assert [e.id for e in await hub.replay_after(logged[4], 1)] == [logged[5]]
        assert await hub.replay_after(logged[-1]) == []
        assert len(from_log) == reads  # no await in between: no read of the reader either
        older = await hub.replay_after(logged[2])  # before what the reader holds: the log
        assert [e.id for e in older] == logged[3:] and logged[2] in from_log
        oldest = await hub.replay_after(before[0])
        assert [e.id for e in oldest] == [before[1], *logged]

    asyncio.run(scenario())


def emit(engine: Engine, number: int) -> int:
    return events.emit(engine, "dataset", dataset_id=f"d{number}", payload={"n": number})
