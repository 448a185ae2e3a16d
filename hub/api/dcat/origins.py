"""A re-published dataset's original in DCAT-AP 3, and the hub's own record of it.

A dataset a portal lists says the original's identity — each of its identifiers an
`adms:Identifier` (DCAT-AP's "other identifier"), its IRI `prov:wasDerivedFrom` — and the
original's `dct:issued` and `dct:modified`: aggregators harvesting both the portal and the hub
deduplicate on them. `dct:source` would fit, but DCAT-AP's shapes want its object described as a
`dcat:Dataset` (title, description), which the hub cannot say of another portal's node. When the
hub listed it and last changed it goes to a `dcat:CatalogRecord` instead, as DCAT-AP separates a
catalogue's record from the dataset it describes. Datasets no portal lists keep the hub's dates.
"""

from __future__ import annotations

from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, PROV, RDF, RDFS, SKOS

from hub.api.dcat.terms import moment, text, web_iri
from hub.api.dcat.vocabularies import ADMS
from hub.models import Dataset
from hub.origins import Origin, origin_of


def add_dates(graph: Graph, node: URIRef, dataset: Dataset, whole: bool) -> None:
    """The dataset's issued and modified dates: the original's when a portal lists it (with
    its identity, for callers who may read every row, as its landing page), else the hub's."""
    origin = origin_of(dataset)
    if origin is None:
        graph.add((node, DCTERMS.issued, moment(dataset.created_at)))
        graph.add((node, DCTERMS.modified, moment(dataset.modified_at)))
        return
    if origin.issued is not None:
        graph.add((node, DCTERMS.issued, moment(origin.issued)))
    if origin.modified is not None:
        graph.add((node, DCTERMS.modified, moment(origin.modified)))
    if whole:
        add_identity(graph, node, origin)
    add_record(graph, node, dataset)


def add_identity(graph: Graph, node: URIRef, origin: Origin) -> None:
    """The original's identifier and IRI, each an adms:Identifier; its IRI as the dataset
    this one derives from."""
    original = web_iri(origin.iri)
    notations = [origin.identifier] + ([str(original)] if original is not None else [])
    for number, notation in enumerate(dict.fromkeys(n for n in notations if n), start=1):
        identifier = URIRef(f"{node}#identifier-{number}")
        graph.add((node, ADMS.identifier, identifier))
        graph.add((identifier, RDF.type, ADMS.Identifier))
        graph.add((identifier, SKOS.notation, text(notation)))
    if original is not None:
        graph.add((node, PROV.wasDerivedFrom, original))


def record_uri(node: URIRef) -> URIRef:
    """The IRI of the hub's catalogue record of a dataset."""
    return URIRef(f"{node}#record")


def add_record(graph: Graph, node: URIRef, dataset: Dataset) -> URIRef:
    """The hub's record of a dataset: when it listed it, when it last changed it."""
    record = record_uri(node)
    graph.add((record, RDF.type, DCAT.CatalogRecord))
    graph.add((record, FOAF.primaryTopic, node))
    graph.add((record, DCTERMS.issued, moment(dataset.created_at)))
    graph.add((record, DCTERMS.modified, moment(dataset.modified_at)))
    # DCAT 3's own axiom: the shapes want the record's topic to be a dcat:Resource.
    graph.add((DCAT.Dataset, RDFS.subClassOf, DCAT.Resource))
    return record
