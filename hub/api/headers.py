"""Security headers on every response: API, UI, static files and errors (500 pages included),
Strict-Transport-Security when the hub is published over HTTPS, and the caching headers that
keep one caller's answer away from another."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.origin import route_path
from hub.config import get_settings
from hub.ui.visitors import SESSION_COOKIE

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
# What a caller is known by: a token (CKAN's clients send theirs as X-CKAN-API-Key) or the UI's
# session cookie. Answers can differ with them (counts, extents, restricted datasets in a
# search or a DCAT page), so every dynamic answer names them in `Vary`.
CALLER_HEADERS = ("Authorization", "Cookie")
# Answers that may carry a data subject's rows, consents or access log stay out of every cache,
# the browser's own disk included (`no-store`, as the UI's personal pages): a shared computer
# or an app's HTTP cache must not keep a household's load curve. Routes of personal records
# say so themselves (hub.api.etags); these paths always may.
PERSONAL = "private, no-store"
# A new token's secret is shown once: no cache may keep a copy of it.
PERSONAL_PATHS = (
    "/api/v1/me",
    "/api/3/action/datastore_search",
    "/api/action/datastore_search",
    "/api/v1/org/tokens",
    "/api/3/action/api_token_create",
    "/api/action/api_token_create",
)
CKAN_PATHS = ("/api/3/", "/api/action/")
STATIC_PATHS = ("/static/", "/docs-assets/")  # the same bytes for everyone
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Sent when HUB_PUBLIC_URL is https: browsers then never try plain HTTP for the host, which a
# network attacker could downgrade on a first visit. A year, as is usual; no includeSubDomains
# (the host's other names are not the hub's to decide) and no preload (a list hard to leave).
HSTS = {"Strict-Transport-Security": "max-age=31536000"}


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
        # The public URL, not X-Forwarded-Proto: a client may send that header at will.
        https = urlsplit(get_settings().public_url.strip()).scheme == "https"
        self.common = {**COMMON, **HSTS} if https else COMMON

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        wanted = {**self.common, "Content-Security-Policy": policy_for(path)}
        dynamic = not path.startswith(STATIC_PATHS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    headers.setdefault(name, value)
                if dynamic:
                    vary_by_caller(headers, scope, path)
            await send(message)

        await self.app(scope, receive, with_headers)


def vary_by_caller(headers: MutableHeaders, scope: Scope, path: str) -> None:
    """Name the caller's headers in `Vary`, so that a shared cache keeps one answer per caller,
    and keep an answer to a caller who showed credentials out of shared caches altogether
    (`private`; out of every cache on the personal paths) unless its route said how it may be
    cached. Answers declared `public` are the same for everyone."""
    cache = headers.get("cache-control", "")
    if "public" in cache:
        return
    names = CALLER_HEADERS + (("X-CKAN-API-Key",) if path.startswith(CKAN_PATHS) else ())
    listed = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
    known = {v.lower() for v in listed}
    headers["Vary"] = ", ".join(listed + [n for n in names if n.lower() not in known])
    if not cache and shows_credentials(scope):
        headers["Cache-Control"] = PERSONAL if personal_path(path) else "private, no-cache"


def personal_path(path: str) -> bool:
    """Whether answers on `path` may carry personal data whatever the dataset, or a secret."""
    return path in PERSONAL_PATHS or path.startswith(("/api/v1/me/", "/api/v1/org/tokens/"))


def shows_credentials(scope: Scope) -> bool:
    """Whether the request carries a token or the UI's session cookie."""
    for name, value in scope["headers"]:
        if name in (b"authorization", b"x-ckan-api-key"):
            return True
        if name == b"cookie" and SESSION_COOKIE.encode() in value:
            return True
    return False
