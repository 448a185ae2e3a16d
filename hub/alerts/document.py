"""A stored alert as a CAP 1.2 document: as received when it can be, else rebuilt from its rows.

- A signed CAP 1.2 alert (`signed_xml`) is served byte for byte as received, whatever it holds:
  its signature holds for those bytes only.
- An unsigned alert whose document the reader kept (`cap_xml`) is served byte for byte as
  received when that document is a CAP 1.2 alert the CAP 1.2 schema accepts (checked by
  hub.alerts.conformance, not by a schema validator), with everything the rows do not keep:
  audience, contact, eventCode, parameter, resource, source, restriction, addresses, code,
  note, incidents, and each `<area>` apart with its geocodes, altitude and ceiling.
- A CAP 1.1 or 1.0 document (the `cap` reader reads both, signed or not) is upgraded: its
  elements are renamed into CAP 1.2's namespace, 1.0's certainty `Very Likely` becomes `Likely`,
  and a signature, which no longer holds, and a `schemaLocation` naming the old schema are left
  out. When the CAP 1.2 schema accepts the result it is served, with all it holds (an NWS CAP
  1.1 alert keeps its geocodes, VTEC parameters and event codes). It may not: a 1.1 resource
  without `mimeType` (required from 1.2), 1.0's `name=value` geocodes, a `Z` time.
- Otherwise the document is rebuilt from the rows: for a document the schema refuses, even
  upgraded, or rows of no CAP document (stored before risk-alert 1.2.0). It keeps every field
  of the rows and loses all of the above: its areas become one `<area>` whose `areaDesc` joins
  theirs with ` ; `, and a missing `language` is written as CAP's default, en-US.

Derived alerts (hub.alerts.messages) are built by the hub itself: `with_document` gives their
rows the document they were announced with, kept in `cap_xml` and so served unchanged.

In a rebuilt document the rows of one alert (one per `<info>`) become one `<alert>` with its
`<info>` blocks in order. Times are written with a numeric offset (`+00:00`: CAP 1.2 forbids
`Z`), areas as `lat,lon` pairs of closed rings. The reader stores a circle as a 64-vertex
geodesic ring (pipelines.readers.cap_area); such a ring is recognised here and written back as
`<circle>`.
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET  # writing only: kept documents are parsed by defusedxml
from collections.abc import Sequence
from typing import Any

import defusedxml.ElementTree as DefusedET
import numpy as np
from defusedxml import DefusedXmlException
from pyproj import Geod

from hub.alerts.conformance import XSI_LOCATION, is_valid_cap12
from hub.alerts.moments import cap_time
from pipelines.readers.cap_xml import SIGNATURE, VERSIONS

CAP = "urn:oasis:names:tc:emergency:cap:1.2"
OLDER = frozenset(namespace for namespace, version in VERSIONS.items() if version < "1.2")
RENAMED = {"certainty": {"Very Likely": "Likely"}}  # CAP 1.0's value, as 1.1 names it
MEDIA_TYPE = "application/cap+xml"
CIRCLE_VERTICES = 64  # as pipelines.readers.cap_area.circle_ring draws a circle
CIRCLE_TOLERANCE_M = 0.5  # its vertices are rounded to 1e-7 degree (about 1 cm)
GEOD = Geod(ellps="WGS84")

Record = dict[str, Any]


def cap_document(rows: Sequence[Record]) -> bytes:
    """The CAP 1.2 document of one alert's rows: signed bytes if held, else the original if the
    CAP 1.2 schema accepts it, or an older CAP's original upgraded if it then accepts it, else
    one rebuilt from the rows."""
    signed = _kept(rows, "signed_xml")
    older = None if signed is None else older_alert(signed)
    if signed is not None and older is None:
        return base64.b64decode(signed)
    original = _kept(rows, "cap_xml")
    if older is None and original is not None:
        if is_servable(original):
            return base64.b64decode(original)
        older = older_alert(original)
    if older is not None:
        upgraded = upgraded_alert(older)
        if is_valid_cap12(upgraded):
            ET.register_namespace("", CAP)
            return ET.tostring(upgraded, encoding="utf-8", xml_declaration=True) + b"\n"
    return rebuilt_document(rows)


def with_document(rows: Sequence[Record]) -> list[Record]:
    """The rows of one alert the hub raises, each holding the document rebuilt from them."""
    kept = base64.b64encode(rebuilt_document(rows)).decode("ascii")
    return [{**row, "cap_xml": kept} for row in rows]


def is_servable(kept: str) -> bool:
    """Whether a kept document (base64) is a CAP 1.2 alert its schema accepts as it stands."""
    root = _parsed(kept)
    return root is not None and is_valid_cap12(root)


def older_alert(kept: str) -> ET.Element | None:
    """The root of a kept document (base64) if it is a CAP 1.1 or 1.0 alert, else None."""
    root = _parsed(kept)
    if root is None or not root.tag.startswith("{"):
        return None
    namespace, _, name = root.tag[1:].partition("}")
    return root if name == "alert" and namespace in OLDER else None


def upgraded_alert(alert: ET.Element) -> ET.Element:
    """A CAP 1.1 or 1.0 alert as CAP 1.2 names it: a new tree, the given one untouched."""
    old = f"{{{alert.tag[1:].partition('}')[0]}}}"
    upgraded = _renamed(alert, old)
    upgraded.attrib.pop(XSI_LOCATION, None)  # it names the old version's schema
    for child in [c for c in upgraded if c.tag in (SIGNATURE, _tag("password"))]:
        upgraded.remove(child)  # a signature of the old bytes; 1.0's credential, never served
    return upgraded


def _renamed(element: ET.Element, old: str) -> ET.Element:
    """A copy of an element and its descendants, those of namespace `old` moved to CAP 1.2's."""
    name = element.tag.removeprefix(old)
    tag = _tag(name) if name != element.tag else element.tag
    copy = ET.Element(tag, dict(element.attrib))
    copy.text = RENAMED.get(name, {}).get(element.text or "", element.text)
    copy.tail = element.tail
    copy.extend(_renamed(child, old) for child in element)
    return copy


def _parsed(kept: str) -> ET.Element | None:
    """The root of a kept document (base64), parsed without DTD; None if it cannot be."""
    try:
        return DefusedET.fromstring(base64.b64decode(kept, validate=True), forbid_dtd=True)
    except (ValueError, DefusedET.ParseError, DefusedXmlException):
        return None  # not base64, not XML, or XML with a DTD: never served as it is


def rebuilt_document(rows: Sequence[Record]) -> bytes:
    """The CAP 1.2 document rebuilt from one alert's rows (one per info block)."""
    ET.register_namespace("", CAP)
    alert = ET.Element(_tag("alert"))
    first = rows[0]
    for name in ("identifier", "sender", "sent", "status", "msgType", "scope", "references"):
        _child(alert, name, cap_time(first[name]) if name == "sent" else first.get(name))
    for row in sorted(rows, key=lambda r: int(r.get("info_index") or 0)):
        _info(alert, row)
    ET.indent(alert, space="  ")
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True) + b"\n"


def _info(alert: ET.Element, row: Record) -> None:
    """One `<info>` block, its elements in the order CAP 1.2's schema fixes."""
    info = ET.SubElement(alert, _tag("info"))
    _child(info, "language", row.get("language"))
    for category in (row.get("category") or "").split():
        _child(info, "category", category)
    _child(info, "event", row.get("event"))
    for response in (row.get("responseType") or "").split():
        _child(info, "responseType", response)
    for name in ("urgency", "severity", "certainty"):
        _child(info, name, row.get(name))
    for name in ("effective", "onset", "expires"):
        _child(info, name, cap_time(row.get(name)))
    for name in ("senderName", "headline", "description", "instruction", "web"):
        _child(info, name, row.get(name))
    _area(info, row)


def _area(info: ET.Element, row: Record) -> None:
    """The info's `<area>`: its description, polygons and circles."""
    polygons, circles = shapes_of(row)
    if not (row.get("area_desc") or polygons or circles):
        return
    area = ET.SubElement(info, _tag("area"))
    ET.SubElement(area, _tag("areaDesc")).text = row.get("area_desc") or ""
    for polygon in polygons:
        _child(area, "polygon", polygon)
    for circle in circles:
        _child(area, "circle", circle)


def shapes_of(row: Record) -> tuple[list[str], list[str]]:
    """The CAP polygon and circle texts of a row's area (and of a zero-radius circle's point)."""
    geometry = row.get("area")
    if isinstance(geometry, str) and geometry:
        geometry = json.loads(geometry)
    if not geometry:
        if row.get("longitude") is None or row.get("latitude") is None:
            return [], []
        # A point without surface: the reader's zero-radius circle, which stores no ring.
        return [], [f"{_number(row['latitude'])},{_number(row['longitude'])} 0"]
    rings = (
        [geometry["coordinates"][0]]
        if geometry["type"] == "Polygon"
        else [polygon[0] for polygon in geometry["coordinates"]]
    )
    polygons: list[str] = []
    circles: list[str] = []
    for ring in rings:
        circle = circle_of(ring)
        if circle is not None:
            circles.append(circle)
        else:
            polygons.append(polygon_text(ring))
    return polygons, circles


def polygon_text(ring: list[list[float]]) -> str:
    """A GeoJSON ring as CAP's `lat,lon` pairs, closed (first pair repeated last)."""
    points = ring if ring[0] == ring[-1] else [*ring, ring[0]]
    return " ".join(f"{_number(lat)},{_number(lon)}" for lon, lat in points)


def circle_of(ring: list[list[float]]) -> str | None:
    """`lat,lon radius` if the ring is a circle as the reader draws one, else None."""
    if len(ring) != CIRCLE_VERTICES + 1 or ring[0] != ring[-1]:
        return None
    points = np.asarray(ring[:-1], dtype=float)
    half = CIRCLE_VERTICES // 2
    # Opposite vertices lie on one geodesic through the centre, at its middle.
    azimuth, _, across = GEOD.inv(points[0, 0], points[0, 1], points[half, 0], points[half, 1])
    lon, lat, _ = GEOD.fwd(points[0, 0], points[0, 1], azimuth, across / 2)
    n = len(points)
    _, _, distances = GEOD.inv(np.full(n, lon), np.full(n, lat), points[:, 0], points[:, 1])
    if np.ptp(distances) > CIRCLE_TOLERANCE_M or distances.mean() <= 0:
        return None
    radius = f"{distances.mean() / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{round(float(lat), 7)!r},{round(float(lon), 7)!r} {radius}"


def _number(value: float) -> str:
    """A coordinate as the shortest text that reads back as the same float."""
    return repr(float(value))


def _kept(rows: Sequence[Record], name: str) -> str | None:
    """The first non-empty value of a field among the rows."""
    return next((str(row[name]) for row in rows if row.get(name)), None)


def _child(parent: ET.Element, name: str, value: Any) -> None:
    """Append `<name>value</name>` unless the value is empty."""
    if value is None or value == "":
        return
    ET.SubElement(parent, _tag(name)).text = str(value)


def _tag(name: str) -> str:
    return f"{{{CAP}}}{name}"
