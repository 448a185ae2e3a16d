"""Cross-origin reads: a web page or dashboard served from another origin calls the APIs with
`fetch` or `EventSource`, as it may with CKAN (`ckan.cors.origin_allow_all`), udata or
Opendatasoft.

Every origin is allowed (`Access-Control-Allow-Origin: *`), never with credentials: a browser
then sends no cookie along and shows the page no answer to a request that carried one, so a
visitor's catalogue session is never usable from another site. A page that holds a token sends
it itself as `Authorization: Bearer …` (or `X-CKAN-API-Key`), which needs no credentials mode.
Only the APIs and the documents harvesters read are shared; the catalogue's HTML pages are not.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.origin import route_path

SHARED_PREFIXES = ("/api/", "/catalog")
SHARED_PATHS = ("/api", "/territory.geojson")
METHODS = ("GET", "HEAD", "POST", "DELETE", "OPTIONS")
# What a page may send: tokens, a purpose, a JSON body, a conditional GET, a feed's resume point.
REQUEST_HEADERS = (
    "Authorization",
    "X-CKAN-API-Key",
    "X-Purpose",
    "Content-Type",
    "If-None-Match",
    "If-Modified-Since",
    "Last-Event-ID",
)
# What a page may read besides the safelisted headers: caching, paging, counts, back-off,
# file names and why a token was refused.
EXPOSED = (
    "ETag",
    "Link",
    "X-Total-Count",
    "Retry-After",
    "Content-Disposition",
    "WWW-Authenticate",
    "Location",
)
MAX_AGE = 600  # seconds a browser may keep a preflight's answer


def shared(path: str) -> bool:
    """Whether a path is one other origins may read."""
    return path in SHARED_PATHS or path.startswith(SHARED_PREFIXES)


class ApiCors:
    """CORS headers, and answers to preflights, on the shared paths only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_credentials=False,
            allow_methods=METHODS,
            allow_headers=REQUEST_HEADERS,
            expose_headers=EXPOSED,
            max_age=MAX_AGE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and shared(route_path(scope)):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
