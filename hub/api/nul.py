"""NUL characters in a request's path, query or /api/v1 JSON body: a 400 before any route, on
every database.

No id, word or date of the hub holds a NUL, and PostgreSQL refuses one in any text value (SQLite
takes it): unstopped, `?q=%00` or `/api/v1/datasets/a%00b` was a 500 on PostgreSQL and a 404 or
an empty page on SQLite, and so was `{"within": "crisis:a\\u0000"}` posted to the feed. Refused
here, it is the same clear error on both, in the route's shape, for every route at once. JSON in a
query parameter (`within=`) is read by `hub.jsontext`, which refuses the NULs it holds; the CKAN
actions refuse those in their data themselves (hub.api.ckan.routes).
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import jsontext
from hub.api.ckan import replies as ckan_replies
from hub.api.origin import route_path

MESSAGE = "NUL characters (%00) are not allowed in a URL"
WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ENCODED_NUL = re.compile(rb"%00")


def carries_nul(scope: Scope) -> bool:
    """Whether the decoded path, or the raw query string, holds a NUL."""
    query = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"\x00" in query or bool(_ENCODED_NUL.search(query))


class NulGuard:
    """Answer 400 to a request whose path or query string carries a NUL character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not carries_nul(scope):
            await self.app(scope, receive, send)
            return
        await refuse(scope, send, MESSAGE)


_ESCAPED_NUL = re.compile(rb"\\u0000", re.IGNORECASE)


def holds_nul(body: bytes) -> bool:
    """Whether a body, read as JSON, holds a NUL in a string or key (malformed or too deep JSON
    is not decided here: the route answers it in its own words). Parsed only when its bytes
    could hold one (a NUL byte, as UTF-16 text has, or a `\\u0000` escape): the route parses
    every ordinary body itself, once."""
    if b"\x00" not in body and not _ESCAPED_NUL.search(body):
        return False
    try:
        jsontext.loads(body)
    except jsontext.HoldsNul:
        return True
    except ValueError:
        return False
    return False


class JsonNulGuard:
    """Answer 400 to a request to /api/v1 whose JSON body holds a NUL character.

    Every /api/v1 body is JSON, and routes read it their own ways (FastAPI's models, hand-parsed
    bodies): checked here, none can miss it. Inside the body limit, so what it holds is bounded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WITH_BODY
            or not route_path(scope).startswith("/api/v1/")
        ):
            await self.app(scope, receive, send)
            return
        received = await _whole_body(receive)
        body = b"".join(m.get("body", b"") for m in received if m["type"] == "http.request")
        if body and holds_nul(body):
            await refuse(scope, send, jsontext.NUL_MESSAGE)
            return

        async def replayed() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replayed, send)


async def _whole_body(receive: Receive) -> list[Message]:
    """The messages of a request's body, up to its last chunk or the client leaving."""
    messages = [await receive()]
    while messages[-1]["type"] == "http.request" and messages[-1].get("more_body", False):
        messages.append(await receive())
    return messages


async def refuse(scope: Scope, send: Send, message: str) -> None:
    """Send the 400: CKAN's bare string on CKAN routes, FastAPI's `detail` elsewhere."""
    if ckan_replies.is_ckan_path(route_path(scope)):
        body, media = json.dumps(f"Bad request: {message}"), ckan_replies.MEDIA_TYPE
    else:
        body, media = json.dumps({"detail": message}), "application/json"
    payload = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
