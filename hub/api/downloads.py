"""The response that streams downloads: when it ends — its last byte sent, the client gone, an
error, the server's stop — it ends the reads it streams at once, so each logs the rows it sent.

Starlette leaves the body's iterator suspended when a client hangs up; its reads ended (and
wrote their access-log entries) only when the garbage collector reached them, if ever: a
package's member never started had no `finally` to run at all.

A download in flight when the server is told to stop ends at its next chunk, without its final
one: the client sees an incomplete transfer (curl: "transfer closed with outstanding read data
remaining"), never a whole-looking 200 cut mid-line. It is logged at INFO, as the ordinary end
of a stop it is, not as uvicorn's ERROR traceback (hub.serverlog.QuietCuts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from hub import shutdown
from hub.reading import Download

log = logging.getLogger(__name__)
# The server's own log (uvicorn's, shown at INFO under `hub serve`): a cut is part of its stop.
server_log = logging.getLogger("uvicorn.error")


class DownloadCut(Exception):
    """A download ended by the server's stop before its last chunk."""


class DownloadResponse(StreamingResponse):
    """A StreamingResponse of a blocking iterator over `downloads`, which it closes at its end."""

    def __init__(
        self,
        content: Iterable[Any],
        downloads: Iterable[Download],
        *,
        media_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self.content = content
        self.ends = [download.close for download in downloads]
        self.path = ""  # the request's, known once called

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream, then end every download however the stream ended."""
        self.path = scope.get("path", "")
        try:
            await super().__call__(scope, receive, send)
        except asyncio.CancelledError as cancelled:
            # The server's graceful timeout ended a download stuck in a send (a client that
            # reads nothing): a cut like any other, said as one.
            if not shutdown.begun():
                raise
            raise self._cut() from cancelled
        finally:
            # Shielded: the end entries are written even if the server cancels this task.
            await asyncio.shield(run_in_threadpool(self.end))

    async def stream_response(self, send: Send) -> None:
        """Starlette's, but a stop of the server ends it between two chunks, without the final
        (empty) one that tells the client the body is whole."""
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for chunk in self.body_iterator:
            if shutdown.begun():
                raise self._cut()
            body = chunk if isinstance(chunk, bytes | memoryview) else chunk.encode(self.charset)
            await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _cut(self) -> DownloadCut:
        path = self.path
        server_log.info("download of %s cut short by the server's stop: sent incomplete", path)
        return DownloadCut("the server is stopping")

    def end(self) -> None:
        """Close the body and every download (blocking: each writes its access-log entry)."""
        close = getattr(self.content, "close", None)
        for step in ([close] if close else []) + self.ends:
            _run(step)


def _run(step: Callable[[], None]) -> None:
    try:
        step()
    except Exception:  # one that fails (the log unavailable) must not skip the others
        log.exception("a download could not be ended")
