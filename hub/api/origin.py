"""The hub's own absolute URL: HUB_PUBLIC_URL, else the address it serves on, never the Host header.

Links in answers (`next`, CKAN resource and help URLs, `site_url`, the UI's) are absolute. Built
from the request's Host header, they would point wherever a client or a poisoned cache says;
`PublicOrigin` therefore pins the scope's host and scheme to the public URL before any route runs,
so `request.url`, `request.base_url` and `url_for` all carry it.

A path prefix in HUB_PUBLIC_URL (`https://host/hub/`, a proxy publishing the hub under `/hub/`
and stripping it) is the ASGI root path of every request whose server set none: the proxy and
this one setting are all it takes, whatever runs the app. Routes match the path without it
(`route_path`); every link, redirect and cookie path the hub writes carries it (`site_path`).
"""

from __future__ import annotations

from urllib.parse import SplitResult, unquote, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from hub.config import get_settings

FALLBACK = "http://127.0.0.1:8000/"  # `hub serve`'s default address, when a scope has none
DEFAULT_PORTS = {"http": 80, "https": 443}


class PublicUrlError(ValueError):
    """HUB_PUBLIC_URL is not an absolute http(s) URL."""


def configured_root() -> str | None:
    """HUB_PUBLIC_URL, checked and ending with a slash; None when unset."""
    text = get_settings().public_url.strip()
    if not text:
        return None
    if not is_public_url(urlsplit(text)):
        raise PublicUrlError(
            f"HUB_PUBLIC_URL={text!r} must be an absolute http(s) URL such as "
            "https://data.example.org/ (no query, fragment or credentials)"
        )
    return text.rstrip("/") + "/"


def is_public_url(parts: SplitResult) -> bool:
    """Whether a URL can be the hub's root: http(s), a host, a valid port, nothing else."""
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return False
    return (
        parts.scheme in DEFAULT_PORTS
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and parts.username is None
        and parts.password is None
    )


def public_root(scope: Scope) -> str:
    """The hub's absolute root URL, ending with a slash."""
    configured = configured_root()
    if configured:
        return configured
    server = scope.get("server")
    if not server or server[1] is None:  # a Unix socket, or a server that says nothing
        return FALLBACK
    host, port = str(server[0]), int(server[1])
    scheme = scope.get("scheme", "http")
    host = f"[{host}]" if ":" in host else host
    suffix = "" if DEFAULT_PORTS.get(scheme) == port else f":{port}"
    return f"{scheme}://{host}{suffix}/"


def configured_prefix() -> str:
    """The path of HUB_PUBLIC_URL without its last slash: `/hub` for https://host/hub/, else ""."""
    configured = configured_root()
    return urlsplit(configured).path.rstrip("/") if configured else ""


def root_path(scope: Scope) -> str:
    """The path the hub is published under (`/hub`), "" at a host's root."""
    return str(scope.get("app_root_path", scope.get("root_path", ""))).rstrip("/")


def site_path(scope: Scope, path: str) -> str:
    """A route path (`/datasets/x`) as browsers and clients reach it: under the root path."""
    return root_path(scope) + path


def cookie_path(scope: Scope) -> str:
    """The `Path` of the hub's cookies: its root path, so they go to no other site's pages."""
    return root_path(scope) or "/"


def route_path(scope: Scope) -> str:
    """The path routes see: without the root path a server may have put in front."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


class PublicOrigin:
    """Pin each HTTP request's Host and scheme to the public root URL, and its root path to the
    public URL's path when the server gave none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(
            rooted(pinned(scope, public_root(scope)), configured_prefix()), receive, send
        )


def rooted(scope: Scope, prefix: str) -> Scope:
    """`scope` under the root path `prefix`, as `uvicorn --root-path` would put it (the path
    prefixed too, as ASGI says); a root path the server set itself is kept."""
    if not prefix or scope.get("root_path"):
        return scope
    under = {**scope, "root_path": unquote(prefix), "path": unquote(prefix) + scope["path"]}
    if scope.get("raw_path") is not None:
        under["raw_path"] = prefix.encode("latin-1") + scope["raw_path"]
    return under


def pinned(scope: Scope, root: str) -> Scope:
    """A copy of `scope` whose URL parts come from `root` instead of the client's headers."""
    parts = urlsplit(root)
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
    headers.append((b"host", netloc.encode("latin-1")))
    return {**scope, "scheme": parts.scheme, "server": (parts.hostname, port), "headers": headers}
