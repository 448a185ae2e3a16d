"""Whether a kept CAP document is valid against the OASIS CAP 1.2 schema, checked by hand.

The hub serves a harvested alert as received only when the CAP 1.2 schema accepts it; the `cap`
reader reads what it needs and lets the rest be, so a sender's document may still break the
schema (`Z` times, elements out of order, an unknown element). This walks the document against
the schema's content model, the same sequences, counts, enumerations and value patterns, in a
few milliseconds, where a run of xmlschema (a test dependency only) would take seconds. It errs
on the side of "no" (URIs are held to RFC 3986 where xmlschema takes almost any text, as other
validators do not): what it refuses is rebuilt from the rows, which is always valid.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from urllib.parse import urlsplit

CAP = "urn:oasis:names:tc:emergency:cap:1.2"
XSI_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
UNBOUNDED = 1_000_000_000

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d")  # CAP 1.2: no `Z`, no fraction
LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")  # xs:language
INTEGER = re.compile(r"[-+]?\d+")
DECIMAL = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)")
BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")

# (name, min, max, kind): kind is "string", "time", "language", "uri", "integer", "decimal",
# a set of allowed values, or the name of a nested model.
Model = list[tuple[str, int, int, object]]
PAIR: Model = [("valueName", 1, 1, "string"), ("value", 1, 1, "string")]
AREA: Model = [
    ("areaDesc", 1, 1, "string"),
    ("polygon", 0, UNBOUNDED, "string"),
    ("circle", 0, UNBOUNDED, "string"),
    ("geocode", 0, UNBOUNDED, "pair"),
    ("altitude", 0, 1, "decimal"),
    ("ceiling", 0, 1, "decimal"),
]
RESOURCE: Model = [
    ("resourceDesc", 1, 1, "string"),
    ("mimeType", 1, 1, "string"),
    ("size", 0, 1, "integer"),
    ("uri", 0, 1, "uri"),
    ("derefUri", 0, 1, "string"),
    ("digest", 0, 1, "string"),
]
CATEGORIES = {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
              "Infra", "CBRNE", "Other"}  # fmt: skip
RESPONSES = {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess",
             "AllClear", "None"}  # fmt: skip
INFO: Model = [
    ("language", 0, 1, "language"),
    ("category", 1, UNBOUNDED, CATEGORIES),
    ("event", 1, 1, "string"),
    ("responseType", 0, UNBOUNDED, RESPONSES),
    ("urgency", 1, 1, {"Immediate", "Expected", "Future", "Past", "Unknown"}),
    ("severity", 1, 1, {"Extreme", "Severe", "Moderate", "Minor", "Unknown"}),
    ("certainty", 1, 1, {"Observed", "Likely", "Possible", "Unlikely", "Unknown"}),
    ("audience", 0, 1, "string"),
    ("eventCode", 0, UNBOUNDED, "pair"),
    ("effective", 0, 1, "time"),
    ("onset", 0, 1, "time"),
    ("expires", 0, 1, "time"),
    *((name, 0, 1, "string") for name in ("senderName", "headline", "description", "instruction")),
    ("web", 0, 1, "uri"),
    ("contact", 0, 1, "string"),
    ("parameter", 0, UNBOUNDED, "pair"),
    ("resource", 0, UNBOUNDED, "resource"),
    ("area", 0, UNBOUNDED, "area"),
]
ALERT: Model = [
    ("identifier", 1, 1, "string"),
    ("sender", 1, 1, "string"),
    ("sent", 1, 1, "time"),
    ("status", 1, 1, {"Actual", "Exercise", "System", "Test", "Draft"}),
    ("msgType", 1, 1, {"Alert", "Update", "Cancel", "Ack", "Error"}),
    ("source", 0, 1, "string"),
    ("scope", 1, 1, {"Public", "Restricted", "Private"}),
    ("restriction", 0, 1, "string"),
    ("addresses", 0, 1, "string"),
    ("code", 0, UNBOUNDED, "string"),
    ("note", 0, 1, "string"),
    ("references", 0, 1, "string"),
    ("incidents", 0, 1, "string"),
    ("info", 0, UNBOUNDED, "info"),
]
MODELS: dict[str, Model] = {"pair": PAIR, "area": AREA, "resource": RESOURCE, "info": INFO}


def is_valid_cap12(root: ET.Element) -> bool:
    """Whether the CAP 1.2 schema accepts this `<alert>` element as it stands."""
    if root.tag != f"{{{CAP}}}alert" or set(root.attrib) - {XSI_LOCATION}:
        return False
    # After its CAP elements the schema takes XML-DSig ones, checked against XML-DSig's own
    # schema: not done here, so an alert with any is refused (a signed one is served as
    # received without asking, its signature being what matters).
    return _fits(root, list(root), ALERT)


def _fits(parent: ET.Element, children: list[ET.Element], model: Model) -> bool:
    """Whether children follow a sequence model, each with a valid value or content."""
    if not _blank(parent.text) or any(not _blank(child.tail) for child in children):
        return False  # element-only content: nothing but white space between the elements
    position, count = 0, 0
    for child in children:
        if not _is_cap(child) or child.attrib:
            return False
        name = child.tag[len(CAP) + 2 :]
        while position < len(model) and model[position][0] != name:
            if count < model[position][1]:
                return False  # a required element is missing
            position, count = position + 1, 0
        if position == len(model) or count == model[position][2]:
            return False  # an unknown element, one out of order, or one too many
        count += 1
        if not _valid(child, model[position][3]):
            return False
    return all(minimum == 0 for _, minimum, _, _ in model[position + 1 :]) and (
        position == len(model) or count >= model[position][1]
    )


def _valid(element: ET.Element, kind: object) -> bool:
    """Whether one element's content is of its kind."""
    if isinstance(kind, str) and kind in MODELS:
        return _fits(element, list(element), MODELS[kind])
    if len(element):
        return False  # a simple value holds no element
    text = element.text or ""
    if isinstance(kind, set):
        return text in kind  # xs:string enumerations keep white space: " Met" is not Met
    value = " ".join(text.split())
    if kind == "time":
        return _is_time(value)
    if kind == "language":
        return LANGUAGE.fullmatch(value) is not None
    if kind == "integer":
        return INTEGER.fullmatch(value) is not None
    if kind == "decimal":
        return DECIMAL.fullmatch(value) is not None
    if kind == "uri":
        return _is_uri(value)
    return True  # xs:string


def _is_time(value: str) -> bool:
    """A CAP 1.2 time: the pattern, a real date, an offset of at most 14 hours."""
    if TIME.fullmatch(value) is None:
        return False
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    offset = moment.utcoffset()
    return offset is not None and abs(offset) <= timedelta(hours=14)


def _is_uri(value: str) -> bool:
    """An xs:anyURI, as strictly as the validators that check one."""
    if " " in value or value.count("#") > 1 or BAD_ESCAPE.search(value):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is no number
    except ValueError:
        return False
    return not parts.path.startswith(":")


def _is_cap(element: ET.Element) -> bool:
    return isinstance(element.tag, str) and element.tag.startswith(f"{{{CAP}}}")


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()
