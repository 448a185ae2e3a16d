"""A dataset re-published from a portal keeps the original's identity and dates, in DCAT, CKAN
and the REST detail; a dataset no portal lists is described as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.support import Published, bearer
from api.test_dcat import check, document, shapes  # noqa: F401 - `shapes` is a fixture
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, PROV, RDF, SKOS
from readers.test_portal_readers import ETALAB, rudi_record
from sqlalchemy import Engine
from sqlmodel import Session

from hub.batches import MetadataBatch, PortalDataset, Publisher
from hub.catalogue import publish
from hub.models import Dataset, as_utc
from pipelines.harvesting import harvest_source
from pipelines.readers import ckan, rudi
from pipelines.sources import load_source

# Plain namespaces: rdflib's closed DCAT and XSD warn when pytest probes module attributes.
DCAT = Namespace("http://www.w3.org/ns/dcat#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")
BASE = "http://testserver/"
ORIGINAL = "https://portal.example.org/ds/a"
CATALOGUE = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<https://portal.example.org/catalog> a dcat:Catalog ; dcat:dataset <{iri}> .
<{iri}> a dcat:Dataset ; dct:identifier "a" ; dct:title "Flood zones" ;
    dct:description "Flood zones of the basin." ;
    dct:issued "2025-03-01T08:00:00Z"^^xsd:dateTime ;
    dct:modified "{modified}"^^xsd:dateTime ;
    dcat:landingPage <https://portal.example.org/page/a> .
"""
USGS = Publisher("usgs", "U.S. Geological Survey")


def stamp(moment: datetime) -> Literal:
    return Literal(moment.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
                   datatype=XSD.dateTime)  # fmt: skip


def harvest_catalogue(folder: Path, modified: str) -> str:
    """Harvest a DCAT catalogue file holding one dataset; its id in the hub."""
    catalogue = folder / "cat.ttl"
    catalogue.write_text(CATALOGUE.format(iri=ORIGINAL, modified=modified), encoding="utf-8")
    source = folder / "tester-dcat.yaml"
    source.write_text(
        f"id: tester-dcat\ntitle: A tester's portal\noperator: {{id: usgs, name: USGS}}\n"
        f"theme: risk\nformat: dcat\nurl: {catalogue.as_uri()}\ncharter: usgs-public-domain\n",
        encoding="utf-8",
    )
    outcome = harvest_source(load_source(source))
    assert outcome.status == "succeeded", outcome.message
    return "tester-dcat--a"


def stored(engine: Engine, dataset_id: str) -> Dataset:
    with Session(engine) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        return dataset


def extras(client: TestClient, dataset_id: str, **headers: str) -> dict[str, str]:
    answer = client.get(f"/api/3/action/package_show?id={dataset_id}", headers=headers)
    return {e["key"]: e["value"] for e in answer.json()["result"]["extras"]}


def notations(graph: Graph, node: URIRef) -> set[str]:
    return {str(graph.value(i, SKOS.notation)) for i in graph.objects(node, ADMS.identifier)}


def test_a_harvested_dcat_dataset_says_its_original_and_the_hub_keeps_its_own_record(
    client: TestClient,
    engine: Engine,
    tmp_path: Path,
    shapes: Graph,  # noqa: F811
) -> None:
    dataset_id = harvest_catalogue(tmp_path, "2026-11-01T00:00:00Z")
    hub = stored(engine, dataset_id)
    for suffix in ("ttl", "jsonld", "rdf"):
        graph = document(client, dataset_id, suffix)
        node = URIRef(f"{BASE}datasets/{dataset_id}")
        assert graph.value(node, DCTERMS.identifier) == Literal(dataset_id)
        assert notations(graph, node) == {"a", ORIGINAL}
        assert all((i, RDF.type, ADMS.Identifier) in graph
                   for i in graph.objects(node, ADMS.identifier))  # fmt: skip
        assert list(graph.objects(node, PROV.wasDerivedFrom)) == [URIRef(ORIGINAL)]
        assert list(graph.objects(node, DCTERMS.issued)) == [
            Literal("2025-03-01T08:00:00Z", datatype=XSD.dateTime)
        ]
        assert list(graph.objects(node, DCTERMS.modified)) == [
            Literal("2026-11-01T00:00:00Z", datatype=XSD.dateTime)
        ]
        (record,) = graph.subjects(FOAF.primaryTopic, node)
        assert (record, RDF.type, DCAT.CatalogRecord) in graph
        assert graph.value(record, DCTERMS.issued) == stamp(as_utc(hub.created_at))
        assert graph.value(record, DCTERMS.modified) == stamp(as_utc(hub.modified_at))
        check(graph, shapes)
    page = Graph().parse(data=client.get("/catalog.ttl").content, format="turtle")
    catalog = URIRef(f"{BASE}catalog")
    assert list(page.objects(catalog, DCAT.record)) == [
        URIRef(f"{BASE}datasets/{dataset_id}#record")
    ]
    check(page, shapes)


def test_ckan_and_rest_carry_the_original_beside_the_hubs_own_dates(
    client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    dataset_id = harvest_catalogue(tmp_path, "2026-11-01T00:00:00Z")
    hub = stored(engine, dataset_id)
    package = client.get(f"/api/3/action/package_show?id={dataset_id}").json()["result"]
    assert package["metadata_modified"] == as_utc(hub.modified_at).replace(tzinfo=None).isoformat()
    kept = extras(client, dataset_id)
    assert (kept["guid"], kept["uri"]) == ("a", ORIGINAL)
    assert (kept["issued"], kept["modified"]) == ("2025-03-01T08:00:00", "2026-11-01T00:00:00")
    detail = client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert detail["original"] == {
        "identifier": "a",
        "iri": ORIGINAL,
        "issued": "2025-03-01T08:00:00Z",
        "modified": "2026-11-01T00:00:00Z",
    }


def test_the_original_changing_is_a_change_of_metadata(engine: Engine, tmp_path: Path) -> None:
    dataset_id = harvest_catalogue(tmp_path, "2026-11-01T00:00:00Z")
    first = stored(engine, dataset_id).modified_at
    harvest_catalogue(tmp_path, "2026-11-01T00:00:00Z")  # the same catalogue again
    assert stored(engine, dataset_id).modified_at == first
    harvest_catalogue(tmp_path, "2026-11-20T00:00:00Z")  # the portal changed its dataset
    again = stored(engine, dataset_id)
    assert again.modified_at > first
    assert again.origin is not None and again.origin["modified"] == "2026-11-20T00:00:00+00:00"


def test_ckan_and_rudi_originals_harvested_from_their_listings(
    client: TestClient,
    samples: Path,
    shapes: Graph,  # noqa: F811
) -> None:
    show = json.loads((samples / "ckan" / "envidat_package_show.json").read_text("utf-8"))
    package: dict[str, Any] = show["result"]
    from_ckan = ckan.dataset_of("envidat", "https://www.envidat.ch", package)
    from_rudi = rudi.dataset_of(
        "rennes", "https://rudi.example.org/api/v1/resources",
        rudi_record("https://rudi.example.org", 1, "Zones inondables", "environment", [],
                    "2026-07-30T06:00:00+02:00", ETALAB, []),
        ["fr"],
    )  # fmt: skip
    publish(MetadataBatch(
        dataset_id="portals", title="Portals", publisher=USGS, theme="risk",
        charter="usgs-public-domain", source_id="portals", datasets=[from_ckan, from_rudi],
    ))  # fmt: skip
    uuid = package["id"]
    kept = extras(client, from_ckan.id)
    assert kept["guid"] == uuid
    assert kept["uri"] == f"https://www.envidat.ch/dataset/{uuid}"  # ckanext-dcat's dataset URI
    assert (kept["issued"], kept["modified"]) == (
        package["metadata_created"], package["metadata_modified"]
    )  # fmt: skip
    graph = document(client, from_ckan.id)
    node = URIRef(f"{BASE}datasets/{from_ckan.id}")
    assert notations(graph, node) == {uuid, f"https://www.envidat.ch/dataset/{uuid}"}
    check(graph, shapes)
    graph = document(client, from_rudi.id)
    node = URIRef(f"{BASE}datasets/{from_rudi.id}")
    assert notations(graph, node) == {"5f1e6c0a-8a7b-4c1d-9e2f-000000000001"}
    assert graph.value(node, PROV.wasDerivedFrom) is None  # a RUDI node gives no IRI
    assert graph.value(node, DCTERMS.issued) == stamp(datetime(2021, 4, 6, 7, 0, tzinfo=UTC))
    assert graph.value(node, DCTERMS.modified) == stamp(datetime(2026, 7, 30, 4, 0, tzinfo=UTC))
    check(graph, shapes)


def test_a_closed_portal_dataset_gives_its_dates_but_its_identity_only_to_its_readers(
    client: TestClient, engine: Engine, published: Published
) -> None:
    entry = PortalDataset(
        id="closed--a", title="Closed", identifier="a", iri=ORIGINAL,
        issued=datetime(2025, 3, 1, tzinfo=UTC), modified=datetime(2026, 11, 1, tzinfo=UTC),
    )  # fmt: skip
    publish(MetadataBatch(
        dataset_id="closed", title="Closed portal", theme="air-quality",
        publisher=Publisher("atmo-demo", "Atmo Démo"), charter="atmo-demo-restricted",
        source_id="closed", datasets=[entry],
    ))  # fmt: skip
    node = URIRef(f"{BASE}datasets/{entry.id}")
    anonymous = document(client, entry.id)
    assert (
        notations(anonymous, node) == set() and anonymous.value(node, PROV.wasDerivedFrom) is None
    )
    assert anonymous.value(node, DCTERMS.modified) == stamp(datetime(2026, 11, 1, tzinfo=UTC))
    assert "guid" not in extras(client, entry.id) and "modified" in extras(client, entry.id)
    original = client.get(f"/api/v1/datasets/{entry.id}").json()["original"]
    assert (original["identifier"], original["iri"]) == (None, None)
    member = bearer(engine, "operator", "atmo-demo")
    assert notations(document(client, entry.id, **member), node) == {"a", ORIGINAL}
    assert extras(client, entry.id, **member)["guid"] == "a"


def test_a_dataset_no_portal_lists_keeps_the_hubs_dates_and_nothing_more(
    client: TestClient, engine: Engine, published: Published
) -> None:
    hub = stored(engine, published.open_id)
    graph = document(client, published.open_id)
    node = URIRef(f"{BASE}datasets/{published.open_id}")
    assert graph.value(node, DCTERMS.issued) == stamp(as_utc(hub.created_at))
    assert graph.value(node, DCTERMS.modified) == stamp(as_utc(hub.modified_at))
    assert graph.value(node, PROV.wasDerivedFrom) is None and notations(graph, node) == set()
    assert not list(graph.subjects(RDF.type, DCAT.CatalogRecord))
    assert not {"guid", "uri", "issued", "modified"} & set(extras(client, published.open_id))
    assert client.get(f"/api/v1/datasets/{published.open_id}").json()["original"] is None
