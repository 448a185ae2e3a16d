"""An event stream's writes: the response start through the app's middlewares, the body chunks
straight to the server's own `send`, which the app's outermost layer keeps in the scope."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from hub.api.heads import HeadAsGet
from hub.app import create_app
from hub.feeds.sse import SERVER_SEND, EventStream, ServerSend


def test_body_chunks_go_to_the_server_s_send_and_the_start_through_the_middlewares() -> None:
    through_middlewares: list[Message] = []
    to_server: list[Message] = []

    async def wrapped(message: Message) -> None:
        through_middlewares.append(message)

    async def server(message: Message) -> None:
        to_server.append(message)

    async def produce(write: Any) -> None:
        await write(b"id: 1\n\n")
        await write(b"id: 2\n\n")

    asyncio.run(EventStream(produce)({"type": "http", SERVER_SEND: server}, _never, wrapped))
    assert [m["type"] for m in through_middlewares] == ["http.response.start", "http.response.body"]
    assert through_middlewares[-1] == {
        "type": "http.response.body",
        "body": b"",
        "more_body": False,
    }
    assert [m["body"] for m in to_server] == [b"id: 1\n\n", b"id: 2\n\n"]
    assert all(m["more_body"] for m in to_server)


def test_without_the_server_s_send_in_the_scope_everything_goes_through_the_middlewares() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def produce(write: Any) -> None:
        await write(b"id: 1\n\n")

    asyncio.run(EventStream(produce)({"type": "http"}, _never, send))
    assert [m.get("body") for m in sent] == [None, b"id: 1\n\n", b""]


def test_the_app_s_outermost_layer_keeps_the_server_s_send_for_http_only() -> None:
    seen: list[Scope] = []

    async def inner(scope: Scope, _receive: Receive, _send: Send) -> None:
        seen.append(scope)

    async def server(_message: Message) -> None:
        return None

    layer = ServerSend(inner)
    asyncio.run(layer({"type": "http"}, _never, server))
    asyncio.run(layer({"type": "lifespan"}, _never, server))
    assert seen[0][SERVER_SEND] is server
    assert SERVER_SEND not in seen[1]
    # Only the HEAD layer is outside it, and it hands a GET the server's own send untouched.
    stack = create_app().build_middleware_stack()
    assert isinstance(stack, HeadAsGet) and isinstance(stack.app, ServerSend)
    handed: list[Send] = []

    async def taker(_scope: Scope, _receive: Receive, send: Send) -> None:
        handed.append(send)

    asyncio.run(HeadAsGet(taker)({"type": "http", "method": "GET"}, _never, server))
    assert handed == [server]


async def _never() -> Message:
    await asyncio.Event().wait()  # the client never goes: the stream ends with its producer
    raise AssertionError("unreachable")
