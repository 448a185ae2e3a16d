"""/docs and /redoc, offline: Swagger UI and ReDoc served from the hub's own files, never a CDN.

The assets are those of the `fastapi-offline` package (only its static folder is used: the hub
keeps its own application class and security headers). Each page starts its viewer with an
inline script, which runs under a nonce drawn for that one response; every other page keeps a
policy that runs no inline script at all.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from hub.api.headers import DOCS_POLICY

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs-assets"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
# Swagger UI would send the OpenAPI document to validator.swagger.io for its badge.
SWAGGER_PARAMETERS = {"validatorUrl": None}
STYLESHEET = "/static/api-docs.css"
HUB_NAME = "Territorial data hub"

router = APIRouter(include_in_schema=False)


def assets() -> StaticFiles:
    """The viewers' files, to mount at ASSETS_URL; a missing one stops the start, naming it."""
    missing = [name for name in ASSETS if not (ASSETS_DIR / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline has no {', '.join(missing)} in {ASSETS_DIR}")
    return StaticFiles(directory=ASSETS_DIR)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the hub's OpenAPI document."""
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} — API",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )
    return with_nonce(framed(page, root, other=("ReDoc", "/redoc")))


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the hub's OpenAPI document."""
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} — API reference",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
        with_google_fonts=False,
    )
    return with_nonce(framed(page, root, other=("Swagger UI", "/docs")))


def framed(page: HTMLResponse, root: str, other: tuple[str, str]) -> HTMLResponse:
    """The viewer's page in English, under a header back to the catalogue, inside <main>.

    The viewers' stock pages name no language and have no landmark or way back; the stylesheet
    darkens the colours axe finds too pale (hub/ui/static/api-docs.css). The links offer the
    plain OpenAPI document and the other viewer, for whom this one does not work.
    """
    name, path = other
    header = (
        '<header class="docs-bar"><nav aria-label="Site">'
        f'<a href="{root}/">{HUB_NAME}: catalogue</a>'
        f'<a href="{root}/openapi.json">OpenAPI document (JSON)</a>'
        f'<a href="{root}{path}">{name}</a></nav></header>'
    )
    html = bytes(page.body).decode("utf-8")
    html = html.replace("<html>", '<html lang="en">', 1).replace(
        "</head>", f'<link rel="stylesheet" href="{root}{STYLESHEET}">\n</head>', 1
    )
    # The viewer's element (ReDoc's <redoc>, Swagger UI's <div>) goes in <main>, the scripts after.
    viewer = "<redoc" if "<redoc" in html else '<div id="swagger-ui">'
    closing = "</redoc>" if viewer == "<redoc" else "</div>"
    before, rest = html.split(viewer, 1)
    inside, after = rest.split(closing, 1)
    html = f"{before}{header}\n<main>{viewer}{inside}{closing}</main>{after}"
    return HTMLResponse(html)


def with_nonce(page: HTMLResponse) -> HTMLResponse:
    """The page with a fresh nonce on its scripts, and the policy that lets only those run."""
    nonce = secrets.token_urlsafe(18)
    html = bytes(page.body).decode("utf-8").replace("<script", f'<script nonce="{nonce}"')
    policy = DOCS_POLICY.replace("script-src 'self'", f"script-src 'self' 'nonce-{nonce}'", 1)
    return HTMLResponse(
        html, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"}
    )
