"""The current alerts over a crisis area, read with the visitor's grant (hub.alerts.current,
through hub.reading), gravest first, each in the visitor's language where it has one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from hub import events, reading
from hub.alerts import current
from hub.ui.situation_rows import Perimeter

SEVERITY_RANK = {name: rank for rank, name in enumerate(events.SEVERITIES)}


@dataclass(frozen=True)
class AlertRow:
    """One current alert over the area, in the visitor's language where it has one."""

    id: str
    dataset_id: str
    sender: str
    identifier: str
    severity: str
    status: str  # CAP status: Actual, or Exercise on an exercise's page
    headline: str
    event: str
    area_desc: str
    language: str  # CAP's info.language of the texts above (en-US when the alert says none)
    sent: datetime
    expires: datetime | None
    geometry: dict[str, Any] | None


def alerts_over(
    session: Session,
    caller: reading.Caller,
    perimeter: Perimeter,
    now: datetime,
    language: str,
    statuses: tuple[str, ...] = ("Actual",),
) -> list[AlertRow]:
    """The caller's current alerts of `statuses` (Actual; an exercise's page adds Exercise)
    whose area meets the perimeter, gravest first."""
    found = []
    for alert in current.current_alerts(session, caller, now, status=None):
        status = str(alert.rows[0].get("status") or "Actual")
        if status not in statuses:
            continue
        info = _info_in(alert.rows, language)
        geometry = _geometry(info)
        if not perimeter.meets(geometry):
            continue
        found.append(
            AlertRow(
                id=alert.id,
                dataset_id=alert.dataset_id,
                sender=alert.sender,
                identifier=alert.identifier,
                severity=max(
                    (str(row.get("severity") or "Unknown") for row in alert.rows),
                    key=lambda name: SEVERITY_RANK.get(name, 0),
                ),
                status=status,
                headline=str(info.get("headline") or info.get("event") or alert.identifier),
                event=str(info.get("event") or ""),
                area_desc=str(info.get("area_desc") or ""),
                language=str(info.get("language") or ""),
                sent=alert.sent,
                expires=alert.expires(),
                geometry=geometry,
            )
        )
    found.sort(key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), -a.sent.timestamp()))
    return found


def _info_in(rows: list[dict[str, Any]], language: str) -> dict[str, Any]:
    """The info block in `language` (`fr`, `fr-FR` …), else the first."""
    for row in rows:
        if str(row.get("language") or "").lower().split("-")[0] == language:
            return row
    return rows[0]


def _geometry(row: dict[str, Any]) -> dict[str, Any] | None:
    """An alert row's area as GeoJSON (stored as JSON text or an object), else its point."""
    area = row.get("area")
    if isinstance(area, str) and area.strip().startswith("{"):
        try:
            area = json.loads(area)
        except ValueError:
            area = None
    if isinstance(area, dict) and area.get("type"):
        return area
    lon, lat = row.get("longitude"), row.get("latitude")
    if isinstance(lon, int | float) and isinstance(lat, int | float):
        return {"type": "Point", "coordinates": [lon, lat]}
    return None
