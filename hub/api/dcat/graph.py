"""The DCAT-AP 3 graph of a catalogue page and of one dataset.

A dataset's URI is its page, `{base}datasets/{id}`, which answers this document by content
negotiation; the nodes that describe it (distributions, coverage, rights) are fragments of it.
Every controlled-vocabulary value carries its class in the graph (`dct:LicenseDocument`,
`skos:Concept` …), so the DCAT-AP SHACL shapes hold without the EU vocabularies loaded.
What is computed from the rows (time range, extent, byte sizes) and the source URL are written
only for callers who may read every row (`hub.access.sees_computed`), as in the CKAN API.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, PROV, RDF, RDFS, SKOS

from hub import access, citations
from hub.access import Actor
from hub.api.dcat import authorship, distributions, origins, vocabularies
from hub.api.dcat.listing import Entry, Page
from hub.api.dcat.terms import moment, segment, text, web_iri
from hub.api.dcat.vocabularies import ADMS, GSP, HYDRA, VCARD
from hub.api.rudi import language_of
from hub.api.schemas import version_url
from hub.config import get_settings
from hub.models import Dataset

CATALOG_TITLE = "Territorial data hub"
CATALOG_DESCRIPTION = (
    "Environmental and crisis data of a territory — air quality, energy, biodiversity and "
    "risks — shared by its public and private operators under legal charters, validated "
    "against shared Table Schemas."
)
DCAT_VERSION = URIRef("http://www.w3.org/ns/dcat#version")  # DCAT 3's; rdflib's DCAT lacks it
PREFIXES = {
    "dcat": DCAT,
    "dct": DCTERMS,
    "foaf": FOAF,
    "skos": SKOS,
    "rdfs": RDFS,
    "vcard": VCARD,
    "hydra": HYDRA,
    "gsp": GSP,
    "adms": ADMS,
    "prov": PROV,
    "owl": OWL,
}


@dataclass(frozen=True)
class View:
    """Where a catalogue page stands among the pages, and how to link to one."""

    number: int
    last: int
    link: Callable[[int], str]


def new_graph() -> Graph:
    """An empty graph with the vocabularies' usual prefixes."""
    graph = Graph(bind_namespaces="core")
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace)
    return graph


def dataset_uri(base: str, dataset_id: str) -> URIRef:
    """A dataset's URI: its page in the hub."""
    return URIRef(f"{base}datasets/{segment(dataset_id)}")


def catalog_graph(page: Page, base: str, view: View, actor: Actor) -> Graph:
    """A catalogue page: the catalogue, its datasets on this page, and the Hydra view."""
    graph = new_graph()
    catalog = URIRef(f"{base}catalog")
    graph.add((catalog, RDF.type, DCAT.Catalog))
    graph.add((catalog, DCTERMS.title, text(CATALOG_TITLE)))
    graph.add((catalog, DCTERMS.description, text(CATALOG_DESCRIPTION)))
    graph.add((catalog, DCTERMS.publisher, add_hub(graph, base)))
    graph.add((catalog, FOAF.homepage, URIRef(base)))
    graph.add((URIRef(base), RDF.type, FOAF.Document))
    graph.add((catalog, DCAT.themeTaxonomy, add_theme_scheme(graph)))
    add_catalogue_licence(graph, catalog)
    languages = {"en"} | {language_of_dataset(e.dataset) for e in page.entries}
    for code in sorted(languages - {""}):
        add_language(graph, catalog, code)
    if page.modified is not None:
        graph.add((catalog, DCTERMS.modified, moment(page.modified)))
    for entry in page.entries:
        whole = access.sees_computed(entry.dataset, actor)
        node = add_dataset(graph, entry, base, whole)
        graph.add((catalog, DCAT.dataset, node))
        if (origins.record_uri(node), RDF.type, DCAT.CatalogRecord) in graph:
            graph.add((catalog, DCAT.record, origins.record_uri(node)))
    add_view(graph, catalog, page.total, view)
    return graph


def dataset_graph(entry: Entry, base: str, actor: Actor) -> Graph:
    """One dataset's document."""
    graph = new_graph()
    add_dataset(graph, entry, base, access.sees_computed(entry.dataset, actor))
    return graph


def add_view(graph: Graph, catalog: URIRef, total: int, view: View) -> None:
    """The catalogue as a Hydra collection, and this page as its partial view."""
    here = URIRef(view.link(view.number))
    graph.add((catalog, RDF.type, HYDRA.Collection))
    graph.add((catalog, HYDRA.totalItems, Literal(total)))
    graph.add((catalog, HYDRA.view, here))
    graph.add((here, RDF.type, HYDRA.PartialCollectionView))
    graph.add((here, HYDRA.first, URIRef(view.link(1))))
    graph.add((here, HYDRA.last, URIRef(view.link(view.last))))
    if view.number > 1:
        graph.add((here, HYDRA.previous, URIRef(view.link(view.number - 1))))
    if view.number < view.last:
        graph.add((here, HYDRA.next, URIRef(view.link(view.number + 1))))


def add_dataset(graph: Graph, entry: Entry, base: str, whole: bool) -> URIRef:
    """A dataset and everything that describes it; `whole` False leaves out what is computed
    from its rows."""
    dataset = entry.dataset
    node = dataset_uri(base, dataset.id)
    graph.add((node, RDF.type, DCAT.Dataset))
    graph.add((node, DCTERMS.identifier, text(dataset.id)))
    graph.add((node, DCTERMS.title, text(dataset.title or dataset.id)))
    graph.add((node, DCTERMS.description, text(dataset.description or dataset.title)))
    origins.add_dates(graph, node, dataset, whole)
    add_language(graph, node, language_of_dataset(dataset))
    frequency = vocabularies.frequency_of(entry.schedule) if entry.schedule else None
    if frequency is not None:
        graph.add((node, DCTERMS.accrualPeriodicity, frequency))
        graph.add((frequency, RDF.type, DCTERMS.Frequency))
    for keyword in sorted({k.strip() for k in dataset.keywords or [] if k.strip()}):
        graph.add((node, DCAT.keyword, text(keyword)))
    for theme in vocabularies.themes_of(dataset.theme):
        graph.add((node, DCAT.theme, add_theme(graph, theme)))
    right = vocabularies.access_right_of(access.shared_level(dataset))
    graph.add((node, DCTERMS.accessRights, right.uri))
    graph.add((right.uri, RDF.type, DCTERMS.RightsStatement))
    graph.add((right.uri, RDFS.label, Literal(right.label, lang="en")))
    publisher = add_publisher(graph, entry, base)
    graph.add((node, DCTERMS.publisher, publisher))
    graph.add((node, DCAT.contactPoint, authorship.add_contact(graph, entry, base, publisher)))
    citation = citations.citation_of(dataset, entry.organization, entry.version, base)
    authorship.add_credits(graph, node, entry, citations.attribution(citation))
    if entry.version is not None:
        graph.add((node, DCAT_VERSION, text(entry.version.label)))
    if any(r.kind == "records" for r in entry.resources):
        graph.add((node, DCTERMS.conformsTo, add_table_schema(graph, entry, base)))
    if whole:
        add_coverage(graph, node, entry)
        add_landing_page(graph, node, entry)
    distributions.add_distributions(graph, node, entry, base, whole)
    return node


def language_of_dataset(dataset: Dataset) -> str:
    """The language a dataset's title and description are written in (fr or en), told from
    their words as RUDI's synopsis is; "" when they do not tell (the hub keeps none)."""
    return language_of(f"{dataset.title}. {dataset.description}", default="")


def add_language(graph: Graph, node: URIRef, code: str) -> None:
    """A dct:language from the EU language table, if the code has one there."""
    language = vocabularies.language_iri(code)
    if language is not None:
        graph.add((node, DCTERMS.language, language))
        graph.add((language, RDF.type, DCTERMS.LinguisticSystem))


def add_catalogue_licence(graph: Graph, catalog: URIRef) -> None:
    """The licence the catalogue's metadata is shared under (HUB_CATALOGUE_LICENCE)."""
    given = get_settings().catalogue_licence
    licence = vocabularies.licence_of(given) or web_iri(given)
    if licence is not None:
        graph.add((catalog, DCTERMS.license, licence))
        graph.add((licence, RDF.type, DCTERMS.LicenseDocument))


def add_theme_scheme(graph: Graph) -> URIRef:
    """The EU data-theme table, as the scheme the themes come from."""
    scheme = vocabularies.DATA_THEME
    graph.add((scheme, RDF.type, SKOS.ConceptScheme))
    graph.add((scheme, DCTERMS.title, Literal("Data theme", lang="en")))
    return scheme


def add_theme(graph: Graph, theme: vocabularies.Concept) -> URIRef:
    """An EU data theme, with its label and scheme."""
    graph.add((theme.uri, RDF.type, SKOS.Concept))
    graph.add((theme.uri, SKOS.prefLabel, Literal(theme.label, lang="en")))
    graph.add((theme.uri, SKOS.inScheme, add_theme_scheme(graph)))
    return theme.uri


def add_hub(graph: Graph, base: str) -> URIRef:
    """The hub, as the agent that publishes the catalogue."""
    agent = URIRef(f"{base}#hub")
    graph.add((agent, RDF.type, FOAF.Agent))
    graph.add((agent, FOAF.name, text(CATALOG_TITLE)))
    return agent


def add_publisher(graph: Graph, entry: Entry, base: str) -> URIRef:
    """The operator that shares the dataset."""
    organization_id = entry.dataset.organization_id
    agent = URIRef(f"{base}organizations/{segment(organization_id)}")
    name = entry.organization.name if entry.organization else organization_id
    graph.add((agent, RDF.type, FOAF.Agent))
    graph.add((agent, FOAF.name, text(name or organization_id)))
    return agent


def add_table_schema(graph: Graph, entry: Entry, base: str) -> URIRef:
    """The Frictionless Table Schema the dataset's records follow: one IRI per schema name and
    version, shared by every dataset on it, which serves that version (the schema registry)."""
    dataset = entry.dataset
    schema = table_schema_uri(base, dataset)
    graph.add((schema, RDF.type, DCTERMS.Standard))
    graph.add((schema, DCTERMS.title, text(f"Table Schema {dataset.schema_name}")))
    graph.add((schema, OWL.versionInfo, Literal(dataset.schema_version)))
    every = URIRef(f"{base}api/v1/schemas/{segment(dataset.schema_name)}")
    graph.add((schema, DCTERMS.isVersionOf, every))
    graph.add((every, RDF.type, DCTERMS.Standard))
    graph.add((every, DCTERMS.title, text(f"Table Schema {dataset.schema_name}")))
    return schema


def table_schema_uri(base: str, dataset: Dataset) -> URIRef:
    """The IRI of the schema version a dataset's records are stored under."""
    return URIRef(version_url(base, dataset.schema_name, dataset.schema_version))


def add_coverage(graph: Graph, node: URIRef, entry: Entry) -> None:
    """The time span and extent of the rows (for callers who may read every row)."""
    dataset = entry.dataset
    if dataset.time_min is not None or dataset.time_max is not None:
        period = URIRef(f"{node}#temporal")
        graph.add((node, DCTERMS.temporal, period))
        graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
        if dataset.time_min is not None:
            graph.add((period, DCAT.startDate, moment(dataset.time_min)))
        if dataset.time_max is not None:
            graph.add((period, DCAT.endDate, moment(dataset.time_max)))
    polygon = wkt_polygon(dataset.bbox)
    if polygon is not None:
        place = URIRef(f"{node}#spatial")
        graph.add((node, DCTERMS.spatial, place))
        graph.add((place, RDF.type, DCTERMS.Location))
        graph.add((place, DCAT.bbox, Literal(polygon, datatype=GSP.wktLiteral)))


def add_landing_page(graph: Graph, node: URIRef, entry: Entry) -> None:
    """The page a portal describes a dataset on (datasets a portal lists)."""
    if not any(r.kind == "file" for r in entry.resources):
        return  # a record or grid dataset's source URL is a feed, not a page for people
    page = web_iri(entry.dataset.source_url)
    if page is not None:
        graph.add((node, DCAT.landingPage, page))
        graph.add((page, RDF.type, FOAF.Document))


def wkt_polygon(bbox: list[float] | None) -> str | None:
    """A WGS84 box as a WKT polygon (longitude first, as GeoSPARQL's default CRS84)."""
    if not bbox or len(bbox) != 4:
        return None
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        return None
    ring = [(west, south), (east, south), (east, north), (west, north), (west, south)]
    return "POLYGON((" + ", ".join(f"{x!r} {y!r}" for x, y in ring) + "))"
