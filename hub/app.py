"""create_app(): the catalogue service — routers, lifespan (database, bus), UI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hub import __version__
from hub.api import ckan, datasets, health
from hub.bus import get_bus
from hub.db import get_engine, upgrade
from hub.runs import recover_stale_runs
from hub.ui import views

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Bring the database to the latest migration and settle interrupted runs."""
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
    app.include_router(ckan.router)
    app.include_router(views.router)
    app.mount("/static", StaticFiles(directory=views.STATIC_DIR), name="static")
    return app
