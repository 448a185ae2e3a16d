"""Conditional reads: weak ETags, If-None-Match and the 304 that answers it.

An ETag varies with the caller's grant (`hub.reading.version`) or is computed from the
representation itself (`conditional`: the dataset detail, CKAN's package_show and
package_search; a DCAT document's from its triples, hub.api.dcat.documents), so
`Vary: Authorization` goes with every one: a shared cache must never hand one caller's answer
to another. A representation's hash changes exactly when what it depends on does (the
catalogue, the caller's grant, the query). No date of the catalogue tracks that as closely (a
dataset withdrawn leaves the latest change where it was): hence no Last-Modified.
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


def caching(tag: str, shared: bool, personal: bool = False, vary: str = "") -> dict[str, str]:
    """The headers of an answer with an ETag; `shared`: anyone may read it (open data);
    `personal`: it holds a data subject's rows, kept by no cache (a client may still send the
    tag it holds); `vary`: what else the answer was negotiated by (`Accept`)."""
    rule = PERSONAL if personal else "no-cache" if shared else "private, no-cache"
    return {"ETag": tag, "Vary": f"{vary}, {VARY}" if vary else VARY, "Cache-Control": rule}


def conditional(request: Request, answer: Response, shared: bool) -> Response:
    """`answer`, built whole, with the ETag of its bytes; or the 304 that replaces it when
    If-None-Match holds that tag."""
    tag = of_body(bytes(answer.body))
    vary = answer.headers.get("vary", "")
    if matches(tag, presented(request)):
        return not_modified(tag, shared, vary=vary)
    answer.headers.update(caching(tag, shared, vary=vary))
    return answer


def not_modified(tag: str, shared: bool, personal: bool = False, vary: str = "") -> Response:
    """The 304 of a conditional read whose copy is current (with the 200's caching headers)."""
    return Response(status_code=304, headers=caching(tag, shared, personal, vary))
