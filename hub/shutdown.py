"""The server's stop, noticed when it begins rather than when the app's lifespan ends.

On SIGTERM or Ctrl-C uvicorn stops accepting, waits up to its graceful timeout for the open
responses, and only then runs the lifespan's shutdown. A feed stream never ends by itself: each
was cancelled at the timeout (an ERROR traceback per stream, no closing message). The lifespan
puts a handler behind the server's own for those signals, so that the streams get their
closing message at once and end before the server waits for them. Signals can be caught in the
main thread only: elsewhere (a test client's thread) nothing is installed.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_begun = threading.Event()


def begun() -> bool:
    """Whether this process's server has been told to stop."""
    return _begun.is_set()


@contextmanager
def noticing_stop(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` on the running event loop when SIGINT or SIGTERM arrives, besides the
    handler already in place (the server's), for as long as the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous: dict[int, Callable[[int, FrameType | None], object]] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        _begun.set()
        loop.call_soon_threadsafe(callback)
        previous[signum](signum, frame)  # the server's own stop (it may raise: Ctrl-C's does)

    for signum in SIGNALS:
        earlier = signal.getsignal(signum)
        if callable(earlier):  # a server's handler; the default action is left alone
            previous[signum] = earlier
            signal.signal(signum, handler)
    try:
        yield
    finally:
        for caught, server_handler in previous.items():
            if signal.getsignal(caught) is handler:
                signal.signal(caught, server_handler)
        _begun.clear()
