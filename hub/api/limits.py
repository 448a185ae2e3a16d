"""Request body limit: a body over HUB_MAX_BODY_BYTES is a 413, refused before it is held in memory.

A pure ASGI middleware, so it sees the declared Content-Length before any route reads the body,
and counts the chunks of a body sent without one (chunked transfer) as they arrive.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.ckan import replies as ckan_replies
from hub.api.origin import route_path
from hub.config import get_settings


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the limit (routes let it through)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    """The 413's message."""
    return f"request body too large: this hub takes at most {limit} bytes"


def declared_length(scope: Scope) -> int | None:
    """The Content-Length a request declares, if it declares a readable one."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimit:
    """Answer 413 to requests whose body is, or turns out to be, over the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_body_bytes
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await refuse(scope, send, limit)
            return
        received, exceeded, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # whatever the route made of the cut body, the 413 below answers
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await refuse(scope, send, limit)


async def refuse(scope: Scope, send: Send, limit: int) -> None:
    """Send the 413: CKAN's envelope on CKAN routes, FastAPI's `detail` elsewhere."""
    if ckan_replies.is_ckan_path(route_path(scope)):
        body = ckan_replies.failure_body(scope, "Request Entity Too Large", too_large(limit))
        media = ckan_replies.MEDIA_TYPE
    else:
        body, media = json.dumps({"detail": too_large(limit)}), "application/json"
    payload = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
