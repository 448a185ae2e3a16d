"""The `dcat` reader: a DCAT(-AP) catalogue in JSON-LD, RDF/XML or Turtle, read with rdflib.

The syntax comes from `options.rdf_format`, else the file's suffix, else its first character.
Titles and descriptions are taken in `options.language` if given, else English, else untagged.
RDF/XML is checked with defusedxml before rdflib's expat parser sees it (a DOCTYPE, hence any
entity, is refused), and JSON-LD must carry its @context inline: rdflib would fetch a remote
one itself, past the hub's address rules. `options.files` and `options.files_limit` say which
distributions the hub reads too (`pipelines.portalfiles`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeXML
from defusedxml import DefusedXmlException
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS
from rdflib.term import Node

from hub import credits
from hub.batches import FileResource, MetadataBatch, PortalDataset
from pipelines import portal
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.sources import Source

log = logging.getLogger(__name__)

MAX_BYTES = 100 * 1024 * 1024  # ckanext-dcat stops at 50 MB; a catalogue this big is a mistake
SYNTAXES = {
    "json-ld": "json-ld", "jsonld": "json-ld", "application/ld+json": "json-ld",
    "xml": "xml", "rdf": "xml", "rdf/xml": "xml", "application/rdf+xml": "xml",
    "turtle": "turtle", "ttl": "turtle", "text/turtle": "turtle",
}  # fmt: skip
SUFFIXES = {
    ".jsonld": "json-ld",
    ".json": "json-ld",
    ".rdf": "xml",
    ".xml": "xml",
    ".ttl": "turtle",
}
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
# Project Open Data's JSON-LD context (ckanext-dcat's catalog_pod example) spells it so.
POD_LICENSE = URIRef("http://purl.org/dc/terms/#license")
NAMES = (FOAF.name, VCARD.fn, VCARD["organization-name"], SKOS.prefLabel, RDFS.label, DCTERMS.title)
WKT = re.compile(r"^\s*(?:<([^>]*)>\s*)?[A-Za-z]+[^(]*\((.*)\)\s*$", re.DOTALL)


def read(source: Source, fetched: Fetched) -> MetadataBatch:
    """Every dcat:Dataset of the catalogue, with its distributions as file resources."""
    data = _bytes(fetched.path)
    graph = parse(data, syntax_of(source, fetched.path, data), fetched.url or source.url)
    language = source.options.get("language")
    preference = [str(language).lower()] if language else []
    reading = Catalogue(graph, [*preference, "en", None])
    datasets = list(reading.datasets(source.id))
    if not datasets:  # a whole listing of nothing would withdraw every dataset of the portal
        raise ReaderError(f"no dcat:Dataset in the catalogue{_pod_hint(data)}")
    paged = any(graph.subjects(HYDRA.nextPage)) or any(graph.subjects(HYDRA.next))
    if paged:  # one page of a hydra:PagedCollection: the rest of the catalogue is not here
        log.warning(
            "%s: the catalogue is paged: read as an increment, nothing withdrawn", source.id
        )
    return portal.metadata_batch(source, datasets, since=None, whole=not paged)


def _bytes(path: Path) -> bytes:
    """The catalogue's bytes, under MAX_BYTES."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ReaderError(f"the catalogue is {size} bytes, over the {MAX_BYTES}-byte limit")
    return path.read_bytes()


def syntax_of(source: Source, path: Path, data: bytes) -> str:
    """json-ld, xml or turtle: from options.rdf_format, the file's suffix, or its content."""
    named = source.options.get("rdf_format")
    if named is not None:
        if str(named).lower() not in SYNTAXES:
            raise ReaderError(
                f"options.rdf_format {named!r} is not one of {', '.join(sorted(SYNTAXES))}"
            )
        return SYNTAXES[str(named).lower()]
    if path.suffix.lower() in SUFFIXES:
        return SUFFIXES[path.suffix.lower()]
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return {b"{": "json-ld", b"[": "json-ld", b"<": "xml"}.get(start, "turtle")


def parse(data: bytes, syntax: str, base: str) -> Graph:
    """The RDF graph of a catalogue, hostile XML and remote JSON-LD contexts refused."""
    if syntax == "xml":
        _refuse_dtd(data)
    elif syntax == "json-ld":
        _refuse_remote_context(data)
    graph = Graph()
    try:
        graph.parse(data=data, format=syntax, publicID=base or None)
    except Exception as exc:  # noqa: BLE001 — rdflib's parsers raise anything on bad input
        raise ReaderError(
            f"not a readable {syntax} catalogue: {type(exc).__name__}: {exc}"
        ) from None
    return graph


def _refuse_dtd(data: bytes) -> None:
    """Refuse RDF/XML holding a DOCTYPE: entities (XXE, billion laughs) need one."""
    try:
        SafeXML.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ReaderError(f"RDF/XML refused: {exc} (a catalogue needs no DTD)") from None
    except ParseError as exc:
        raise ReaderError(f"not well-formed RDF/XML: {exc}") from None


def _refuse_remote_context(data: bytes) -> None:
    """Refuse JSON-LD whose @context (or @import) names a document rdflib would fetch."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ReaderError(f"not readable JSON-LD: {exc}") from None
    for key, value in _items(document):
        if key == "@import" or (key == "@context" and _names_document(value)):
            raise ReaderError(
                "JSON-LD with a remote @context is refused: the hub does not fetch it; "
                "serve the catalogue with its context inline, or as Turtle or RDF/XML"
                + _pod_hint(data)
            )


def _pod_hint(data: bytes) -> str:
    """Why a catalogue may hold no dataset: a DCAT-US (Project Open Data) data.json."""
    if b"project-open-data" in data[:4096]:
        return (
            ": it is a DCAT-US (Project Open Data) data.json, plain JSON with a remote "
            "context, which the dcat reader does not take; ask the portal for its DCAT-AP "
            "JSON-LD, Turtle or RDF/XML"
        )
    return ""


def _items(node: Any) -> Iterator[tuple[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield from item.items()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _names_document(context: Any) -> bool:
    return isinstance(context, str) or (
        isinstance(context, list) and any(isinstance(c, str) for c in context)
    )


class Catalogue:
    """The datasets of a DCAT graph, read in an order of preferred languages."""

    def __init__(self, graph: Graph, languages: list[str | None]) -> None:
        self.graph = graph
        self.languages = languages

    def datasets(self, source_id: str) -> Iterator[PortalDataset]:
        """Each dcat:Dataset as a PortalDataset, in a stable order."""
        used: set[str] = set()
        for node in sorted(set(self.graph.subjects(RDF.type, DCAT.Dataset)), key=str):
            hub_id = portal.hub_dataset_id(source_id, self.name(node))
            if hub_id in used:  # two datasets with one identifier: keep both apart by IRI
                hub_id = portal.hub_dataset_id(source_id, f"{self.name(node)} {node}")
            used.add(hub_id)
            yield self.dataset(hub_id, node)

    def dataset(self, hub_id: str, node: Node) -> PortalDataset:
        """One dcat:Dataset."""
        distributions = sorted(self.graph.objects(node, DCAT.distribution), key=str)
        resources = [r for r in map(self.resource, distributions) if r is not None]
        return PortalDataset(
            id=hub_id,
            title=self.text(node, DCTERMS.title) or self.name(node),
            description=self.text(node, DCTERMS.description),
            keywords=[str(k) for k in self.in_language(self.graph.objects(node, DCAT.keyword))],
            licence=self.licence(node, distributions),
            modified=portal.parse_time(self.text(node, DCTERMS.modified)),
            landing_page=portal.web_link(self.first(node, DCAT.landingPage)),
            identifier=self.first(node, DCTERMS.identifier),
            iri=portal.web_link(str(node)) if isinstance(node, URIRef) else "",
            issued=portal.parse_time(self.text(node, DCTERMS.issued)),
            organization=self.label(next(self.graph.objects(node, DCTERMS.publisher), None)),
            bbox=self.bbox(node),
            resources=sorted(resources, key=lambda r: (r.name, r.url)),
            credits=self.credits(node),
        )

    def credits(self, node: Node) -> dict[str, str] | None:
        """The dataset's creator and contact point (its vCard's name and e-mail)."""
        contact = next(self.graph.objects(node, DCAT.contactPoint), None)
        return credits.declared(
            creator=self.label(next(self.graph.objects(node, DCTERMS.creator), None)),
            contact_name=self.text(contact, VCARD.fn) if contact is not None else "",
            contact_email=self.first(contact, VCARD.hasEmail) if contact is not None else "",
            citation=self.text(node, DCTERMS.bibliographicCitation),
        ).stored()

    def name(self, node: Node) -> str:
        """The portal's name of a dataset: dct:identifier, else its IRI's last segment."""
        identifier = self.first(node, DCTERMS.identifier)
        if identifier and "://" not in identifier:
            return identifier
        parts = urlsplit(identifier or (str(node) if isinstance(node, URIRef) else ""))
        if last := parts.fragment or parts.path.rstrip("/").rsplit("/", 1)[-1]:
            return last
        # A blank node without identifier: its title is all that stays the same.
        return "dataset-" + hashlib.sha256(self.text(node, DCTERMS.title).encode()).hexdigest()[:12]

    def in_language(self, values: Iterable[Node]) -> list[Literal]:
        """The literals in the first preferred language any of them has (all if none has)."""
        literals = sorted((v for v in values if isinstance(v, Literal)), key=str)
        for wanted in self.languages:
            chosen = [v for v in literals if _language_is(v, wanted)]
            if chosen:
                return list(dict.fromkeys(chosen))
        return list(dict.fromkeys(literals))

    def text(self, node: Node, predicate: URIRef) -> str:
        """One literal value, in the preferred language."""
        chosen = self.in_language(self.graph.objects(node, predicate))
        return str(chosen[0]).strip() if chosen else ""

    def first(self, node: Node, predicate: URIRef) -> str:
        """The first (in sorted order) IRI or literal value of a property, as text."""
        values = sorted(
            (v for v in self.graph.objects(node, predicate) if not isinstance(v, BNode)), key=str
        )
        return str(values[0]).strip() if values else ""

    def label(self, node: Node | None) -> str:
        """A literal, or the name or label of a resource (its IRI if it has none)."""
        if node is None or isinstance(node, Literal):
            return str(node or "").strip()
        for predicate in NAMES:
            if text := self.text(node, predicate):
                return text
        return str(node) if isinstance(node, URIRef) else ""

    def licence(self, node: Node, distributions: list[Node]) -> str:
        """dct:license of the dataset, else of its distributions."""
        for holder in (node, *distributions):
            for predicate in (DCTERMS.license, POD_LICENSE):
                if (found := next(self.graph.objects(holder, predicate), None)) is not None:
                    return self.label(found)
        return ""

    def bbox(self, node: Node) -> list[float] | None:
        """The box of dct:spatial given as a geometry (dcat:bbox or locn:geometry)."""
        for spatial in sorted(self.graph.objects(node, DCTERMS.spatial), key=str):
            geometries: list[Node] = [spatial] if isinstance(spatial, Literal) else []
            for predicate in (DCAT.bbox, LOCN.geometry):
                geometries += sorted(self.graph.objects(spatial, predicate), key=str)
            for geometry in geometries:
                if box := _geometry_box(str(geometry)):
                    return box
        return None

    def resource(self, node: Node) -> FileResource | None:
        """A dcat:Distribution as a FileResource; one without a web link is left out."""
        urls = [self.first(node, DCAT.downloadURL), self.first(node, DCAT.accessURL)]
        url = next((u for u in map(portal.web_link, urls) if u), "")
        if not url:
            return None
        size = self.first(node, DCAT.byteSize)
        return FileResource(
            name=self.text(node, DCTERMS.title) or url.rstrip("/").rsplit("/", 1)[-1],
            url=url,
            format=self.format(node),
            description=self.text(node, DCTERMS.description),
            size=int(float(size)) if re.fullmatch(r"\d+(\.0*)?", size) else None,
            modified=portal.parse_time(self.text(node, DCTERMS.modified)),
        )

    def format(self, node: Node) -> str:
        """dct:format (a code list IRI's last segment: GEOJSON), else dcat:mediaType."""
        found = next(self.graph.objects(node, DCTERMS.format), None)
        if isinstance(found, URIRef):  # a described dct:IMT (datos.gob.es) has its label
            named = self.text(found, RDFS.label) or self.text(found, RDF.value)
            return named or str(found).rstrip("/").rsplit("/", 1)[-1]
        if found is not None:
            return self.label(found) or self.text(found, RDF.value)
        media = self.first(node, DCAT.mediaType)  # an IANA IRI ends with type/subtype
        return media.split("/media-types/", 1)[-1]


def _language_is(literal: Literal, wanted: str | None) -> bool:
    if wanted is None:
        return not literal.language
    language = (literal.language or "").lower()
    return language == wanted or language.split("-")[0] == wanted


def _geometry_box(text: str) -> list[float] | None:
    """The box of a GeoJSON or WKT literal (GML is not read)."""
    if text.lstrip().startswith("{"):
        return portal.bbox_of_geojson(text)
    match = WKT.match(text)
    if match is None:
        return None
    crs = (match.group(1) or "").upper()
    if crs and "CRS84" not in crs and not crs.endswith("/EPSG/0/4326"):
        log.info("WKT geometry in %s: only WGS84 boxes are kept", crs)
        return None
    positions = []
    for part in re.split(r"[(),]", match.group(2)):
        numbers = part.split()
        if len(numbers) >= 2:
            try:
                x, y = float(numbers[0]), float(numbers[1])
            except ValueError:
                return None
            positions.append((y, x) if crs.endswith("/4326") else (x, y))  # EPSG: lat first
    return portal.box_of(positions)


READER = Reader(
    "dcat", "metadata", read, options=("rdf_format", "language", "files", "files_limit")
)
