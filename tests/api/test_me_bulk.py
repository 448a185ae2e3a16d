"""Bulk routes with a subject's and a service's tokens: CKAN datastore_search, data package
exports, DCAT, search and dataset pages give the subject their rows and the service its
consented rows, and nobody a row, count or extent beyond that."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest
from api.subjects import (
    ALICE,
    BOB,
    CAROL,
    CURVES,
    GRID,
    HOURS,
    consent,
    link,
    rows_of,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for
from sqlmodel import Session

from hub import catalogue

ADVICE = "purpose=energy-saving-advice"
PSEUDONYM = re.compile(r"ps-[a-z2-7]{32}")


@pytest.fixture
def client(engine, world):
    with client_for(engine) as client:
        assert link(client, world, "alice", CURVES, ALICE).status_code == 201
        assert link(client, world, "bob", CURVES, BOB).status_code == 201
        assert consent(client, world, "alice", [CURVES]).status_code == 201
        yield client


def stored(world) -> set[str]:
    """The pseudonyms in the record table (a schema's example has the same shape)."""
    return {world.of(GRID, household) for household in (ALICE, BOB, CAROL)}


def keys_of_csv(text: str) -> set[str]:
    return {row["subject_key"] for row in csv.DictReader(io.StringIO(text))}


def test_datastore_search_gives_each_their_rows_and_totals(client, world, engine):
    with Session(engine) as session:
        resource = catalogue.resource_of(session, CURVES).id
    url = "/api/3/action/datastore_search"
    for who, expected in (("alice", {ALICE}), ("bob", {BOB})):
        for body in (
            {"resource_id": resource},
            {"resource_id": resource, "filters": {"subject_key": world.of(GRID, BOB)}},
            {"resource_id": resource, "offset": 2, "limit": 100},
            {"resource_id": resource, "sort": "subject_key desc"},
        ):
            answer = client.post(url, json=body, headers=world.headers[who]).json()
            assert answer["success"], answer
            keys = {r["subject_key"] for r in answer["result"]["records"]}
            assert keys <= {world.of(GRID, h) for h in expected}, (who, body)
            assert answer["result"].get("total", 0) <= HOURS
    # the service has no purpose on CKAN's routes: refused, not a row
    refused = client.post(url, json={"resource_id": resource}, headers=world.headers["coach"])
    assert refused.status_code == 403 and refused.json()["success"] is False
    assert world.of(GRID, ALICE) not in refused.text


def test_data_package_exports_hold_the_callers_rows_only(client, world):
    def keys(who: str, query: str = "") -> set[str]:
        response = client.get(
            f"/api/v1/datasets/{CURVES}/datapackage.zip{query}", headers=world.headers[who]
        )
        assert response.status_code == 200, response.text
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            return keys_of_csv(archive.read("data/records.csv").decode())

    assert keys("alice") == {world.of(GRID, ALICE)}
    assert keys("bob") == {world.of(GRID, BOB)}
    assert keys("coach", f"?{ADVICE}") == {world.of(GRID, ALICE)}
    bare = client.get(f"/api/v1/datasets/{CURVES}/datapackage.zip", headers=world.headers["coach"])
    assert bare.status_code == 403
    assert keys_of_csv(rows_of(client, CURVES, world.headers["bob"], "&format=csv").text) == {
        world.of(GRID, BOB)
    }
    geo = rows_of(client, CURVES, world.headers["alice"], "&format=json").json()
    assert {r["subject_key"] for r in geo["records"]} == {world.of(GRID, ALICE)}


def test_nothing_computed_from_the_rows_goes_to_subjects_or_services(client, world):
    for who in ("alice", "coach", "carol", "snoop"):
        headers = world.headers[who]
        page = client.get(f"/api/v1/datasets/{CURVES}?{ADVICE}", headers=headers).json()
        assert page["record_count"] is None, who
        assert page["freshness"]["time_min"] is None and page["freshness"]["bbox"] is None
        runs = client.get(f"/api/v1/datasets/{CURVES}/runs", headers=headers).json()["runs"]
        assert runs and all(r["rows_published"] is None for r in runs), who
        shown = client.post(
            "/api/3/action/package_show", json={"id": CURVES}, headers=headers
        ).json()["result"]
        text = json.dumps(shown)
        assert '"num_records"' not in text or '"num_records": null' in text
        assert not stored(world) & set(PSEUDONYM.findall(text))
        catalog = client.get("/catalog.jsonld", headers=headers).text
        assert not stored(world) & set(PSEUDONYM.findall(catalog))
        for quarantine in ("/quarantine", "/validation"):
            answer = client.get(f"/api/v1/datasets/{CURVES}{quarantine}?{ADVICE}", headers=headers)
            if (who, quarantine) == ("alice", "/quarantine"):
                # her own quarantined rows (none): no run, no count of anyone else's
                assert answer.json() == {
                    "dataset": CURVES,
                    "run": None,
                    "count": 0,
                    "rows": [],
                    "next": None,
                }
                continue
            assert answer.status_code == 403, (who, quarantine)
    operator = client.get(f"/api/v1/datasets/{CURVES}", headers=world.headers["operator"]).json()
    assert operator["record_count"] == 3 * HOURS  # the producer's operator sees what others do not


def test_search_never_finds_or_counts_rows(client, world):
    for who in ("alice", "coach"):
        headers = world.headers[who]
        for query in (world.of(GRID, ALICE), world.of(GRID, BOB), ALICE[0]):
            found = client.post(
                "/api/3/action/package_search", json={"q": query}, headers=headers
            ).json()["result"]
            assert found["count"] == 0, (who, query)
        faceted = client.post(
            "/api/3/action/package_search",
            json={"fq": f"name:{CURVES}", "facet.field": ["organization", "res_format"]},
            headers=headers,
        ).json()["result"]
        assert not stored(world) & set(PSEUDONYM.findall(json.dumps(faceted)))
        for hit in faceted["results"]:
            assert hit.get("num_records") in (None, 0) or hit["name"] != CURVES
