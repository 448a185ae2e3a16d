"""An iterator's next item produced in a helper thread while the caller works on the current one.

Reading and validating a chunk is mostly polars and numpy, which release the GIL, so it
overlaps the caller's own work (checking the previous chunk, storing it in the database).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
_END = object()


def read_ahead(items: Iterator[Item]) -> Iterator[Item]:
    """The same items in the same order, each next one already under way in a helper thread.

    The helper runs in a copy of the caller's context (a reader may need the flow's context
    variables); its exceptions are raised here, at the item they stopped. Closing the result
    early waits for the item under way, then stops.
    """
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending = pool.submit(context.run, _next, items)
        while (item := pending.result()) is not _END:
            pending = pool.submit(context.run, _next, items)
            yield item  # type: ignore[misc]


def _next(items: Iterator[Item]) -> Item | object:
    return next(items, _END)
