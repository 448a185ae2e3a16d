"""Citing a dataset: a copy-ready attribution line meeting its licence's terms, and its version
(the last run that changed its data), in REST, CKAN, DCAT, the data package and the page
(tester_reuse #5)."""

from __future__ import annotations

import io
import json
import zipfile

from api.support import air_batch, observation_rows
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS
from sqlmodel import Session

from hub.catalogue import publish
from hub.models import Dataset

DCAT = Namespace("http://www.w3.org/ns/dcat#")
API = "/api/v1/datasets"


def test_the_citation_names_what_the_licence_asks_and_the_run_that_changed_the_data(
    client, engine, published
):
    citation = client.get(f"{API}/{published.open_id}").json()["citation"]
    with Session(engine) as session:
        dataset = session.get(Dataset, published.open_id)
        assert dataset is not None and dataset.licence_url
        licence, url = dataset.licence_title, dataset.licence_url
    assert citation["version"] == str(published.run_id)
    text = citation["text"]
    assert text.startswith("Atmo Démo, “Air quality, Rennes (Atmo Démo)”, ")
    assert f"{licence} ({url})" in text and f"last updated {citation['updated']}" in text
    assert text.endswith(
        f", version {published.run_id}, http://testserver/datasets/{published.open_id}"
    )


def test_a_harvest_that_changes_nothing_keeps_the_version_one_that_changes_rows_moves_it(
    client, engine, published
):
    def again(rows):
        batch = air_batch(
            published.open_id, "atmo-demo-open", "Air quality, Rennes (Atmo Démo)", rows
        )
        return publish(batch, engine=engine)

    unchanged = again(observation_rows())
    assert unchanged.rows_published == unchanged.rows_updated == 0
    detail = client.get(f"{API}/{published.open_id}").json()
    assert detail["citation"]["version"] == str(published.run_id)
    rows = observation_rows()
    changed = again(rows.with_columns(rows["value"].str.replace(r"^", "1")))
    assert changed.rows_updated > 0
    detail = client.get(f"{API}/{published.open_id}").json()
    assert detail["citation"]["version"] == str(changed.id)


def test_ckan_dcat_and_the_data_package_carry_the_version_and_the_citation(client, published):
    citation = client.get(f"{API}/{published.open_id}").json()["citation"]
    package = client.get(f"/api/3/action/package_show?id={published.open_id}").json()["result"]
    assert package["version"] == citation["version"]
    graph = Graph().parse(data=client.get(f"{API}/{published.open_id}/dcat.ttl").text)
    node = URIRef(f"http://testserver/datasets/{published.open_id}")
    assert graph.value(node, DCAT.version) == Literal(citation["version"])
    assert graph.value(node, DCTERMS.bibliographicCitation) == Literal(citation["text"])
    archive = client.get(f"{API}/{published.open_id}/datapackage.zip")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as members:
        descriptor = json.loads(members.read("datapackage.json"))
    assert descriptor["version"] == citation["version"]


def test_the_page_offers_the_line_in_its_language(client, published):
    citation = client.get(f"{API}/{published.open_id}").json()["citation"]
    french = client.get(f"/datasets/{published.open_id}", headers={"Accept-Language": "fr"}).text
    assert "Citer ce jeu de données" in french
    assert "Atmo Démo, «\xa0Air quality, Rennes (Atmo Démo)\xa0»" in french
    assert "dernière mise à jour le" in french and f"version {citation['version']}, " in french
    english = client.get(f"/datasets/{published.open_id}", headers={"Accept-Language": "en"}).text
    assert (
        "Cite this dataset" in english and "Atmo Démo, “Air quality, Rennes (Atmo Démo)”" in english
    )
