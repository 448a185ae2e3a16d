"""The risk-alert rows of a derived alert and of its Cancel, as the hub sends them.

Identifiers are made of the rule, the series and the episode's first period, so the same episode
always names the same alert (CAP identifiers hold no spaces, commas, `<` or `&`). The area is a
circle around the station, stored as the `cap` reader stores one (a 64-vertex geodesic ring),
and so published back as a CAP `<circle>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from hub.alerts.episodes import Episode, Period
from hub.alerts.moments import cap_time, instant, stored_time
from hub.alerts.rules import Rule
from hub.config import get_settings
from pipelines.readers.cap_area import circle_ring, geometry_text

UNSAFE = re.compile(r"[^A-Za-z0-9._:-]+")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
AGGREGATIONS = {"none": "value", "hourly-mean": "hourly mean", "daily-mean": "daily mean"}

Row = dict[str, str | None]


@dataclass(frozen=True)
class Series:
    """One series a rule judges: its key values, a name for people, and where it is."""

    key: tuple[str, ...]
    name: str
    longitude: float | None
    latitude: float | None


def identifier_of(rule: Rule, series: Series, start: datetime) -> str:
    """The alert identifier of an episode of a series that starts at `start`."""
    return f"{series_prefix(rule, series)}{start.astimezone(UTC):%Y%m%dT%H%M}Z"


def series_prefix(rule: Rule, series: Series) -> str:
    """What the identifiers of every episode of a series start with."""
    key = ".".join(UNSAFE.sub("-", part).strip("-") or "-" for part in series.key)
    return f"hub.{rule.id}.{key}."


def default_sender() -> str:
    """`hub@<host of HUB_PUBLIC_URL>`, or hub@localhost when the hub has no public address."""
    host = urlsplit(get_settings().public_url).hostname or "localhost"
    return f"hub@{host}"


def alert_row(rule: Rule, series: Series, episode: Episode) -> Row:
    """The row of the Alert an episode raises (sent when its first period was judged)."""
    first = episode.periods[0]
    sent = first.last_seen
    text = rule.alert
    words = _words(rule, series, first)
    expires = sent + timedelta(hours=text.expires_hours) if text.expires_hours else None
    return {
        **_common(rule, series, identifier_of(rule, series, episode.start), sent),
        "msgType": "Alert",
        "references": None,
        "responseType": text.response or None,
        "urgency": text.urgency,
        "onset": stored_time(episode.start),
        "expires": stored_time(expires) if expires else None,
        "headline": _filled(text.headline, words),
        "description": _filled(text.description or _DESCRIPTION, words),
        "instruction": _filled(text.instruction, words) or None,
    }


def cancel_row(rule: Rule, series: Series, raised: Row, ended: Period | None, now: datetime) -> Row:
    """The Cancel of a raised alert: its episode ended (`ended`), or its data no longer shows
    it (late or corrected values)."""
    sent = ended.last_seen if ended is not None else now
    words = _words(rule, series, ended)
    reason = _ENDED if ended is not None else _WITHDRAWN
    reference = f"{raised['sender']},{raised['identifier']},{cap_time(raised['sent'])}"
    return {
        **_common(
            rule, series, f"{raised['identifier']}.end", max(sent, instant(raised["sent"]) or sent)
        ),
        "msgType": "Cancel",
        "references": reference,
        "responseType": "AllClear",
        "urgency": "Past",
        "onset": raised.get("onset"),
        "expires": None,
        "headline": f"Ended: {raised.get('headline') or rule.alert.event}",
        "description": _filled(reason, words),
        "instruction": None,
    }


def _common(rule: Rule, series: Series, identifier: str, sent: datetime) -> Row:
    """What an Alert and its Cancel share: sender, status, the info's codes and the area."""
    text = rule.alert
    located = series.longitude is not None and series.latitude is not None
    area = (
        _circle(series.longitude or 0.0, series.latitude or 0.0, text.radius_km)
        if located
        else None
    )
    return {
        "identifier": identifier,
        "sender": rule.sender or default_sender(),
        "sent": stored_time(sent),
        "status": "Actual",
        "scope": "Public",
        "signed_xml": None,
        "info_index": "0",
        "language": text.language,
        "category": text.category,
        "event": text.event,
        "severity": text.severity,
        "certainty": text.certainty,
        "effective": stored_time(sent),
        "senderName": text.sender_name,
        "web": None,
        "area_desc": series.name,
        "area": area,
        "longitude": repr(series.longitude) if located else None,
        "latitude": repr(series.latitude) if located else None,
    }


@lru_cache(maxsize=4096)
def _circle(longitude: float, latitude: float, radius_km: float) -> str | None:
    """A station's circle as GeoJSON, drawn as the `cap` reader draws a CAP circle."""
    return geometry_text([circle_ring([longitude, latitude], radius_km)])


_DESCRIPTION = (
    "{rule_title}: at {station}, the {aggregation} was {value} {unit} for the period from "
    "{start} ({comparison} {threshold} {unit})."
)
_ENDED = (
    "The episode is over: at {station}, the {aggregation} is back to {value} {unit} for the "
    "period from {start} (threshold {threshold} {unit})."
)
_WITHDRAWN = (
    "Withdrawn: the data now published for {station} no longer shows the {aggregation} "
    "{comparison} {threshold} {unit} that this alert reported."
)


def _words(rule: Rule, series: Series, period: Period | None) -> dict[str, str]:
    """What a rule's texts may name between braces."""
    local = ZoneInfo(rule.timezone)
    return {
        "station": series.name,
        "series": " ".join(series.key),
        "field": rule.field,
        "aggregation": AGGREGATIONS[rule.aggregation],
        "comparison": rule.comparison,
        "threshold": _figure(rule.threshold),
        "unit": rule.unit,
        "rule": rule.id,
        "rule_title": rule.title,
        "value": _figure(period.value) if period else "",
        "start": period.start.astimezone(local).isoformat(timespec="minutes") if period else "",
    }


def _filled(template: str, words: dict[str, str]) -> str:
    """`{name}` placeholders replaced by their words; unknown ones left as written."""
    return PLACEHOLDER.sub(lambda m: words.get(m.group(1), m.group(0)), template).strip()


def _figure(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
