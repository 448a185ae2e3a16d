"""/api/v1/alerts.atom and /api/v1/alerts/{id}.cap: CAP 1.2 alerts out, harvested and derived;
/api/v1/alerts/{id}/cancel: the crisis authority cancels a hub alert sent in error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from hub import jsontext
from hub.alerts import atom, cancellation, current, derived, document
from hub.api.auth import CallerDep, require_role
from hub.api.deps import SessionDep
from hub.api.guards import base_url
from hub.reading import engine_of

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


class CancelOut(BaseModel):
    """The CAP Cancel published for an alert sent in error."""

    id: str = Field(description="the Cancel's id: its CAP document is /api/v1/alerts/{id}.cap")
    identifier: str
    sender: str
    sent: str
    status: str = Field(description="the cancelled alert's CAP status")
    references: str = Field(description="CAP references: the alert and its latest message")


@router.post(
    "/alerts/{alert_id}/cancel",
    status_code=201,
    response_model=CancelOut,
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"reason": {"type": "string", "maxLength": 500}},
                    }
                }
            },
        }
    },
    responses={
        401: {"description": "no valid token"},
        403: {"description": "not an admin token"},
        404: {"description": "the hub raised no such alert"},
        409: {"description": "cancelled already, or not a hub alert"},
    },
)
async def cancel_alert(
    request: Request, session: SessionDep, caller: CallerDep, alert_id: str
) -> CancelOut:
    """Cancel a hub alert sent in error (an alert id, or its CAP identifier): a CAP Cancel
    that references it goes to the Atom index, the feed and the alerts dataset."""
    actor = require_role(caller, "admin")
    reason = _reason(await request.body())
    try:
        row = await run_in_threadpool(
            cancellation.cancel_in_error,
            engine_of(session),
            alert_id,
            by=f"the crisis authority (token {actor.id})",
            reason=reason,
        )
    except cancellation.NoSuchAlert as missing:
        raise HTTPException(404, missing.reason) from None
    except cancellation.CancelRefused as refused:
        raise HTTPException(409, refused.reason) from None
    sender, identifier = str(row["sender"]), str(row["identifier"])
    return CancelOut(
        id=current.alert_id(derived.DATASET, sender, identifier),
        identifier=identifier,
        sender=sender,
        sent=str(row["sent"]),
        status=str(row["status"]),
        references=str(row["references"]),
    )


def _reason(body: bytes) -> str:
    """The optional `reason` of a cancel's body, or a 400."""
    if not body.strip():
        return ""
    try:
        payload: Any = jsontext.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, 'the body must be JSON: {"reason": "…"}') from None
    if not isinstance(payload, dict) or set(payload) - {"reason"}:
        raise HTTPException(400, 'the body takes only {"reason": "…"}')
    reason = payload.get("reason", "")
    if not isinstance(reason, str) or len(reason) > cancellation.MAX_REASON:
        raise HTTPException(400, f"reason must be text of at most {cancellation.MAX_REASON}")
    return reason
