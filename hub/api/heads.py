"""HEAD wherever GET answers (RFC 9110 §9.3.2): the GET's status and headers, without its body.

FastAPI registers a GET route for GET only, so a HEAD was a 405 everywhere; link checkers and
DCAT harvesters (and GDAL's /vsicurl) ask with HEAD. One layer around the app answers every
HEAD as the GET of the same URL — through the same grant, ETag and access log (the log names
the route `HEAD …`: a check, no row sent) — and sends only its head. A streamed download or an
event stream is stopped once its head is sent: the layer tells it the client has gone, as a
closed connection would, so its pages are not read for nothing. A response built whole before it
starts (a JSON page, a grid's NetCDF file) is still built: its Content-Length is the GET's.
"""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ASKED = "hub.asked_method"  # the scope key of the method the client sent, when it was HEAD
GONE: Message = {"type": "http.disconnect"}


class HeadAsGet:
    """Answers a HEAD with the head of the GET of the same URL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = anyio.Event()

        async def send_head(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                answered.set()
            # the body (and anything after it) stays here

        async def receive_until_answered() -> Message:
            if answered.is_set():
                return GONE
            received: list[Message] = []
            async with anyio.create_task_group() as waiting:

                async def take() -> None:
                    received.append(await receive())
                    waiting.cancel_scope.cancel()

                waiting.start_soon(take)
                await answered.wait()
                waiting.cancel_scope.cancel()
            return received[0] if received else GONE

        await self.app({**scope, "method": "GET", ASKED: "HEAD"}, receive_until_answered, send_head)


def asked_method(request: Request) -> str:
    """The method the client sent (HEAD, which the app reads as GET), for the access log."""
    return str(request.scope.get(ASKED, request.method))
