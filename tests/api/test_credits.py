"""Whom to ask about a dataset, who made it and how to cite it: an organization's e-mail and
website and a feed's creator, contact, citation and DOI reach REST, CKAN, DCAT and the pages
(tester_reuse #11, tester_bio #8)."""

from __future__ import annotations

from pathlib import Path

import pyshacl
import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, SKOS

from hub.batches import MetadataBatch, PortalDataset, Publisher
from hub.catalogue import publish
from hub.config import get_settings
from pipelines.readers.eml import read_eml
from pipelines.sources import SourceError, load_source

DCAT = Namespace("http://www.w3.org/ns/dcat#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
SHAPES = Path("reference") / "dcat-ap" / "dcat-ap-3.0.0-SHACL.ttl"
USGS = Publisher(
    "usgs", "U.S. Geological Survey", "public", "info@usgs.example", "https://usgs.example/"
)
CITED = "portal--cited"
PLAIN = "portal--plain"
CITATION = "ONEM (2024). Inventaire naturaliste. https://doi.org/10.15468/abcd12"


@pytest.fixture
def credited(engine, published) -> None:
    publish(
        MetadataBatch(
            dataset_id="portal",
            title="A portal",
            publisher=USGS,
            theme="risk",
            charter="usgs-public-domain",
            source_id="portal",
            source_url="https://portal.example.org",
            datasets=[
                PortalDataset(
                    id=CITED,
                    title="Cited",
                    credits={
                        "creator": "Claire Martin",
                        "contact_name": "Claire Martin",
                        "contact_email": "claire@onem.example",
                        "citation": CITATION,
                        "doi": "10.15468/abcd12",
                    },
                ),
                PortalDataset(id=PLAIN, title="Plain"),
            ],
        ),
        engine=engine,
    )


def dcat(client, dataset_id: str) -> Graph:
    answer = client.get(f"/api/v1/datasets/{dataset_id}/dcat.ttl")
    assert answer.status_code == 200
    return Graph().parse(data=answer.text, format="turtle")


def test_rest_gives_the_organization_s_contact_and_the_feed_s_credits(client, credited):
    cited = client.get(f"/api/v1/datasets/{CITED}").json()
    assert cited["organization"]["email"] == "info@usgs.example"
    assert cited["organization"]["website"] == "https://usgs.example/"
    assert cited["credits"]["contact"] == {
        "name": "Claire Martin",
        "email": "claire@onem.example",
        "website": "https://usgs.example/",
    }
    assert cited["credits"]["creator"] == "Claire Martin"
    assert cited["credits"]["citation"] == CITATION
    assert cited["credits"]["doi"] == "https://doi.org/10.15468/abcd12"
    plain = client.get(f"/api/v1/datasets/{PLAIN}").json()["credits"]
    assert plain["contact"]["email"] == "info@usgs.example"  # the organization's, by default
    assert plain["creator"] is None and plain["doi"] is None


def test_ckan_names_the_maintainer_s_email_and_the_citation(client, credited):
    cited = client.get(f"/api/3/action/package_show?id={CITED}").json()["result"]
    assert (cited["maintainer"], cited["maintainer_email"]) == (
        "Claire Martin",
        "claire@onem.example",
    )
    assert cited["author"] == "Claire Martin"
    extras = {e["key"]: e["value"] for e in cited["extras"]}
    assert extras["citation"] == CITATION and extras["doi"] == "https://doi.org/10.15468/abcd12"
    plain = client.get(f"/api/3/action/package_show?id={PLAIN}").json()["result"]
    assert plain["maintainer_email"] == "info@usgs.example"
    organization = client.get("/api/3/action/organization_show?id=usgs").json()["result"]
    assert {"key": "website", "value": "https://usgs.example/"} in organization["extras"]


def test_dcat_has_an_email_contact_a_creator_a_citation_and_the_doi(client, credited):
    graph = dcat(client, CITED)
    node = URIRef(f"http://testserver/datasets/{CITED}")
    contact = graph.value(node, DCAT.contactPoint)
    assert graph.value(contact, VCARD.hasEmail) == URIRef("mailto:claire@onem.example")
    assert graph.value(contact, VCARD.hasURL) == URIRef("https://usgs.example/")
    assert graph.value(graph.value(node, DCTERMS.creator), FOAF.name) == Literal("Claire Martin")
    assert graph.value(node, DCTERMS.bibliographicCitation) == Literal(CITATION)
    notations = {graph.value(i, SKOS.notation) for i in graph.objects(node, ADMS.identifier)}
    assert Literal("https://doi.org/10.15468/abcd12") in notations
    plain = dcat(client, PLAIN)
    contact = plain.value(URIRef(f"http://testserver/datasets/{PLAIN}"), DCAT.contactPoint)
    assert plain.value(contact, VCARD.hasEmail) == URIRef("mailto:info@usgs.example")
    shapes = Graph().parse(get_settings().samples_dir.parent / SHAPES)
    for document in (graph, plain):
        conforms, _, text = pyshacl.validate(document, shacl_graph=shapes, inference="none")
        assert conforms, text


def test_the_pages_show_the_contact_and_citation(client, credited):
    page = client.get(f"/datasets/{CITED}", headers={"Accept-Language": "fr"}).text
    assert 'href="mailto:claire@onem.example"' in page and "Contact et citation" in page
    assert CITATION in page and 'href="https://doi.org/10.15468/abcd12"' in page
    organization = client.get("/organizations/usgs", headers={"Accept-Language": "fr"}).text
    assert 'href="mailto:info@usgs.example"' in organization and "Courriel" in organization
    assert 'href="https://usgs.example/"' in organization


def test_an_eml_s_creator_contact_citation_and_doi_are_read(tmp_path: Path):
    eml = tmp_path / "eml.xml"
    eml.write_text(
        '<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1" packageId="x/v1"><dataset>'
        "<title>Inventaire</title>"
        "<creator><individualName><givenName>Claire</givenName><surName>Martin</surName>"
        "</individualName><electronicMailAddress>claire@onem.example</electronicMailAddress>"
        "</creator><contact><organizationName>ONEM</organizationName>"
        "<electronicMailAddress>contact@onem.example</electronicMailAddress></contact>"
        "</dataset><additionalMetadata><metadata><gbif>"
        f'<citation identifier="https://doi.org/10.15468/abcd12">{CITATION}</citation>'
        "</gbif></metadata></additionalMetadata></eml:eml>"
    )
    about = read_eml(eml, "eml.xml")
    assert (about.creator, about.contact_name, about.contact_email) == (
        "Claire Martin",
        "ONEM",
        "contact@onem.example",
    )
    assert about.citation == CITATION and about.doi == "https://doi.org/10.15468/abcd12"


def test_a_source_file_declares_its_operator_s_contact(tmp_path: Path):
    text = (
        "id: s\ntitle: S\ntheme: risk\nformat: csv\nurl: file:///x.csv\nschema: x\ncharter: c\n"
        "operator: {id: o, name: O, email: %s, website: %s}\n"
    )
    good = tmp_path / "good.yaml"
    good.write_text(text % ("info@o.example", "https://o.example"))
    operator = load_source(good).operator
    assert (operator.email, operator.website) == ("info@o.example", "https://o.example")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text % ("not-an-address", "https://o.example"))
    with pytest.raises(SourceError, match="operator email"):
        load_source(bad)


def test_portal_readers_carry_the_contact_a_package_or_dcat_node_declares():
    from pipelines.readers import ckan, dcat

    package = {
        "name": "rivers",
        "title": "Rivers",
        "author": "Claire Martin",
        "maintainer": "Data desk",
        "maintainer_email": "data@portal.example",
    }
    entry = ckan.dataset_of("portal", "https://portal.example", package)
    assert entry.credits == {
        "creator": "Claire Martin",
        "contact_name": "Data desk",
        "contact_email": "data@portal.example",
    }
    assert ckan.dataset_of("portal", "https://portal.example", {"name": "x"}).credits is None
    graph = Graph().parse(
        format="turtle",
        data="""
        @prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
        @prefix vcard: <http://www.w3.org/2006/vcard/ns#> .
        <https://portal.example/d/1> a dcat:Dataset ; dct:title "One" ; dct:identifier "1" ;
            dct:bibliographicCitation "Portal (2024). One." ;
            dcat:contactPoint [ vcard:fn "Desk" ; vcard:hasEmail <mailto:desk@portal.example> ] .
        """,
    )
    (read,) = dcat.Catalogue(graph, ["en", None]).datasets("portal")
    assert read.credits == {
        "contact_name": "Desk",
        "contact_email": "desk@portal.example",
        "citation": "Portal (2024). One.",
    }
