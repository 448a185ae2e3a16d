"""create_app(): the catalogue service — routers, lifespan (database, bus), UI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from hub import __version__
from hub.api import access_log, ckan, datasets, health
from hub.audit import AuditUnavailable
from hub.bus import get_bus
from hub.db import get_engine, upgrade
from hub.keys import secret_key
from hub.runs import recover_stale_runs
from hub.ui import views

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Check the secret key, bring the database to the latest migration, settle interrupted runs."""
    secret_key()  # a short HUB_SECRET_KEY stops the start here, with the reason
    engine = get_engine()
    upgrade(engine)
    recover_stale_runs(engine)
    get_bus()
    yield


def create_app() -> FastAPI:
    """The hub's ASGI application."""
    app = FastAPI(
        title="Territorial data hub",
        version=__version__,
        summary="Environmental and crisis data of a territory: catalogue, records, CKAN API.",
        lifespan=lifespan,
        redirect_slashes=False,  # ckanapi POSTs without following redirects
    )
    app.include_router(health.router)
    app.include_router(datasets.router)
    app.include_router(access_log.router)
    app.include_router(ckan.router)
    app.include_router(views.router)
    app.mount("/static", StaticFiles(directory=views.STATIC_DIR), name="static")
    app.add_exception_handler(AuditUnavailable, refuse_unlogged_read)
    return app


async def refuse_unlogged_read(_request: Request, exc: Exception) -> JSONResponse:
    """No read of non-open data goes unlogged: when the log cannot be written, 503."""
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})
