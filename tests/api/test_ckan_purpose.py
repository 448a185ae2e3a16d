"""A service reads personal rows through CKAN's datastore_search as through /api/v1: it names
its purpose (`purpose`, in the query string or the JSON body, or `X-Purpose`) and reads the
rows of the subjects whose live consent covers it, and nothing else."""

from __future__ import annotations

import pytest
from api.subjects import (
    ALICE,
    BOB,
    CURVES,
    GRID,
    consent,
    link,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for

SEARCH = "/api/3/action/datastore_search"
RESOURCE = f"{CURVES}-records"


@pytest.fixture
def client(engine, world):
    with client_for(engine) as client:
        yield client


def keys(answer) -> set[str]:
    body = answer.json()
    assert body["success"], body
    return {r["subject_key"] for r in body["result"]["records"]}


def test_a_service_names_its_purpose_on_datastore_search(client, world):
    for who, household in (("alice", ALICE), ("bob", BOB)):
        assert link(client, world, who, CURVES, household).status_code == 201
    assert consent(client, world, "alice", [CURVES]).status_code == 201
    coach = world.headers["coach"]
    raw = {"Authorization": coach["Authorization"].split()[1]}  # as ckanapi sends it
    alice = {world.of(GRID, ALICE)}
    by_query = client.get(
        f"{SEARCH}?resource_id={RESOURCE}&purpose=energy-saving-advice", headers=raw
    )
    assert keys(by_query) == alice and by_query.json()["result"]["total"] == 6
    by_header = client.get(
        f"{SEARCH}?resource_id={RESOURCE}", headers={**raw, "X-Purpose": "energy-saving-advice"}
    )
    assert keys(by_header) == alice
    by_body = client.post(
        SEARCH, headers=coach, json={"resource_id": RESOURCE, "purpose": "energy-saving-advice"}
    )
    assert keys(by_body) == alice
    # past the first page too (the offset is skipped through the download's pages)
    offset = client.get(
        f"{SEARCH}?resource_id={RESOURCE}&purpose=energy-saving-advice&offset=2", headers=raw
    )
    assert keys(offset) == alice and len(offset.json()["result"]["records"]) == 4
    # a purpose nobody consented to, or none: refused as on /api/v1
    other = client.get(f"{SEARCH}?resource_id={RESOURCE}&purpose=self-data", headers=raw)
    assert other.status_code == 403 and "no data subject has a live consent" in other.text
    bare = client.get(f"{SEARCH}?resource_id={RESOURCE}", headers=raw)
    assert bare.status_code == 403 and "purpose=" in bare.text
