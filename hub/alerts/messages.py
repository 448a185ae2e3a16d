"""The risk-alert rows of a derived alert, its Updates and its Cancel, as the hub sends them.

Identifiers are made of the rule, the series and the episode's first period, so the same episode
always names the same alert (CAP identifiers hold no spaces, commas, `<` or `&`); an Update adds
the expiry it sets, a Cancel `.end`. None depends on when the hub judged. Each message is `sent`
when the hub judged (CAP: when it was originated; a reader polling for new entries must meet it),
and tells the data's times in `onset` and `effective`. An alert `expires` its rule's grace after
the end of the episode's last period over the threshold, and an Update pushes that forward while
newer periods extend the episode: data that stops coming leaves no alert current forever.
The area is a circle around the station, stored as the `cap` reader stores one (a 64-vertex
geodesic ring), and so published back as a CAP `<circle>`. Every message carries the CAP status
of the data it was judged from (its series': Exercise or Test for data so marked), a Cancel that
of the alert it cancels. The crisis authority may also cancel an alert sent in error
(`error_cancel_row`).

A message is one row per CAP `<info>`, one info per language the rule writes in (in its order,
`info_index` 0, 1 …), all with the message's identifier and `sent`: the chains of Alert, Update
and Cancel key on identifiers, never on rows. Each info names the source the data came from,
its licence and a link to it (hub.alerts.attribution), in its description and `web`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from hub.alerts.attribution import Credit
from hub.alerts.episodes import Episode, Period, period_end, period_length
from hub.alerts.moments import cap_time, instant, stored_time
from hub.alerts.rules import Rule, Wording
from hub.alerts.wording import filled, sentence, words
from hub.config import get_settings
from pipelines.readers.cap_area import circle_ring, geometry_text

UNSAFE = re.compile(r"[^A-Za-z0-9._:-]+")
FOLLOWING = re.compile(r"\.(?:end|until\d{8}T\d{6}Z)$")  # a Cancel's, an Update's suffix
MIN_GRACE = timedelta(hours=3)

Row = dict[str, str | None]


@dataclass(frozen=True)
class Series:
    """One series a rule judges: its key values, a name for people, and where it is."""

    key: tuple[str, ...]
    name: str
    longitude: float | None
    latitude: float | None
    status: str = "Actual"  # CAP status of the data judged: Actual, Exercise or Test
    credit: Credit | None = None  # the attribution its dataset's charter requires


def identifier_of(rule: Rule, series: Series, start: datetime) -> str:
    """The alert identifier of an episode of a series that starts at `start`."""
    return f"{series_prefix(rule, series)}{start.astimezone(UTC):%Y%m%dT%H%M}Z"


def series_prefix(rule: Rule, series: Series) -> str:
    """What the identifiers of every episode of a series start with."""
    key = ".".join(UNSAFE.sub("-", part).strip("-") or "-" for part in series.key)
    return f"hub.{rule.id}.{key}."


def episode_of(identifier: str) -> str:
    """The identifier of the Alert of the episode a message (Alert, Update, Cancel) is about."""
    return FOLLOWING.sub("", identifier)


def default_sender() -> str:
    """`hub@<host of HUB_PUBLIC_URL>`, or hub@localhost when the hub has no public address."""
    host = urlsplit(get_settings().public_url).hostname or "localhost"
    return f"hub@{host}"


def grace(rule: Rule) -> timedelta:
    """How long an alert stays in force after its last period over the threshold ends: the
    rule's `expires_after`, else one period and at least MIN_GRACE (data comes late)."""
    declared = rule.alert.expires_after
    return declared if declared is not None else max(period_length(rule), MIN_GRACE)


def expiry_of(rule: Rule, episode: Episode) -> datetime:
    """When the alert of an episode expires unless newer data extends it."""
    return period_end(rule, episode.periods[-1].start) + grace(rule)


def alert_row(rule: Rule, series: Series, episode: Episode, now: datetime) -> list[Row]:
    """The rows (one per language) of the Alert an episode raises, sent `now` (when the hub
    judged it): the data's times are its onset and effective time, so a reader polling for
    what is new meets it."""
    first = episode.periods[0]
    ident = identifier_of(rule, series, episode.start)
    return _announced(rule, series, episode, first, ident, "Alert", None, now)


def update_row(
    rule: Rule, series: Series, episode: Episode, chain: list[Row], now: datetime
) -> list[Row]:
    """The Update pushing an alert's expiry forward when newer periods extend its episode
    (`chain`: the Alert and Updates sent for the episode so far). Named by its new expiry, so
    the same data judged again names the Update already sent."""
    expires = expiry_of(rule, episode)
    ident = f"{identifier_of(rule, series, episode.start)}.until{expires:%Y%m%dT%H%M%S}Z"
    newest = episode.periods[-1]
    return _announced(rule, series, episode, newest, ident, "Update", references(chain), now)


def latest_of(chain: list[Row]) -> Row | None:
    """The message of an episode in force: the Alert or Update that expires last."""
    told = [row for row in chain if row["msgType"] in ("Alert", "Update")]
    unset = datetime.min.replace(tzinfo=UTC)  # an Alert stored before derived alerts expired
    return max(told, key=lambda row: instant(row.get("expires")) or unset, default=None)


def references(chain: list[Row]) -> str:
    """CAP `references` of a message following `chain`: its Alert and its latest message, each
    as `sender,identifier,sent` with the `sent` that message was stored with."""
    named = [row for row in chain if row["msgType"] == "Alert"][:1]
    latest = latest_of(chain)
    if latest is not None and all(row["identifier"] != latest["identifier"] for row in named):
        named.append(latest)  # a message of several infos is named once
    return " ".join(f"{row['sender']},{row['identifier']},{cap_time(row['sent'])}" for row in named)


def _announced(
    rule: Rule,
    series: Series,
    episode: Episode,
    period: Period,
    identifier: str,
    kind: str,
    referenced: str | None,
    now: datetime,
) -> list[Row]:
    """An Alert or Update of an episode, its words those of `period`, one row per language. An
    episode already expired when judged (data harvested late, a backfill) is told with urgency
    Past."""
    expires = expiry_of(rule, episode)
    found = []
    for index, wording in enumerate(rule.alert.wordings):
        named = words(rule, series.key, series.name, wording.language, period)
        default = sentence(wording.language, "description")
        found.append(
            {
                **_common(rule, series, identifier, now, period.start, index, wording),
                "msgType": kind,
                "references": referenced,
                "responseType": rule.alert.response or None,
                "urgency": rule.alert.urgency if expires > now else "Past",
                "onset": stored_time(episode.start),
                "expires": stored_time(expires),
                "headline": filled(wording.headline, named),
                "description": _credited(
                    filled(wording.description or default, named), series, wording
                ),
                "instruction": filled(wording.instruction, named) or None,
            }
        )
    return found


def cancel_row(
    rule: Rule, series: Series, chain: list[Row], ended: Period | None, now: datetime
) -> list[Row]:
    """The Cancel of an episode's alert (`chain`: its Alert and Updates), one row per language:
    its episode ended (`ended`, the first period back under the threshold), or its data no
    longer shows it (late or corrected values). Sent `now`, never before the messages it
    cancels."""
    alerted = [row for row in chain if row["msgType"] == "Alert"]
    alert = alerted[0]
    sent = max([now, *(instant(row["sent"]) or now for row in chain)])
    effective = ended.start if ended is not None else sent
    found = []
    for index, wording in enumerate(rule.alert.wordings):
        language = wording.language
        told = next(
            (row for row in alerted if _tongue(row.get("language")) == _tongue(language)), None
        )
        headline = (told or {}).get("headline") or wording.event
        reason = sentence(language, "ended" if ended is not None else "withdrawn")
        named = words(rule, series.key, series.name, language, ended)
        found.append(
            {
                **_common(
                    rule, series, f"{alert['identifier']}.end", sent, effective, index, wording
                ),
                "status": alert.get("status") or series.status,  # of its alert's kind
                "msgType": "Cancel",
                "references": references(chain),
                "responseType": "AllClear",
                "urgency": "Past",
                "onset": alert.get("onset"),
                "expires": None,
                "headline": filled(sentence(language, "ended_headline"), {"headline": headline}),
                "description": _credited(filled(reason, named), series, wording),
                "instruction": None,
            }
        )
    return found


def _common(
    rule: Rule,
    series: Series,
    identifier: str,
    sent: datetime,
    effective: datetime,
    index: int,
    wording: Wording,
) -> Row:
    """What an Alert, its Updates and its Cancel share: sender, status, the info's codes, its
    language, the area and the link to the source's data."""
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
        "status": series.status,
        "scope": "Public",
        "signed_xml": None,
        "info_index": str(index),
        "language": wording.language,
        "category": text.category,
        "event": wording.event,
        "severity": text.severity,
        "certainty": text.certainty,
        "effective": stored_time(effective),
        "senderName": wording.sender_name,
        "web": series.credit.link if series.credit else None,
        "area_desc": series.name,
        "area": area,
        "longitude": repr(series.longitude) if located else None,
        "latitude": repr(series.latitude) if located else None,
    }


def _tongue(language: object) -> str:
    """A CAP language's primary subtag: `fr` of `fr-FR` (an alert sent in `en` before its rule
    said `en-GB` is still the English one)."""
    return str(language or "").lower().split("-")[0]


def _credited(text: str, series: Series, wording: Wording) -> str:
    """An info's description followed by the attribution its source requires."""
    if series.credit is None:
        return text
    return f"{text}\n\n{series.credit.text(wording.language)}"


@lru_cache(maxsize=4096)
def _circle(longitude: float, latitude: float, radius_km: float) -> str | None:
    """A station's circle as GeoJSON, drawn as the `cap` reader draws a CAP circle."""
    return geometry_text([circle_ring([longitude, latitude], radius_km)])


def error_cancel_row(chain: list[Row], reason: str, by: str, now: datetime) -> list[Row]:
    """The Cancel of an alert sent in error (`chain`: its Alert and Updates), issued by the
    crisis authority `by`, with each info of the alert (its language, codes and area): CAP's
    answer to a message sent in error. Named as the episode's own Cancel, so the rules never
    raise that episode again."""
    alerted = [row for row in chain if row["msgType"] == "Alert"]
    sent = max([now, *(instant(row["sent"]) or now for row in chain)])
    found = []
    for info in sorted(alerted, key=lambda row: int(row.get("info_index") or 0)):
        language = str(info.get("language") or "en")
        told = info.get("headline") or info.get("event")
        why = reason.strip() and filled(sentence(language, "reason"), {"reason": reason.strip()})
        found.append(
            {
                **{name: _text(info.get(name)) for name in _KEPT},
                "identifier": f"{alerted[0]['identifier']}.end",
                "sent": stored_time(sent),
                "msgType": "Cancel",
                "references": references(chain),
                "responseType": "AllClear",
                "urgency": "Past",
                "effective": stored_time(sent),
                "expires": None,
                "headline": filled(sentence(language, "error_headline"), {"headline": str(told)}),
                "description": filled(sentence(language, "error"), {"by": by}) + (why or ""),
                "instruction": None,
                "signed_xml": None,
            }
        )
    return found


# What an error's Cancel keeps of the alert: who sent it, its status, codes and area.
_KEPT = (
    *("sender", "status", "scope", "info_index", "language", "category", "event", "severity"),
    *("certainty", "onset", "senderName", "web", "area_desc", "area", "longitude", "latitude"),
)


def _text(value: object) -> str | None:
    """A value read back from the alerts' dataset as the rows are written: text, or None."""
    if value is None:
        return None
    if isinstance(value, dict | list):  # an area read back as GeoJSON
        return json.dumps(value, separators=(",", ":"))
    return stored_time(value) if isinstance(value, datetime) else str(value)
