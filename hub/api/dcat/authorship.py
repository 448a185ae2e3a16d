"""A dataset's authorship in DCAT-AP 3: its contact point (with an e-mail when one is declared),
its creator, the citation its producer asks for and its DOI."""

from __future__ import annotations

from urllib.parse import quote

from rdflib import Graph, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, SKOS

from hub import credits
from hub.api.dcat.listing import Entry
from hub.api.dcat.terms import segment, text, web_iri
from hub.api.dcat.vocabularies import ADMS, VCARD


def add_contact(graph: Graph, entry: Entry, base: str, publisher: URIRef) -> URIRef:
    """Whom to ask about the dataset: its feed's contact, else its operator; by e-mail when one
    is declared, and the operator's website (else its datasets in the hub)."""
    contact = URIRef(f"{publisher}#contact")
    point = credits.contact_of(entry.dataset, entry.organization)
    if credits.credits_of(entry.dataset).contact_email:  # the dataset's own, not its operator's
        contact = URIRef(f"{base}datasets/{segment(entry.dataset.id)}#contact")
    graph.add((contact, RDF.type, VCARD.Kind))
    graph.add((contact, RDF.type, VCARD.Organization))
    graph.add((contact, VCARD.fn, text(point.name or entry.dataset.organization_id)))
    if point.email:
        graph.add((contact, VCARD.hasEmail, URIRef(f"mailto:{quote(point.email, safe='@')}")))
    website = web_iri(point.website)
    organization = segment(entry.dataset.organization_id)
    graph.add((contact, VCARD.hasURL, website or URIRef(f"{base}?organization={organization}")))
    return contact


def add_credits(graph: Graph, node: URIRef, entry: Entry, citation: str) -> None:
    """The dataset's creator and DOI as its feed declares them, and how to cite it: the
    producer's own citation, else `citation` (the hub's attribution line)."""
    own = credits.credits_of(entry.dataset)
    if own.creator:
        creator = URIRef(f"{node}#creator")
        graph.add((node, DCTERMS.creator, creator))
        graph.add((creator, RDF.type, FOAF.Agent))
        graph.add((creator, FOAF.name, text(own.creator)))
    if own.citation or citation:
        graph.add((node, DCTERMS.bibliographicCitation, text(own.citation or citation)))
    if own.doi:
        identifier = URIRef(f"{node}#doi")
        graph.add((node, ADMS.identifier, identifier))
        graph.add((identifier, RDF.type, ADMS.Identifier))
        graph.add((identifier, SKOS.notation, text(credits.doi_url(own.doi))))
