"""GET /healthz: is the hub up and its database reachable."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from hub import __version__
from hub.api.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: SessionDep) -> dict[str, str]:
    """Liveness and database reachability."""
    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return {"status": "ok", "version": __version__}
