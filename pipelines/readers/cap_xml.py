"""Hostile-proof XML for the `cap` reader: parse through defusedxml, name what is wrong.

Every document is parsed with defusedxml and `forbid_dtd`: a CAP alert or a feed never needs a
document type, and a DTD is how entity bombs (billion laughs), external entities (XXE) and
external DTD fetches get in. The parser also notes where each CAP alert element starts and ends
in the bytes, so that an alert embedded in a feed can be kept as it was received.

CAP 1.2, 1.1 and 1.0 alerts are all CAP alerts here (`ALERTS`): their elements have the same names
and nesting, in the alert's own namespace. CAP 1.0's is `http://www.incident.com/cap/1.0`, as its
OASIS standard and schema write it; some senders wrote `urn:oasis:names:tc:emergency:cap:1.0` by
analogy with the later versions, and it is read as 1.0 too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # the types and TreeBuilder only: parsing is defusedxml's
from dataclasses import dataclass, field
from typing import Any

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from pipelines.readers.base import ReaderError

CAP = "urn:oasis:names:tc:emergency:cap:1.2"
VERSIONS = {  # namespace: the CAP version it names
    CAP: "1.2",
    "urn:oasis:names:tc:emergency:cap:1.1": "1.1",
    "http://www.incident.com/cap/1.0": "1.0",
    "urn:oasis:names:tc:emergency:cap:1.0": "1.0",
}
ATOM = "http://www.w3.org/2005/Atom"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
ALERTS = frozenset(f"{{{namespace}}}alert" for namespace in VERSIONS)
SIGNATURE = f"{{{DSIG}}}Signature"


class HostileXML(ReaderError):
    """A document that declares a DTD or entities: an XML attack, or at best not CAP."""


@dataclass
class Document:
    """A parsed XML document, its bytes, and the byte span of each CAP alert element in it."""

    root: ET.Element
    data: bytes
    spans: dict[ET.Element, tuple[int, int]] = field(default_factory=dict)

    def verbatim(self, alert: ET.Element) -> bytes:
        """The bytes of `alert` as received: the whole file when it is the document itself."""
        if alert is self.root:
            return self.data
        start, end = self.spans[alert]
        return self.data[start:end]

    def standalone(self, alert: ET.Element) -> bytes:
        """The alert as a document of its own: its bytes as received when they read alone as
        the same elements, else those elements written out as UTF-8."""
        data = self.verbatim(alert)
        if alert is self.root:
            return data
        try:
            alone: ET.Element | None = parse_document(data, "an embedded alert").root
        except ReaderError:
            alone = None  # a prefix bound by the feed, the feed's own encoding
        if alone is not None and same_elements(alone, alert):
            return data
        return written(alert)


def written(alert: ET.Element) -> bytes:
    """An alert's elements written out as a UTF-8 document, its namespace the default one."""
    try:
        return ET.tostring(
            alert, encoding="utf-8", xml_declaration=True, default_namespace=namespace_of(alert.tag)
        )
    except ValueError:  # an element of no namespace: written with generated prefixes
        return ET.tostring(alert, encoding="utf-8", xml_declaration=True)


def embedded_alert(element: ET.Element) -> ET.Element | None:
    """The first CAP alert (of any version read here) inside an element, if any."""
    return next((found for found in element.iter() if found.tag in ALERTS), None)


class _SpanBuilder(ET.TreeBuilder):
    """A tree builder that notes the byte offsets of the CAP alert elements it builds."""

    def __init__(self) -> None:
        super().__init__()
        self.expat: Any = None  # the expat parser, whose CurrentByteIndex we read
        self.starts: dict[ET.Element, int] = {}
        self.ends: dict[ET.Element, int] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:  # type: ignore[override]
        element = super().start(tag, attrs)
        if tag in ALERTS:
            self.starts[element] = self.expat.CurrentByteIndex
        return element

    def end(self, tag: str) -> ET.Element:
        element = super().end(tag)
        if tag in ALERTS:
            self.ends[element] = self.expat.CurrentByteIndex
        return element


def parse_document(data: bytes, name: str) -> Document:
    """Parse `data` (the document called `name` in messages), or ReaderError saying why not."""
    if not data.strip():
        raise ReaderError(f"{name} is empty: no CAP alert or feed in it")
    builder = _SpanBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.expat = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except DTDForbidden as exc:
        where = f" (an external DTD at {exc.sysid!r})" if exc.sysid else ""
        raise HostileXML(
            f"{name} declares a document type{where}: refused, since a DTD can define entities "
            "that expand without bound (billion laughs) or read other files (XXE), and CAP "
            "alerts and their feeds need none"
        ) from None
    except (EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise HostileXML(f"{name} declares or uses an XML entity ({exc}): refused") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise ReaderError(f"{name} declares an encoding that cannot be read: {exc}") from None
    except ParseError as exc:
        raise ReaderError(f"{name} is not well-formed XML ({_described(exc, data)})") from None
    spans = {
        element: (start, _tag_end(data, builder.ends[element]))
        for element, start in builder.starts.items()
        if element in builder.ends
    }
    return Document(root, data, spans)


def _described(exc: ParseError, data: bytes) -> str:
    """A parse error in words; one at the very end of the bytes means the file was cut short."""
    line, column = getattr(exc, "position", (0, 0))
    text = str(exc).split(":")[0]
    last_line = data.rstrip().count(b"\n") + 1
    if "no element found" in text or ("unclosed token" in text and line >= last_line):
        return f"it ends at line {line} before its root element is closed: truncated?"
    return f"{text} at line {line}, column {column}"


def _tag_end(data: bytes, index: int) -> int:
    """The offset just past the end tag that starts at `index` (`</cap:alert>`)."""
    close = data.find(b">", index)
    return len(data) if close < 0 else close + 1


def same_elements(one: ET.Element, other: ET.Element) -> bool:
    """Whether two elements have the same names, attributes, texts and children, in order."""
    if (one.tag, one.attrib, one.text) != (other.tag, other.attrib, other.text):
        return False
    if len(one) != len(other):
        return False
    return all(a.tail == b.tail and same_elements(a, b) for a, b in zip(one, other, strict=True))


def local_name(tag: str) -> str:
    """`{namespace}name` → `name`."""
    return tag.rpartition("}")[2]


def namespace_of(tag: str) -> str:
    """`{namespace}name` → `namespace` ("" when the element has none)."""
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def text_of(element: ET.Element, name: str, namespace: str = CAP) -> str | None:
    """The stripped text of the first child `name`, or None when absent or empty."""
    text = element.findtext(f"{{{namespace}}}{name}" if namespace else name)
    text = text.strip() if text else ""
    return text or None


def texts_of(element: ET.Element, name: str, namespace: str = CAP) -> list[str]:
    """The stripped, non-empty texts of every child `name` of `namespace`, in order."""
    children = element.iterfind(f"{{{namespace}}}{name}")
    found = (child.text.strip() for child in children if child.text)
    return [text for text in found if text]
