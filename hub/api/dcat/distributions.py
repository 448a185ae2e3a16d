"""A dataset's distributions: its records as CSV, JSON and GeoJSON, its grid, its files.

Records are served by the hub (`/api/v1/datasets/{id}/records?format=…`): the CSV export is the
whole download, JSON and GeoJSON are paged by cursor, so they get an access URL only. A grid is
served by the hub too (`/api/v1/datasets/{id}/grid`, described and cut), its source's file being
the download. A portal's file is reached at the URL the portal gave, when that is a web URL;
otherwise at the dataset's page in the hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, RDFS, XSD

from hub.api.dcat import vocabularies
from hub.api.dcat.listing import Entry
from hub.api.dcat.terms import moment, segment, text, web_iri
from hub.api.dcat.vocabularies import CSV, GEOJSON, JSON, FileType
from hub.models import Resource


@dataclass(frozen=True)
class RecordFormat:
    """One way the hub serves a dataset's records."""

    key: str  # the `format` query value, and the distribution's fragment
    file_type: FileType
    title: str
    description: str
    download: bool  # one request gives every record


RECORD_FORMATS = (
    RecordFormat(
        "csv", CSV, "Records as CSV",
        "Every record the caller may read, as one CSV file, its columns as the Table Schema "
        "names them; `from`, `to` and `bbox` narrow it.",
        download=True,
    ),
    RecordFormat(
        "json", JSON, "Records as JSON",
        "Records as JSON pages of `records` and the URL of the `next` page; `from`, `to`, "
        "`bbox` and `limit` narrow them.",
        download=False,
    ),
    RecordFormat(
        "geojson", GEOJSON, "Records as GeoJSON",
        "Records as GeoJSON FeatureCollection pages of points, the URL of the next page in "
        "`next`; `from`, `to`, `bbox` and `limit` narrow them.",
        download=False,
    ),
)  # fmt: skip


def add_distributions(graph: Graph, node: URIRef, entry: Entry, base: str, whole: bool) -> None:
    """Every distribution of a dataset, linked from it."""
    for resource in entry.resources:
        if resource.kind == "records":
            for shape in RECORD_FORMATS:
                if shape.file_type is GEOJSON and not has_coordinates(resource):
                    continue
                add_records(graph, node, entry, base, resource, shape)
        elif resource.kind in ("grid", "file"):
            add_linked(graph, node, entry, base, resource, whole)


def has_coordinates(resource: Resource) -> bool:
    """Whether a record table has the longitude and latitude that GeoJSON needs."""
    descriptor: dict[str, Any] = resource.schema_descriptor or {}
    hub = descriptor.get("hub") or {}
    names = {f.get("name") for f in descriptor.get("fields", []) if isinstance(f, dict)}
    return bool(hub.get("lon") in names and hub.get("lat") in names and hub.get("lon"))


def add_records(
    graph: Graph, node: URIRef, entry: Entry, base: str, resource: Resource, shape: RecordFormat
) -> None:
    """One format of the records the hub serves."""
    dataset_id = segment(entry.dataset.id)
    distribution = URIRef(f"{node}#records-{shape.key}")
    url = URIRef(f"{base}api/v1/datasets/{dataset_id}/records?format={shape.key}")
    start(graph, node, distribution, entry, resource)
    graph.add((distribution, DCTERMS.title, text(shape.title)))
    graph.add((distribution, DCTERMS.description, text(shape.description)))
    add_url(graph, distribution, DCAT.accessURL, url)
    if shape.download:
        add_url(graph, distribution, DCAT.downloadURL, url)
    add_file_type(graph, distribution, shape.file_type)
    if shape.file_type is not GEOJSON:  # the schema's fields are the CSV columns and JSON keys
        schema = URIRef(f"{base}api/v1/datasets/{dataset_id}/schema")
        graph.add((distribution, DCTERMS.conformsTo, schema))


def add_linked(
    graph: Graph, node: URIRef, entry: Entry, base: str, resource: Resource, whole: bool
) -> None:
    """A grid the hub stores or a file a portal lists, at the URL its source gave."""
    distribution = URIRef(f"{node}#resource-{segment(resource.id)}")
    details = resource.details or {}
    start(graph, node, distribution, entry, resource)
    graph.add((distribution, DCTERMS.title, text(resource.name or resource.id)))
    if isinstance(details.get("description"), str) and details["description"].strip():
        graph.add((distribution, DCTERMS.description, text(details["description"])))
    url = web_iri(resource.url)
    if resource.kind == "grid":  # the hub serves it, described and cut, through the grant
        served = URIRef(f"{base}api/v1/datasets/{segment(entry.dataset.id)}/grid")
        add_url(graph, distribution, DCAT.accessURL, served)
    else:
        add_url(graph, distribution, DCAT.accessURL, url or node)
    if url is not None:
        add_url(graph, distribution, DCAT.downloadURL, url)
    file_type = vocabularies.file_type_of(resource.format or "")
    if file_type is not None:
        add_file_type(graph, distribution, file_type)
    size = details.get("size")
    # The size is the source's file's, so it is said only beside a downloadURL that is that
    # file: a grid the hub serves at /grid alone is re-encoded there, to another size.
    known = isinstance(size, int) and not isinstance(size, bool) and size >= 0
    if whole and known and url is not None:
        graph.add((distribution, DCAT.byteSize, Literal(size, datatype=XSD.nonNegativeInteger)))


def start(
    graph: Graph, node: URIRef, distribution: URIRef, entry: Entry, resource: Resource
) -> None:
    """What every distribution says: its dataset, dates, licence and attribution."""
    dataset = entry.dataset
    graph.add((node, DCAT.distribution, distribution))
    graph.add((distribution, RDF.type, DCAT.Distribution))
    graph.add((distribution, DCTERMS.issued, moment(resource.created_at)))
    graph.add((distribution, DCTERMS.modified, moment(resource.modified_at)))
    licence = web_iri(dataset.licence_url)
    if licence is not None:
        graph.add((distribution, DCTERMS.license, licence))
        graph.add((licence, RDF.type, DCTERMS.LicenseDocument))
        label = dataset.licence_title or dataset.licence_id
        if label:
            graph.add((licence, RDFS.label, text(label)))
    if dataset.mandatory_mention.strip():
        mention = URIRef(f"{node}#mention")
        graph.add((distribution, DCTERMS.rights, mention))
        graph.add((mention, RDF.type, DCTERMS.RightsStatement))
        graph.add((mention, RDFS.label, text(dataset.mandatory_mention)))


def add_url(graph: Graph, distribution: URIRef, link: URIRef, url: URIRef) -> None:
    """An access or download URL (typed, as DCAT-AP's shapes check its class)."""
    graph.add((distribution, link, url))
    graph.add((url, RDF.type, RDFS.Resource))


def add_file_type(graph: Graph, distribution: URIRef, file_type: FileType) -> None:
    """The distribution's EU file type and, if IANA registers one, its media type."""
    graph.add((distribution, DCTERMS.format, file_type.uri))
    graph.add((file_type.uri, RDF.type, DCTERMS.MediaTypeOrExtent))
    media_type = file_type.media_type_uri
    if media_type is not None:
        graph.add((distribution, DCAT.mediaType, media_type))
        graph.add((media_type, RDF.type, DCTERMS.MediaType))
