"""The Atom index of current alerts: one entry per alert, linking its CAP document."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # writing only
from collections.abc import Sequence
from datetime import UTC, datetime

from hub.alerts.current import Alert
from hub.alerts.document import MEDIA_TYPE

ATOM = "http://www.w3.org/2005/Atom"
MEDIA = "application/atom+xml"
# The scheme of each entry's status category (CAP's alert.status), beside its info categories.
STATUS_SCHEME = "urn:oasis:names:tc:emergency:cap:1.2#status"


def atom_index(alerts: Sequence[Alert], root: str, now: datetime) -> bytes:
    """The Atom feed of `alerts`; `root`: the hub's absolute URL, ending with a slash."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(_tag("feed"))
    _child(feed, "id", f"{root}api/v1/alerts.atom")
    _child(feed, "title", "Current alerts (CAP 1.2)")
    newest = max((alert.sent for alert in alerts), default=now)
    _child(feed, "updated", _atom_time(newest))
    author = ET.SubElement(feed, _tag("author"))
    _child(author, "name", "Territorial data hub")
    ET.SubElement(feed, _tag("link"), rel="self", type=MEDIA, href=f"{root}api/v1/alerts.atom")
    for alert in alerts:
        _entry(feed, alert, root)
    ET.indent(feed, space="  ")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _entry(feed: ET.Element, alert: Alert, root: str) -> None:
    """One alert: its headline, sender, times, severity, CAP status (a category, so that an
    Exercise entry of `?status=all` is told from an Actual one) and its CAP document's link."""
    first = alert.rows[0]
    href = f"{root}api/v1/alerts/{alert.id}.cap"
    entry = ET.SubElement(feed, _tag("entry"))
    _child(entry, "id", href)
    _child(entry, "title", first.get("headline") or first.get("event") or alert.identifier)
    _child(entry, "updated", _atom_time(alert.sent))
    _child(entry, "published", _atom_time(alert.sent))
    author = ET.SubElement(entry, _tag("author"))
    _child(author, "name", first.get("senderName") or alert.sender)
    ET.SubElement(entry, _tag("link"), rel="alternate", type=MEDIA_TYPE, href=href)
    status = str(first.get("status") or "Actual")
    ET.SubElement(entry, _tag("category"), term=status, scheme=STATUS_SCHEME, label=status)
    for word in (first.get("category") or "").split():
        ET.SubElement(entry, _tag("category"), term=word)
    summary = " · ".join(
        str(part)
        for part in (
            first.get("event"),
            first.get("severity"),
            first.get("urgency"),
            first.get("area_desc"),
        )
        if part
    )
    _child(entry, "summary", summary)


def _atom_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _child(parent: ET.Element, name: str, text: str) -> None:
    ET.SubElement(parent, _tag(name)).text = text


def _tag(name: str) -> str:
    return f"{{{ATOM}}}{name}"
