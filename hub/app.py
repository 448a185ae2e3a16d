"""create_app(): the catalogue service — routers, lifespan (database, bus), UI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from hub import __version__, housekeeping, readiness
from hub.api import (
    access_log,
    contract,
    datasets,
    docs,
    grids,
    health,
    invalid,
    me,
    methods,
    mytokens,
    orgtokens,
    schemas,
    slashes,
)
from hub.api.aggregates import router as aggregates_router
from hub.api.alerts import router as alerts_router
from hub.api.ckan import replies as ckan_replies
from hub.api.ckan import routes as ckan
from hub.api.compression import compressed
from hub.api.cors import ApiCors
from hub.api.crises import router as crises_router
from hub.api.dcat import routes as dcat
from hub.api.feeds import router as feeds_router
from hub.api.headers import SecurityHeaders
from hub.api.heads import HeadAsGet
from hub.api.limits import BodyLimit
from hub.api.nul import JsonNulGuard, NulGuard
from hub.api.origin import PublicOrigin, configured_root, route_path
from hub.api.outages import OUTAGES, answer_unavailable
from hub.api.repeats import refuse_repeated
from hub.audit import AuditUnavailable
from hub.bus import get_bus
from hub.crises import passages
from hub.db import get_engine, upgrade
from hub.feeds.fanout import Fanout
from hub.feeds.sse import ServerSend
from hub.keys import secret_key
from hub.mqttbridge import start_bridge
from hub.runs import forget_personal_downloads, recover_stale_runs, watch_stale_runs
from hub.serverlog import redact_access_log
from hub.shutdown import noticing_stop
from hub.ui import pages as ui_pages
from hub.ui import routes as ui_routes

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Check the secret key, bring the database to the latest migration, settle interrupted runs."""
    secret_key()  # a short HUB_SECRET_KEY stops the start here, with the reason
    configured_root()  # so does a HUB_PUBLIC_URL that is no absolute http(s) URL
    engine = get_engine()
    upgrade(engine)
    recover_stale_runs(engine)
    forget_personal_downloads(engine)  # left by a harvest that died before its run opened
    get_bus()
    # A damaged SQLite file is said at the start (and by /readyz), not by a read's 500 later;
    # checked beside the serving, since a large store takes a while to read through.
    integrity = asyncio.create_task(
        asyncio.to_thread(readiness.check_integrity, engine), name="integrity-check"
    )
    # A harvest that dies while this server runs must not show "running" until the next one.
    watcher = asyncio.create_task(watch_stale_runs(engine), name="watch-stale-runs")
    # An idle hub forgets too: the event log's old events (personal rows among them).
    sweeper = asyncio.create_task(housekeeping.watch(engine), name="housekeeping")
    # A scheduled crisis's start and a crisis's end are `crisis` events: no request says so.
    passer = asyncio.create_task(passages.watch(engine), name="crisis-passages")
    bridge = start_bridge(engine)  # HUB_MQTT_URL set: open events to the MQTT broker too
    _app.state.mqtt_bridge = bridge
    feeds = Fanout(engine)  # the feed's one reader per process; it starts with the first stream
    _app.state.feeds = feeds
    stopping: set[asyncio.Task[None]] = set()  # held until done (the loop keeps weak refs)

    def end_streams() -> None:
        task = asyncio.create_task(feeds.stop(), name="feed-stop")
        stopping.add(task)
        task.add_done_callback(stopping.discard)

    try:
        with noticing_stop(end_streams):  # the streams end as the server's stop begins
            yield
    finally:
        await feeds.stop()
        for task in (watcher, sweeper, passer, integrity):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if bridge is not None:
            await asyncio.to_thread(bridge.stop)  # joins its threads: none outlives the app


class HubApp(FastAPI):
    """FastAPI with the hub's guards around the whole stack, Starlette's 500 page included."""

    def build_middleware_stack(self) -> ASGIApp:
        """A HEAD answered as a GET's head around everything (hub.api.heads); headers
        outermost, then compression (hub.api.compression); the public origin pinned before the
        APIs' cross-origin headers (hub.api.cors) and before the NUL and body guards answer (the
        JSON body's NUL guard inside the body limit), so their refusals are readable across
        origins too; around them all, the server's own `send` kept for event streams' chunks."""
        inner = BodyLimit(JsonNulGuard(super().build_middleware_stack()))
        guarded = compressed(PublicOrigin(ApiCors(NulGuard(inner))))
        return HeadAsGet(ServerSend(SecurityHeaders(guarded)))

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, saying the hub's 400 where FastAPI would say 422, with the
        security, headers and statuses the routes handle by hand (hub.api.contract)."""
        if self.openapi_schema is None:
            built = invalid.document(super().openapi())
            self.openapi_schema = contract.document(built, self.routes)
        return self.openapi_schema


def create_app() -> FastAPI:
    """The hub's ASGI application."""
    redact_access_log()  # here, so plain `uvicorn --factory hub.app:create_app` redacts too
    app = HubApp(
        title="Territorial data hub",
        version=__version__,
        summary="Environmental and crisis data of a territory: catalogue, records, CKAN API.",
        lifespan=lifespan,
        redirect_slashes=False,  # ckanapi POSTs without following redirects
        docs_url=None,  # /docs and /redoc come from hub.api.docs, their assets served here
        # Operation ids are the endpoints' names (`read_records`), which clients' methods take:
        # not FastAPI's default, which appends the path and method.
        generate_unique_id_function=contract.operation_id,
        redoc_url=None,
        dependencies=[Depends(refuse_repeated)],  # /api/v1's single-valued parameters: once
    )
    app.include_router(health.router)
    app.include_router(datasets.router)
    app.include_router(grids.router)
    app.include_router(schemas.router)
    app.include_router(aggregates_router)
    app.include_router(access_log.router)
    app.include_router(crises_router)
    app.include_router(alerts_router)
    app.include_router(feeds_router)
    app.include_router(mytokens.router)  # before /api/v1/me's own paths
    app.include_router(orgtokens.router)
    app.include_router(me.router)
    app.include_router(ckan.router)
    app.include_router(dcat.router)
    app.include_router(ui_routes.router)
    app.include_router(docs.router)
    app.mount(docs.ASSETS_URL, docs.assets(), name="docs-assets")
    # Compressed, as every answer, for browsers that ask: the page-weight budget (300 kB of JS
    # and CSS) is gzip's.
    app.mount("/static", StaticFiles(directory=ui_pages.STATIC_DIR), name="static")
    app.add_exception_handler(AuditUnavailable, refuse_unlogged_read)
    for outage in OUTAGES:  # PostgreSQL restarting, SQLite locked too long: 503, then recovery
        app.add_exception_handler(outage, answer_unavailable)
    # CKAN's shapes for routing and parsing errors under /api/3 and /api/action; pages for browsers.
    app.add_exception_handler(HTTPException, answer_http_error)
    app.add_exception_handler(RequestValidationError, answer_invalid_request)
    return app


async def answer_http_error(request: Request, exc: Exception) -> Response:
    """An HTTP error: a 308 for a GET of an address that names a page but for a trailing slash,
    a page for a browser at an address that names no page, CKAN's envelope on CKAN's routes,
    FastAPI's JSON everywhere else."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:  # every method the address serves, not just its first route's
        allow = methods.allowed(request.app, route_path(request.scope))
        exc = HTTPException(405, exc.detail, {**(exc.headers or {}), "Allow": allow})
    if exc.status_code == 404 and (target := slashes.canonical(request)):
        return RedirectResponse(target, status_code=308)
    if exc.status_code == 404 and invalid.wants_page(request):
        return invalid.answer_missing(request)
    answered = await ckan_replies.answer_http_error(request, exc)
    return (
        invalid.by_accept(answered)
        if exc.status_code == 404 and invalid.pages_here(request)
        else answered
    )


async def answer_invalid_request(request: Request, exc: Exception) -> Response:
    """A parameter or body FastAPI could not read: CKAN's Validation Error on CKAN's routes,
    the hub's 400 everywhere else."""
    assert isinstance(exc, RequestValidationError)
    if ckan_replies.is_ckan_path(route_path(request.scope)):
        return await ckan_replies.answer_invalid_request(request, exc)
    return invalid.answer(request, exc)


async def refuse_unlogged_read(_request: Request, exc: Exception) -> JSONResponse:
    """No read of non-open data goes unlogged: when the log cannot be written, 503."""
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})
