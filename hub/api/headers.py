"""Security headers on every response: API, UI, static files and errors (500 pages included)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.origin import route_path
from hub.config import get_settings

# The UI is server-rendered and enhanced by its own scripts (/static, /static/vendor): charts and
# maps read the page and fetch only from the hub. Leaflet and uPlot style elements through the
# CSSOM, which `style-src 'self'` allows, so no inline style is let in (tests/ui draw both under
# this policy). Map tiles, when HUB_TILES_URL names another origin, are all that comes from
# elsewhere.
SITE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# /docs and /redoc (hub.api.docs): Swagger UI and ReDoc from the hub's own files, started by an
# inline script that the page's own nonce lets run (added to `script-src` per response); the
# viewers set inline styles and ReDoc searches in a blob: worker. Nothing from elsewhere.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def policy_for(path: str) -> str:
    """The Content-Security-Policy of a path."""
    if path in DOCS_PATHS:
        return DOCS_POLICY
    tiles = tiles_origin(get_settings().tiles_url)
    return (
        SITE_POLICY.replace("img-src 'self' data:", f"img-src 'self' data: {tiles}", 1)
        if tiles
        else SITE_POLICY
    )


@lru_cache(maxsize=8)  # asked on every response
def tiles_origin(template: str) -> str:
    """The CSP source of a tile URL template: `https://*.tile.example.org` for
    `https://{s}.tile.example.org/{z}/{x}/{y}.png`; empty for none or the hub's own tiles."""
    parts = urlsplit(template)
    if not parts.scheme or not parts.hostname:
        return ""
    first, dot, rest = parts.hostname.partition(".")
    host = f"*.{rest}" if "{" in first and dot else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class SecurityHeaders:
    """Add the security headers to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = {**COMMON, "Content-Security-Policy": policy_for(route_path(scope))}

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
