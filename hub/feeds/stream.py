"""One client's stream: registered with the fan-out first, then the backlog from the log, then
live — without gap or duplicate at the seam.

The client is registered BEFORE the backlog is read: from then on the fan-out queues every
event for it. The backlog is read from the log until a page comes back short (every event
committed before registration is then read); queued events it already sent are dropped by id.
A backlog longer than the queue is not an overflow: the queue is emptied, the client's
registration point moves up, and the replay reads that much further from the log. A backlog
inside what the fan-out's reader read last comes from the reader's memory, up to the reader's
position (the queue holds what follows): reconnections do not each read the log again.

The first event of each non-open dataset is logged before it goes out; the stream then counts
what it writes of that dataset and logs it every few minutes and when it ends (hub.feeds.tallies).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from hub import reading
from hub.audit import AuditUnavailable
from hub.feeds import sse, tallies
from hub.feeds.clients import Client, Closing, Delivery
from hub.feeds.fanout import PAGE, Fanout
from hub.feeds.filters import Shape
from hub.feeds.replay import Start
from hub.feeds.tallies import Tally

log = logging.getLogger(__name__)

Write = Callable[[bytes], Awaitable[None]]
ROUTE = "/api/v1/feeds/stream"
BATCH = 100  # queued events written to a client at once


async def run(
    fanout: Fanout, client: Client, start: Start, preface: Sequence[bytes], write: Write
) -> None:
    """Send `preface` (gap notice, snapshot), the backlog after `start`, then live events."""
    await fanout.start()
    fanout.register(client)
    try:
        client.sent_id = start.after if start.after is not None else client.since
        await write(b": hub feed\nretry: 3000\n\n")
        for chunk in preface:
            await write(chunk)
        await _replay(fanout, client, write)
        await _live(fanout, client, write)
    except AuditUnavailable:
        log.warning("a feed stream ended: its read of non-open data could not be logged")
        await write(sse.final("closed", "the access log cannot be written", client.sent_id))
    finally:
        fanout.unregister(client)
        client.queue.close()
        await _close(fanout, client)


async def _close(fanout: Fanout, client: Client) -> None:
    """Log what the stream sent of each non-open dataset. Shielded: a client that hangs up
    cancels the writer, and a second cancellation (the server stopping) must not lose it."""
    if client.logged:
        ended = list(client.logged.values())
        client.logged.clear()
        work = asyncio.to_thread(tallies.close, fanout.engine, ended, client.caller)
        await asyncio.shield(work)


async def _count_due(fanout: Fanout, client: Client) -> None:
    """Log the rows sent of each dataset whose count is due (shielded, as the end's is)."""
    taken = tallies.take_due(list(client.logged.values()))
    if taken:
        await asyncio.shield(asyncio.to_thread(tallies.count, fanout.engine, taken, client.caller))


async def _replay(fanout: Fanout, client: Client, write: Write) -> None:
    while True:
        page = await fanout.replay_after(client.sent_id, PAGE)
        held = await fanout.grants_for(page, client.key)
        encoded: dict[int, dict[str, bytes]] = {}
        for event in page:
            delivery = fanout.judge(
                client, event, Shape(event), encoded.setdefault(event.id, {}), held
            )
            if delivery is not None:
                await _deliver(fanout, client, delivery, write)
            client.sent_id = event.id  # skipped events need not be read again either
        if client.closing is not None:
            return  # dropped meanwhile (token revoked, crisis closed): its queue says why
        if client.behind:  # the queue overflowed meanwhile: read further from the log instead
            client.behind = False
            client.clear()
            client.since = fanout.position
            continue
        if len(page) < PAGE:
            client.replaying = False  # no await since the check: the queue holds the rest
            return


async def _live(fanout: Fanout, client: Client, write: Write) -> None:
    while True:
        if client.logged:  # a clock reading per wake-up, for non-open streams only
            await _count_due(fanout, client)
        if not await client.queue.wait(fanout.heartbeat):
            await write(sse.HEARTBEAT)
            continue
        # What queued meanwhile goes out in the same write, up to the final message.
        items = client.queue.take(BATCH)
        deliveries = [x for x in items if isinstance(x, Delivery) and x.id > client.sent_id]
        await _deliver_all(fanout, client, deliveries, write)  # replayed ones are dropped
        if isinstance(items[-1], Closing):
            await write(sse.final(items[-1].event, items[-1].reason, client.sent_id))
            return


async def _deliver_all(
    fanout: Fanout, client: Client, deliveries: list[Delivery], write: Write
) -> None:
    """Write events in as few writes as their logging allows: a read to log goes before the
    events already gathered are written, and before its own."""
    gathered: list[Delivery] = []
    for delivery in deliveries:
        if _to_log(client, delivery):
            await _write_all(fanout, client, gathered, write)
            gathered = []
            await _deliver(fanout, client, delivery, write)
        else:
            gathered.append(delivery)
    await _write_all(fanout, client, gathered, write)


async def _write_all(
    fanout: Fanout, client: Client, deliveries: list[Delivery], write: Write
) -> None:
    if not deliveries:
        return
    await write(b"".join(delivery.body for delivery in deliveries))
    if client.logged:  # something non-open went out: count what this write sent of it
        for delivery in deliveries:
            _count(client, delivery)
    client.sent_id = deliveries[-1].id
    client.delivered += len(deliveries)
    fanout.delivered += len(deliveries)


def _count(client: Client, delivery: Delivery) -> None:
    """Count a written event of a logged dataset for the stream's end entry."""
    tally = client.logged.get(delivery.dataset.id) if delivery.dataset is not None else None
    if tally is not None:
        tally.add(delivery.grant, delivery.subject, delivery.row)


def _to_log(client: Client, delivery: Delivery) -> bool:
    dataset = delivery.dataset
    return dataset is not None and delivery.grant is not None and dataset.id not in client.logged


async def _deliver(fanout: Fanout, client: Client, delivery: Delivery, write: Write) -> None:
    """Write one event; the first of each non-open dataset is logged before it goes out."""
    dataset = delivery.dataset
    if dataset is not None and delivery.grant is not None and _to_log(client, delivery):
        opened = await asyncio.to_thread(
            reading.record,
            fanout.engine,
            dataset,
            client.caller,
            delivery.grant,
            reason=f"{delivery.grant.reason}; feed stream",
        )
        client.logged[dataset.id] = Tally(dataset, delivery.grant, opened.id if opened else None)
    await write(delivery.body)
    _count(client, delivery)
    client.sent_id = delivery.id
    client.delivered += 1
    fanout.delivered += 1
