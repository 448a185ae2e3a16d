"""Server-sent events on the wire: messages, and the response that streams them to one client.

A message is `id:` (the event log's id), `event:` (observation, alert, gap, dataset, crisis) and
one `data:` line of compact JSON. Messages outside the log carry no `id:` (snapshot values, the
`gap` notice), so a client's Last-Event-ID stays the last logged event it received; the final
`overflow` or `closed` message carries the id to resume from, as `id:` and in its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hub import shutdown

log = logging.getLogger(__name__)

HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: pass each message on at once
    "Connection": "close",  # a stream that ends (overflow, revoked token) ends its connection
}
HEARTBEAT = b": heartbeat\n\n"
SERVER_SEND = "hub.server_send"  # the scope's key to the server's own `send`


class ServerSend:
    """The outermost layer of the app: it keeps the server's own `send` in the scope, so that
    an event stream's body chunks go straight to it.

    Each middleware wraps `send` in a coroutine of its own; a feed writes ~15,000 chunks a
    second at 1,000 clients × 1,000 events/s, and going around those wrappers took about a
    tenth of its CPU off (bench/feeds). The response start and the last chunk still pass
    through them all (security headers, the error middleware's "started" state); no
    middleware changes the body of an event stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        await self.app(scope, receive, send)


def message(kind: str, data: dict[str, Any], event_id: int | None = None) -> bytes:
    """One SSE message (JSON escapes every newline, so `data:` is one line)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {text}\n\n".encode()


def final(kind: str, reason: str, resume: int) -> bytes:
    """The last message of a stream the hub ends: why, and the id to resume from."""
    return message(kind, {"reason": reason, "resume": str(resume)}, resume)


class EventStream(Response):
    """A text/event-stream response fed by `produce(write)`; it ends when the client goes."""

    media_type = "text/event-stream"

    def __init__(self, produce: Any, on_task: Any = None) -> None:
        self.status_code = 200
        self.background = None
        # no Content-Length: the stream lasts until one side ends it
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            *((name.lower().encode(), value.encode()) for name, value in HEADERS.items()),
        ]
        self.produce = produce
        self.on_task = on_task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream until `produce` returns, the client disconnects, or the writer is aborted."""
        # The headers go out with the first message, which `produce` writes once the client is
        # registered with the fan-out: a client that acts on the headers misses no event.
        started = False

        async def begin() -> None:
            nonlocal started
            if not started:
                started = True
                await send(
                    {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
                )

        chunks = scope.get(SERVER_SEND, send)  # the server's own, past the middlewares

        async def write(body: bytes) -> None:
            await begin()
            await chunks({"type": "http.response.body", "body": body, "more_body": True})

        writer = asyncio.create_task(self.produce(write), name="feed-writer")
        if self.on_task is not None:
            self.on_task(writer)
        listener = asyncio.create_task(_disconnected(receive), name="feed-disconnect")
        try:
            await asyncio.wait({writer, listener}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not shutdown.begun():
                raise
            # A client that took not even the closing message, cut off by the stopping
            # server at its graceful timeout: expected then, and no error of the app's.
            log.info("feed stream cut off by the server's shutdown")
            return
        finally:
            for task in (writer, listener):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if listener.done() and not listener.cancelled():
            return  # the client went away: nothing more to send
        if writer.cancelled():
            return  # a stalled client was cut off: the server closes the connection
        if writer.exception() is not None:
            log.warning("feed stream ended on an error: %s", writer.exception())
        await begin()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone."""
    while True:
        received = await receive()
        if received["type"] == "http.disconnect":
            return
