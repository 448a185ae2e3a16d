"""JSON sent to the hub (bodies, query parameters, ids, pushed cells), read one way everywhere.

Python's decoder recurses once per level: JSON nested about a thousand deep raised RecursionError,
which the routes, catching ValueError for malformed JSON, let through as a 500. Read here, too deep
is a ValueError like any malformed text, and so is a NUL character in a string or key (PostgreSQL
takes none in text: left in, it was a 500 there and a 404 on SQLite). Each caller keeps the
answer it gives to malformed JSON.
"""

from __future__ import annotations

import json
from typing import Any

# Deeper than anything the hub reads (a GeoJSON MultiPolygon is 5 levels, a CKAN filter 3), and
# far from the decoder's recursion limit, whatever the stack the caller already holds: code that
# recurses over what it was given (json.dumps, shapely) stays far from it too.
MAX_DEPTH = 64
NUL_MESSAGE = "NUL characters (\\u0000) are not allowed in request data"


class TooDeep(ValueError):
    """JSON nested deeper than MAX_DEPTH."""


class HoldsNul(ValueError):
    """JSON holding a NUL character in a string or a key."""


def loads(text: str | bytes) -> Any:
    """The value of JSON text; ValueError if malformed, nested too deep or holding a NUL."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    check(value)
    return value


def check(value: Any) -> None:
    """TooDeep or HoldsNul if a decoded value is nested too deep or holds a NUL anywhere."""
    level, depth = [value], 0
    while level:  # level by level, not recursion: the value may be as deep as the decoder allowed
        below = []
        for item in level:
            if isinstance(item, str):
                if "\x00" in item:
                    raise HoldsNul(NUL_MESSAGE)
                continue
            if not isinstance(item, list | dict):
                continue  # numbers, booleans and null hold nothing
            if depth == MAX_DEPTH:
                raise TooDeep(f"JSON nested deeper than {MAX_DEPTH} levels")
            below.extend([*item, *item.values()] if isinstance(item, dict) else item)
        level, depth = below, depth + 1
