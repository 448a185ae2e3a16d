"""/api/v1/alerts.atom and /api/v1/alerts/{id}.cap: CAP 1.2 alerts out, harvested and derived."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from hub.alerts import atom, current, document
from hub.api.auth import CallerDep
from hub.api.deps import SessionDep
from hub.api.guards import base_url

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get(
    "/alerts.atom",
    response_class=Response,
    responses={200: {"content": {atom.MEDIA: {}}}},
)
def alerts_index(
    request: Request,
    session: SessionDep,
    caller: CallerDep,
    status: Literal["Actual", "Exercise", "System", "Test", "Draft", "all"] = Query(
        "Actual", description="CAP status of the alerts listed; `all` for every status"
    ),
) -> Response:
    """Atom index of the current alerts the caller may read, each linking its CAP document."""
    now = datetime.now(UTC)
    alerts = current.current_alerts(session, caller, now, None if status == "all" else status)
    body = atom.atom_index(alerts, base_url(request), now)
    return Response(body, media_type=atom.MEDIA, headers={"Cache-Control": "no-cache"})


@router.get(
    "/alerts/{alert_id}.cap",
    response_class=Response,
    responses={
        200: {"content": {document.MEDIA_TYPE: {}}},
        404: {"description": "no such alert, or one the caller may not read"},
    },
)
def alert_document(session: SessionDep, caller: CallerDep, alert_id: str) -> Response:
    """One alert as a CAP 1.2 document, byte for byte as it was received when it can be."""
    try:
        found = current.find_alert(session, caller, alert_id)
    except current.UnknownAlert:
        raise HTTPException(404, "no such alert") from None
    return Response(document.cap_document(found.rows), media_type=document.MEDIA_TYPE)
