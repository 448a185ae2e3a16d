"""DCAT documents as HTTP answers: the three syntaxes, and content negotiation by `Accept`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response
from rdflib import Graph

from hub.api import etags
from hub.api.dcat.graph import PREFIXES


@dataclass(frozen=True)
class Syntax:
    """An RDF syntax the hub writes: its suffix, rdflib's name and its media type."""

    suffix: str
    rdflib_name: str
    media_type: str


SYNTAXES = {
    s.suffix: s
    for s in (
        Syntax("jsonld", "json-ld", "application/ld+json"),
        Syntax("ttl", "turtle", "text/turtle"),
        Syntax("rdf", "xml", "application/rdf+xml"),
    )
}
HTML_TYPES = ("text/html", "application/xhtml+xml")
# The JSON-LD context is written inline: a harvester then fetches no third-party context.
CONTEXT = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()} | {
    "xsd": "http://www.w3.org/2001/XMLSchema#"
}


def serialise(graph: Graph, syntax: Syntax) -> bytes:
    """A graph in one syntax, as UTF-8."""
    if syntax.rdflib_name == "json-ld":
        written = graph.serialize(format="json-ld", context=CONTEXT, indent=2)
    else:
        written = graph.serialize(format=syntax.rdflib_name)
    return written.encode("utf-8")


def answer(
    request: Request,
    graph: Graph,
    syntax: Syntax,
    shared: bool,
    headers: dict[str, str] | None = None,
) -> Response:
    """A graph as an HTTP response in `syntax` with its ETag (`shared`: anyone may read it), or
    the 304 of a client that holds it, sent without serialising the graph."""
    tag = etags.of_body(fingerprint(graph, syntax))
    vary = (headers or {}).get("Vary", "")
    if etags.matches(tag, etags.presented(request)):
        return etags.not_modified(tag, shared, vary=vary)
    charset = "; charset=utf-8" if syntax.media_type.startswith("text/") else ""
    return Response(
        serialise(graph, syntax),
        media_type=f"{syntax.media_type}{charset}",
        headers={**(headers or {}), **etags.caching(tag, shared, vary=vary)},
    )


def fingerprint(graph: Graph, syntax: Syntax) -> bytes:
    """What a document says, the same in every process: its triples, sorted, and its syntax.
    rdflib writes JSON-LD and RDF/XML in an order that changes with Python's string hashing,
    so their bytes would give each replica (and each restart) its own ETag."""
    lines = sorted(" ".join(term.n3() for term in triple) for triple in graph)
    return "\n".join([syntax.suffix, *lines]).encode()


def negotiate(accept: str) -> Syntax | None:
    """The RDF syntax an `Accept` header prefers to HTML, if it does; None keeps HTML."""
    ranges = accepted(accept)
    html = max(quality(ranges, t) for t in HTML_TYPES)
    best: Syntax | None = None
    best_quality = html
    for syntax in SYNTAXES.values():
        given = quality(ranges, syntax.media_type)
        if given > best_quality:  # a tie keeps HTML, the default (`*/*` asks for nothing)
            best, best_quality = syntax, given
    return best


def accepted(accept: str) -> dict[str, float]:
    """The media ranges of an `Accept` header and their quality (a broken `q` drops its range)."""
    ranges: dict[str, float] = {}
    for part in accept.split(",")[:64]:
        kind, *parameters = (p.strip() for p in part.split(";"))
        if "/" not in kind:
            continue
        value = 1.0
        for parameter in parameters:
            name, _, given = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    value = float(given.strip())
                except ValueError:
                    value = -1.0
        if 0.0 <= value <= 1.0:
            key = kind.lower()
            ranges[key] = max(value, ranges.get(key, 0.0))
    return ranges


def quality(ranges: dict[str, float], media_type: str) -> float:
    """How much the ranges accept a media type: its own range, else `type/*`, else `*/*`."""
    family = media_type.split("/", 1)[0]
    for key in (media_type, f"{family}/*", "*/*"):
        if key in ranges:
            return ranges[key]
    return 0.0
