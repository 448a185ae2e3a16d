"""Security headers on every response: API, UI, static files and errors (500 pages included)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api.origin import route_path

# The UI is server-rendered: its own stylesheet, no script, forms posting to itself.
SITE_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
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
    return DOCS_POLICY if path in DOCS_PATHS else SITE_POLICY


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
