"""The `Allow` of a 405: every method the address serves, HEAD included (RFC 9110 §15.5.6).

Starlette names only the methods of the first route whose path matches; the hub serves many
addresses through several routes (CKAN's actions by POST, then GET; `/api/v1/crises` by GET, then
POST), and every GET answers HEAD too (hub.api.heads), which no route declares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path

ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed(app: FastAPI, path: str) -> str:
    """The methods `app` serves at `path`, as an `Allow` header's value."""
    if not hasattr(app.state, "route_methods"):  # worked out once per application
        app.state.route_methods = patterns(app.routes)
    served: set[str] = set()
    for pattern, methods in app.state.route_methods:
        if pattern.match(path):
            served |= methods
    if "GET" in served:
        served.add("HEAD")
    return ", ".join(sorted(served, key=lambda m: (ORDER + (m,)).index(m)))


def patterns(routes: Sequence[BaseRoute]) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each route's path pattern and methods."""
    found = []
    for context in iter_route_contexts(list(routes)):
        methods = getattr(context.route, "methods", None)
        if context.path_format and methods:
            found.append((compile_path(context.path_format)[0], set(methods)))
    return found
