"""GET /healthz: the process answers (liveness); GET /readyz: it can serve (readiness)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hub import __version__, readiness
from hub.api.deps import SessionDep
from hub.db import get_engine

router = APIRouter(tags=["health"])

READINESS = {  # the body /readyz answers with either status
    "type": "object",
    "required": ["status", "version", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not ready"]},
        "version": {"type": "string"},
        "checks": {
            "type": "object",
            "description": "each check by name (store, integrity, bus): `ok`, or what is wrong",
            "additionalProperties": {"type": "string"},
        },
    },
}


@router.get("/healthz")
def healthz(session: SessionDep) -> dict[str, str]:
    """Liveness and database reachability: cheap, for a probe that restarts a dead process."""
    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok", "version": __version__}


@router.get(
    "/readyz",
    response_class=JSONResponse,
    responses={
        200: {"description": "ready", "content": {"application/json": {"schema": READINESS}}},
        503: {
            "description": "not ready: the failed checks say why",
            "content": {"application/json": {"schema": READINESS}},
        },
    },
)
async def readyz() -> JSONResponse:
    """Readiness: the store answers and takes an access-log write, the bus answers (with
    HUB_BUS_URL), the SQLite store passed its integrity check at start. 503 naming the failed
    check otherwise: send no traffic here, but do not restart (a restart mends none of them)."""
    checks = await run_in_threadpool(readiness.checks, get_engine())
    ready = all(verdict == readiness.OK for verdict in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "version": __version__, "checks": checks},
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )
