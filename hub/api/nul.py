"""NUL characters in a request's path or query: a 400 before any route, on every database.

No id, word or date of the hub holds a NUL, and PostgreSQL refuses one in any text value (SQLite
takes it): unstopped, `?q=%00` or `/api/v1/datasets/a%00b` was a 500 on PostgreSQL and a 404 or
an empty page on SQLite. Refused here, it is the same clear error on both, in the route's shape.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.ckan import replies as ckan_replies
from hub.api.origin import route_path

MESSAGE = "NUL characters (%00) are not allowed in a URL"
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
        if ckan_replies.is_ckan_path(route_path(scope)):
            body, media = json.dumps(f"Bad request: {MESSAGE}"), ckan_replies.MEDIA_TYPE
        else:
            body, media = json.dumps({"detail": MESSAGE}), "application/json"
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
