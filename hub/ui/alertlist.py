"""An alert dataset's page: its alerts as a list a citizen reads, not a chart.

A CAP dataset's only number is `info_index`, the position of an info block in its alert: charted
over time it says nothing. Its page lists the alerts instead (headline, area, severity, validity),
and its record table puts those human columns before the protocol's technical ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.records import Layout

ALERTS_SHOWN = 50
# What a reader asks first, in the order Vigicrues and Météo-France vigilance pages answer it.
HUMAN_FIRST = (
    "headline",
    "area_desc",
    "severity",
    "urgency",
    "certainty",
    "event",
    "onset",
    "effective",
    "expires",
    "sent",
    "senderName",
    "description",
    "instruction",
    "web",
    "language",
    "category",
    "responseType",
)
# The protocol's plumbing: identifiers, the signed document, the block's index.
TECHNICAL_LAST = ("info_index", "area", "cap_xml", "signed_xml")


@dataclass(frozen=True)
class AlertLine:
    """One info block of one alert, as the page lists it."""

    headline: str
    area: str
    severity: str
    event: str
    language: str
    status: str
    begins: str  # onset, else effective, else sent (ISO)
    ends: str  # expires (ISO), "" when the alert says none
    sent: str


def is_alert(shape: Layout | None) -> bool:
    """A layout of CAP alerts: the fields every CAP info block has (risk-alert's)."""
    return shape is not None and {"headline", "severity", "expires", "info_index"} <= set(
        shape.types
    )


def columns_in_reading_order(columns: list[str]) -> list[str]:
    """An alert table's columns: human ones first, then the others, plumbing last."""
    first = [c for c in HUMAN_FIRST if c in columns]
    last = [c for c in TECHNICAL_LAST if c in columns]
    return first + [c for c in columns if c not in first and c not in last] + last


def alert_lines(newest: list[dict[str, Any]]) -> list[AlertLine]:
    """The newest alerts' info blocks (rows newest first), in that order."""
    lines = []
    for row in newest[:ALERTS_SHOWN]:
        sent = _text(row.get("sent"))
        lines.append(
            AlertLine(
                headline=_text(row.get("headline")) or _text(row.get("event")),
                area=_text(row.get("area_desc")),
                severity=_text(row.get("severity")) or "Unknown",
                event=_text(row.get("event")),
                language=_text(row.get("language")),
                status=_text(row.get("status")),
                begins=_text(row.get("onset")) or _text(row.get("effective")) or sent,
                ends=_text(row.get("expires")),
                sent=sent,
            )
        )
    return lines


def _text(value: Any) -> str:
    return "" if value is None else str(value)
