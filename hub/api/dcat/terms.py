"""RDF terms from catalogue values, safe to write in every syntax whatever a feed put in them.

Titles, descriptions and URLs come from operators' feeds and other portals. A control character
is no XML 1.0 character (RDF/XML would not parse back), and a URL holding `>` or a space would
break out of Turtle's `<…>`: text is cleaned, and a URL that is no absolute http(s) URL is
dropped rather than written.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote, urlsplit

from rdflib import Literal, URIRef
from rdflib.namespace import XSD

from hub.models import as_utc

# Characters XML 1.0 does not allow (C0 controls but tab, LF and CR; surrogates; U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# What an IRI may not hold as is (RFC 3987): percent-encoded instead.
_IRI_SAFE = "/?#[]@!$&'()*+,;=:%~-._"
WEB_SCHEMES = ("http", "https")


def clean(text: str) -> str:
    """Text with the characters XML cannot carry removed."""
    return _NOT_XML.sub("", text)


def text(value: str) -> Literal:
    """A plain string literal, cleaned."""
    return Literal(clean(value))


def moment(value: datetime) -> Literal:
    """A time as an xsd:dateTime in UTC, to the second."""
    stamp = as_utc(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return Literal(stamp, datatype=XSD.dateTime)


def web_iri(url: str) -> URIRef | None:
    """An absolute http(s) URL as an IRI, characters IRIs forbid escaped; None otherwise."""
    cleaned = clean(url).strip()
    try:
        parts = urlsplit(cleaned)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    return URIRef(quote(cleaned, safe=_IRI_SAFE))


def segment(value: str) -> str:
    """A value as one path segment of a hub URL."""
    return quote(value, safe="")
