"""`date-time` query parameters: ISO 8601 text only, the same on every route.

Pydantic reads a number as a Unix time (`updated_since=0.5` was 1970, seconds or milliseconds
guessed by size), where /records answered the same value with a 400: now every route reads an
instant as /records does (hub.selection.parse_instant: a value without a zone is UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

from hub import selection


def iso_8601(value: Any) -> Any:
    """The text of an ISO 8601 date-time as aware UTC; a ValueError for anything else."""
    if isinstance(value, datetime):
        return value
    try:
        return selection.parse_instant("value", str(value))
    except selection.QueryError:
        raise ValueError(
            "not an ISO 8601 date-time; write e.g. 2024-05-01T00:00:00Z "
            "(a value without a zone is UTC)"
        ) from None


Instant = Annotated[datetime, BeforeValidator(iso_8601)]
