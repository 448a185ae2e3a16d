"""The response that streams downloads: when it ends — its last byte sent, the client gone, an
error — it ends the reads it streams at once, so each logs the rows it sent then.

Starlette leaves the body's iterator suspended when a client hangs up; its reads ended (and
wrote their access-log entries) only when the garbage collector reached them, if ever: a
package's member never started had no `finally` to run at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from hub.reading import Download

log = logging.getLogger(__name__)


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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream, then end every download however the stream ended."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Shielded: the end entries are written even if the server cancels this task.
            await asyncio.shield(run_in_threadpool(self.end))

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
