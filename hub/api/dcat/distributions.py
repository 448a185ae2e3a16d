"""A dataset's distributions: its records as CSV, JSON and GeoJSON, its grid, its files.

Each is what the dataset's CKAN resource says, at the same URL: a harvester reads either.
Records are served by the hub (`/api/v1/datasets/{id}/records?format=…`): CSV and GeoJSON
without `limit` are whole downloads, JSON is paged by cursor, so it gets an access URL only. A
grid is served by the hub too: described at `/api/v1/datasets/{id}/grid` (the access URL) and
downloaded whole as NetCDF at `?format=netcdf` when one answer may hold it. A portal's file is
reached at the URL the portal gave, when that is a web URL; otherwise at the dataset's page.
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
from hub.api.schemas import version_url
from hub.api.shapes import grid_download
from hub.licences import NO_LICENCE_STATEMENT, NOT_SPECIFIED
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
        "Every record the caller may read, as one GeoJSON FeatureCollection of points; "
        "`from`, `to` and `bbox` narrow it (with `limit`, a page and the URL of the `next`).",
        download=True,
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
        dataset = entry.dataset
        schema = URIRef(version_url(base, dataset.schema_name, dataset.schema_version))
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
    if resource.kind == "grid":  # the hub serves it, described and cut, through the grant
        add_grid_urls(graph, distribution, entry, base, resource, whole)
        add_file_type(graph, distribution, vocabularies.NETCDF)
        return  # no size: the hub's NetCDF-4 is re-encoded, not the harvested file measured
    url = web_iri(resource.url)
    add_url(graph, distribution, DCAT.accessURL, url or node)
    if url is not None:
        add_url(graph, distribution, DCAT.downloadURL, url)
    file_type = vocabularies.file_type_of(resource.format or "")
    if file_type is not None:
        add_file_type(graph, distribution, file_type)
    size = details.get("size")
    known = isinstance(size, int) and not isinstance(size, bool) and size >= 0
    if whole and known and url is not None:  # the size is the file's at that URL
        graph.add((distribution, DCAT.byteSize, Literal(size, datatype=XSD.nonNegativeInteger)))


def add_grid_urls(
    graph: Graph, distribution: URIRef, entry: Entry, base: str, grid: Resource, whole: bool
) -> None:
    """A grid's description as its access URL and, when one answer may hold the whole grid,
    its NetCDF as the download URL (the CKAN resource's URL)."""
    dataset_id = segment(entry.dataset.id)
    add_url(graph, distribution, DCAT.accessURL, URIRef(f"{base}api/v1/datasets/{dataset_id}/grid"))
    download = grid_download(dataset_id, base, grid, whole)
    if download is not None:
        add_url(graph, distribution, DCAT.downloadURL, URIRef(download))


def start(
    graph: Graph, node: URIRef, distribution: URIRef, entry: Entry, resource: Resource
) -> None:
    """What every distribution says: its dataset, dates, licence and attribution."""
    dataset = entry.dataset
    graph.add((node, DCAT.distribution, distribution))
    graph.add((distribution, RDF.type, DCAT.Distribution))
    graph.add((distribution, DCTERMS.issued, moment(resource.created_at)))
    graph.add((distribution, DCTERMS.modified, moment(resource.modified_at)))
    published = web_iri(dataset.licence_url)
    licence = vocabularies.licence_of(dataset.licence_id, dataset.licence_url) or published
    if dataset.licence_id == NOT_SPECIFIED:  # no licence: a producer's page is none
        licence = None
        unstated = URIRef(f"{node}#no-licence")
        graph.add((distribution, DCTERMS.rights, unstated))
        graph.add((unstated, RDF.type, DCTERMS.RightsStatement))
        graph.add((unstated, RDFS.label, text(NO_LICENCE_STATEMENT)))
    if licence is not None:
        graph.add((distribution, DCTERMS.license, licence))
        graph.add((licence, RDF.type, DCTERMS.LicenseDocument))
        label = dataset.licence_title or dataset.licence_id
        if label:
            graph.add((licence, RDFS.label, text(label)))
        if published is not None and published != licence:  # the publisher's own text
            graph.add((licence, RDFS.seeAlso, published))
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
