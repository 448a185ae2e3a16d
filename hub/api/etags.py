"""Conditional reads: weak ETags, If-None-Match and the 304 that answers it.

An ETag varies with the caller's grant (`hub.reading.version`) or is computed from the
representation itself, so `Vary: Authorization` goes with every one: a shared cache must never
hand one caller's answer to another.
"""

from __future__ import annotations

import hashlib
import re

from fastapi import Request, Response

from hub.api.headers import PERSONAL

VARY = "Authorization"
_TAG = re.compile(r'(?:W/)?"[^"]*"|\*')


def presented(request: Request) -> frozenset[str]:
    """The entity tags of the request's If-None-Match header (none without one)."""
    return frozenset(_TAG.findall(request.headers.get("if-none-match", "")))


def of_body(body: bytes) -> str:
    """A weak ETag computed from a representation's bytes."""
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


def matches(tag: str, seen: frozenset[str]) -> bool:
    """Whether If-None-Match holds `tag`, compared weakly (`W/` aside), or is `*`."""
    return "*" in seen or tag.removeprefix("W/") in {t.removeprefix("W/") for t in seen}


def caching(tag: str, shared: bool, personal: bool = False) -> dict[str, str]:
    """The headers of an answer with an ETag; `shared`: anyone may read it (open data);
    `personal`: it holds a data subject's rows, kept by no cache (a client may still send the
    tag it holds)."""
    rule = PERSONAL if personal else "no-cache" if shared else "private, no-cache"
    return {"ETag": tag, "Vary": VARY, "Cache-Control": rule}


def not_modified(tag: str, shared: bool, personal: bool = False) -> Response:
    """The 304 of a conditional read whose copy is current."""
    return Response(status_code=304, headers=caching(tag, shared, personal))
