"""One CAP `<alert>` element (CAP 1.2, 1.1 or 1.0) into risk-alert rows: one per `<info>` block.

Values stay as the alert writes them (times with their offsets, codes as spelled):
normalisation comes after. The reader only applies CAP's own rules: `language` defaults to
en-US, `effective` to the alert's `sent`, and an area's `lat,lon` becomes GeoJSON `[lon, lat]`.

The three versions give the same rows: their elements have the same names, read in the alert's
own namespace. What differs is handled here:
- CAP 1.0's certainty `Very Likely` is `Likely` from 1.1 on (their schemas' enumerations): it is
  read as `Likely`, whatever the version the alert declares.
- CAP 1.0's `<password>` (removed in 1.1) is a credential: it gives no field, and the alert's kept
  document is written without it (`without_password`), so it is never published.
- CAP 1.0 has no `<responseType>` (the field stays empty) and makes `<scope>` and `<category>`
  optional, which risk-alert requires: an alert without them is quarantined with the reason.
- 1.0's `eventCode`, `parameter` and `geocode` are `name=value` texts rather than pairs: the rows
  keep none of them, whatever the version.

`web` must be "a full, absolute URI" (CAP 1.2, info.web), and risk-alert's `web` is a `uri`. Some
senders write a bare host name instead (Algeria's ONM: `<web>www.meteo.dz</web>`). Refusing the
alert for its link would withhold life-safety information, and prefixing `https://` would be a
guess: read as the URI reference it is, `www.meteo.dz` is a relative path, not a host, and
nothing says the site serves https. So a `web` without a scheme is left empty, the alert is
published, and a warning names the value as written.
"""

from __future__ import annotations

import base64
import copy
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipelines.readers.cap_area import AreaError, Shape, area_of
from pipelines.readers.cap_xml import SIGNATURE, local_name, namespace_of, text_of, texts_of

ALERT_FIELDS = ("identifier", "sender", "sent", "status", "msgType", "scope")
INFO_FIELDS = (
    "event", "urgency", "severity", "certainty", "effective", "onset", "expires",
    "senderName", "headline", "description", "instruction", "web",
)  # fmt: skip
LISTED_FIELDS = ("category", "responseType")  # repeated elements, joined by spaces
SHAPES = ("polygon", "circle")
DEFAULT_LANGUAGE = "en-US"  # CAP 1.2, info.language
DEPRECATED = {"certainty": {"Very Likely": "Likely"}}  # CAP 1.0 values, as 1.1 renamed them
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # RFC 3986: what an absolute URI starts with

log = logging.getLogger(__name__)

Row = dict[str, str | None]


@dataclass
class InfoRow:
    """One row: the raw field values, and the problems that will quarantine it."""

    values: Row
    problems: list[tuple[str | None, str]] = field(default_factory=list)  # (field, note)


@dataclass
class Alert:
    """An alert's identity in a feed, and its rows."""

    key: tuple[str, str, str]  # sender, identifier, sent as an instant: what dedupe compares
    rows: list[InfoRow]


def is_signed(alert: ET.Element) -> bool:
    """Whether the alert carries an enveloped XML-DSig `<Signature>`."""
    return alert.find(SIGNATURE) is not None


def without_password(alert: ET.Element) -> ET.Element | None:
    """A copy of a CAP 1.0 alert without its `<password>`, nor the signature that covered it;
    None when the alert has no password."""
    password = f"{{{namespace_of(alert.tag)}}}password"
    if alert.find(password) is None:
        return None
    public = copy.deepcopy(alert)
    for child in [c for c in public if c.tag in (password, SIGNATURE)]:
        public.remove(child)
    return public


def read_alert(alert: ET.Element, verbatim: bytes | None = None) -> Alert:
    """The rows of a CAP alert; `verbatim`: its document as received, kept on every row
    (as `signed_xml` when the alert is signed, else as `cap_xml`)."""
    cap = namespace_of(alert.tag)  # 1.2, 1.1 or 1.0: the same names in each
    common: Row = {name: text_of(alert, name, cap) for name in ALERT_FIELDS}
    references = text_of(alert, "references", cap)
    common["references"] = " ".join(references.split()) if references else None
    if verbatim is not None:
        # base64: a signature holds for exact bytes, whatever their encoding or end whitespace;
        # an unsigned original is served as it came, so its bytes are kept just as exactly.
        kept = "signed_xml" if is_signed(alert) else "cap_xml"
        common[kept] = base64.b64encode(verbatim).decode("ascii")
    infos = alert.findall(f"{{{cap}}}info")
    rows = [info_row(info, index, common) for index, info in enumerate(infos)]
    if not rows:
        # Valid CAP (a Cancel, Ack or Error often has no info) but no risk-alert row: the
        # schema needs an event, urgency … Quarantined with its reason rather than dropped.
        rows = [InfoRow(dict(common), [(None, _no_info_note(common))])]
    return Alert(_key(common), rows)


def info_row(info: ET.Element, index: int, common: Row) -> InfoRow:
    """The row of one `<info>` block, with the alert's own fields."""
    cap = namespace_of(info.tag)
    values: Row = {**common, "info_index": str(index)}
    values["language"] = text_of(info, "language", cap) or DEFAULT_LANGUAGE
    values.update({name: text_of(info, name, cap) for name in INFO_FIELDS})
    for name, renamed in DEPRECATED.items():
        values[name] = renamed.get(values[name] or "", values[name])
    values["web"] = _absolute_web(values, index)
    values.update({name: " ".join(texts_of(info, name, cap)) or None for name in LISTED_FIELDS})
    values["effective"] = values["effective"] or common["sent"]
    areas = info.findall(f"{{{cap}}}area")
    described = (text_of(area, "areaDesc", cap) for area in areas)
    values["area_desc"] = " ; ".join(d for d in described if d) or None
    row = InfoRow(values)
    try:
        area = area_of(shapes_of(areas))
    except AreaError as exc:
        row.problems.append(("area", f"info {index}: {exc}"))
        return row
    values["area"] = area.geometry
    values["longitude"] = None if area.longitude is None else repr(area.longitude)
    values["latitude"] = None if area.latitude is None else repr(area.latitude)
    return row


def shapes_of(areas: list[ET.Element]) -> list[Shape]:
    """The polygons and circles of an info block's areas, in document order, named."""
    shapes: list[Shape] = []
    for number, area in enumerate(areas, 1):
        cap = namespace_of(area.tag)
        desc = text_of(area, "areaDesc", cap)
        where = f"area {number}" + (f" ({desc!r})" if desc else "")
        counts = dict.fromkeys(SHAPES, 0)
        for child in area:
            kind = local_name(child.tag)
            if child.tag != f"{{{cap}}}{kind}" or kind not in SHAPES:
                continue  # areaDesc, geocode, altitude, ceiling: no geometry
            counts[kind] += 1
            if not (child.text or "").strip():
                continue  # NWS writes <polygon></polygon> for an area given by geocodes only
            shapes.append(Shape(kind, child.text or "", f"{where}, {kind} {counts[kind]}"))
    return shapes


def _absolute_web(values: Row, index: int) -> str | None:
    """The info's `web` if it is an absolute URI; else None, with a warning naming it."""
    web = values["web"]
    if web is None or SCHEME.match(web):
        return web
    log.warning(
        "alert %r of %r, info %d: <web> %r is not an absolute URI (CAP asks for one); "
        "the alert is published with web empty",
        values["identifier"], values["sender"], index, web,
    )  # fmt: skip
    return None


def _key(common: Row) -> tuple[str, str, str]:
    """(sender, identifier, sent): `sent` as a UTC instant, so +04:00 and Z spellings match."""
    sent = common["sent"] or ""
    try:
        moment = datetime.fromisoformat(sent)
        if moment.tzinfo is not None:
            sent = moment.astimezone(UTC).isoformat()
    except ValueError:
        pass  # compared as written: normalisation reports the bad timestamp
    return common["sender"] or "", common["identifier"] or "", sent


def _no_info_note(common: Row) -> str:
    """Why an alert without `<info>` gives no publishable row."""
    about = f" of {common['references']}" if common["references"] else ""
    return (
        f"alert {common['identifier']!r} ({common['msgType']}{about}) has no <info> block: "
        "a risk-alert row needs its event, category, urgency, severity and certainty"
    )
