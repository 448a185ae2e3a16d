"""Trailing slashes: a GET of `/catalog.ttl/` or `/api/v1/datasets/ID/` names the page without
its slash, which link checkers and hand-written harvester configurations often add.

Such a GET (or HEAD) is answered `308 Permanent Redirect` to the canonical URL, its query kept;
any other method still gets the 404 of an unknown address: ckanapi and the push API's clients
POST without following redirects, and a POST must not land somewhere it was not sent.
Starlette's own `redirect_slashes` redirects every method, both ways, hence this.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from starlette.routing import Match, Mount

from hub.api.origin import public_root, route_path

SAFE = "/:@!$&'()*+,;=~"  # what a path segment may hold unescaped (RFC 3986), besides unreserved


def canonical(request: Request) -> str | None:
    """The absolute URL that a GET's address names without its trailing slashes, if a route
    answers GET there; None otherwise."""
    path = route_path(request.scope)
    if request.method != "GET" or not path.endswith("/"):
        return None
    bare = path.rstrip("/")
    if not bare or not answers_get(request, bare):
        return None
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{public_root(request.scope)}{quote(bare.lstrip('/'), safe=SAFE)}{query}"


def answers_get(request: Request, path: str) -> bool:
    """Whether one of the app's routes (not a mounted folder) answers a GET of `path`."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    return any(
        not isinstance(route, Mount) and route.matches(scope)[0] == Match.FULL
        for route in request.app.router.routes
    )
