"""A database that restarts or a lock held too long: 503 with Retry-After, never a hang or a 500."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from hub import outage
from hub.api.ckan.replies import MEDIA_TYPE, failure_body, is_ckan_path
from hub.api.origin import route_path
from hub.db import DatabaseLocked

# What a database outage raises: the pool (pre-ping) recovers by itself once the server is back.
OUTAGES: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    DatabaseLocked,
)
RETRY_AFTER = "5"
MESSAGE = "the database is unavailable for a moment; retry shortly"


async def answer_unavailable(request: Request, exc: Exception) -> Response:
    """503 in the route's own shape (CKAN's envelope under the CKAN API)."""
    # No traceback, and no line per request: the outage's start, reminders and end (hub.outage).
    outage.DATABASE.failed(exc, f"{request.method} {request.url.path}")
    headers = {"Retry-After": RETRY_AFTER}
    if is_ckan_path(route_path(request.scope)):  # the path without a root path
        return Response(
            failure_body(request.scope, "Service Unavailable", MESSAGE),
            503,
            headers=headers,
            media_type=MEDIA_TYPE,
        )
    return JSONResponse({"detail": MESSAGE}, status_code=503, headers=headers)
