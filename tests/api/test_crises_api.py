"""/api/v1/crises and crisis data over HTTP: admins declare and close, everyone lists (cells
for admins and cells only), crisis cells read records inside the crisis while it lasts, and the
access log shows every read to admins and the producer's operators."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from api.support import bearer, client_for
from crisisdata import (
    AREA_A,
    AREA_B,
    CELL_A,
    CELL_B,
    EVENTS,
    PRODUCER,
    READ_BY_A_ONLY,
    SITES,
    SITES_IN_A,
    STRANGER,
    publish_crisis_data,
    reference,
)
from fastapi.testclient import TestClient
from sqlmodel import Session

from hub import crises, tokens
from hub.models import utcnow

NOW = reference()  # for declarations whose window does not matter


@pytest.fixture
def now(engine) -> datetime:
    """The instant the rows' times and the crises' windows hang from; the data published."""
    moment = reference()
    publish_crisis_data(engine, moment)
    return moment


@pytest.fixture
def client(engine) -> Iterator[TestClient]:
    """The app (on the crisis data when a test asks for `now`)."""
    with client_for(engine) as client:
        yield client


def body(area=AREA_A, cells=(CELL_A,), start_hours=-3, end_hours=24, now=NOW, **changes):
    return {
        "name": "Flood A",
        "area": area,
        "from": (now + timedelta(hours=start_hours)).isoformat(),
        "until": (now + timedelta(hours=end_hours)).isoformat(),
        "cells": cells if isinstance(cells, str) else list(cells),
        **changes,
    }


def records(client: TestClient, dataset: str, headers: dict[str, str]):
    return client.get(f"/api/v1/datasets/{dataset}/records?limit=1000", headers=headers)


def ids(answer, key: str = "event_id") -> set[str]:
    assert answer.status_code == 200, answer.text
    return {row[key] for row in answer.json()["records"]}


def test_an_admin_declares_lists_and_closes_a_crisis(engine, client):
    admin = bearer(engine, "admin")
    made = client.post("/api/v1/crises", json=body(), headers=admin)
    assert made.status_code == 201, made.text
    crisis = made.json()
    assert crisis["status"] == "active" and crisis["cells"] == [CELL_A]
    assert crisis["area"] == AREA_A and crisis["bbox"] == [1.0, 43.0, 3.5, 44.0]
    assert crisis["declared_by"] == crises.get(engine, crisis["id"]).declared_by != "cli"
    public = client.get("/api/v1/crises").json()
    assert [(c["id"], c["name"], c["status"]) for c in public] == [
        (crisis["id"], "Flood A", "active")
    ]
    assert public[0]["area"] == AREA_A and public[0]["from"] == crisis["from"]
    assert public[0]["cells"] is None and public[0]["declared_by"] is None
    # its cells are for admins and its own cells; a cell of other crises sees the public part
    for insider in (admin, bearer(engine, "crisis-cell", CELL_A)):
        assert client.get("/api/v1/crises", headers=insider).json()[0]["cells"] == [CELL_A]
    assert (
        client.get("/api/v1/crises", headers=bearer(engine, "crisis-cell", STRANGER)).json()[0][
            "cells"
        ]
        is None
    )
    assert client.get(f"/api/v1/crises/{crisis['id']}").json()["name"] == "Flood A"
    closed = client.post(f"/api/v1/crises/{crisis['id']}/close", headers=admin)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = client.post(f"/api/v1/crises/{crisis['id']}/close", headers=admin)
    assert again.status_code == 409 and "closed already" in again.json()["detail"]
    assert client.post("/api/v1/crises/nope/close", headers=admin).status_code == 404
    assert client.get("/api/v1/crises/nope").status_code == 404


def test_a_declaration_warns_of_cells_nobody_can_read_as(engine, client):
    admin = bearer(engine, "admin")
    bearer(engine, "crisis-cell", CELL_A)  # CELL_A's token exists; "cel-misspelt" is no one's
    made = client.post("/api/v1/crises", json=body(cells=[CELL_A, "cel-misspelt"]), headers=admin)
    assert made.status_code == 201, made.text
    (warning,) = made.json()["warnings"]
    assert "'cel-misspelt'" in warning and "misspelt" in warning
    listed = client.get("/api/v1/crises", headers=admin).json()
    assert listed[0]["warnings"] == []  # said once, when declared


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), ("operator", 403), ("crisis-cell", 403), ("agency", 403), ("forged", 401)],
)
def test_only_admins_declare_and_close(engine, client, role, status):
    if role is None:
        headers = {}
    elif role == "forged":
        headers = {"Authorization": "Bearer hub_forged_0123456789abcdef"}
    else:
        headers = bearer(engine, role, CELL_A)
    assert client.post("/api/v1/crises", json=body(), headers=headers).status_code == status
    crisis = crises.declare(
        engine,
        name="X",
        area=AREA_B,
        start=utcnow(),
        end=utcnow() + timedelta(days=1),
        cells=[CELL_B],
        by="test",
    )
    assert client.post(f"/api/v1/crises/{crisis.id}/close", headers=headers).status_code == status
    assert crises.get(engine, crisis.id).closed_at is None
    assert [c.id for c in crises.listing(engine)] == [crisis.id]


MALFORMED = [
    (b"{not json", "must be JSON"),
    (b"[]", "JSON object"),
    (body(colour="red"), "not 'colour'"),
    ({k: v for k, v in body().items() if k != "area"}, "needs area"),
    (body(area={"type": "Point", "coordinates": [1, 43]}), "Polygon or MultiPolygon"),
    (body(area="POLYGON((0 0, 1 0, 0 1, 0 0))"), "GeoJSON object"),
    (
        body(area={"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}),
        "Self-intersection",
    ),
    (body(area={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 1]]]}), "at least 4"),
    (body(start_hours=5, end_hours=1), "end after it starts"),
    (body(**{"from": "yesterday"}), "ISO 8601"),
    (body(until=17), "ISO 8601"),
    (body(cells=[]), "at least one cell"),
    (body(cells="prefecture-a"), "list of organization ids"),
    (body(name=["x"]), "name must be a string"),
    (body(name="a\x00b"), "NUL characters"),  # PostgreSQL takes no NUL in text (hub.api.nul)
]


def test_a_malformed_declaration_is_a_400_with_its_reason(engine, client):
    admin = bearer(engine, "admin")
    json_type = {**admin, "Content-Type": "application/json"}
    for payload, said in MALFORMED:
        if isinstance(payload, bytes):
            answer = client.post("/api/v1/crises", content=payload, headers=json_type)
        else:
            answer = client.post("/api/v1/crises", json=payload, headers=admin)
        assert answer.status_code == 400 and said in answer.json()["detail"], answer.text
    assert crises.listing(engine) == []


def test_a_crisis_cell_reads_inside_the_crisis_only_while_it_lasts(engine, now, client):
    admin = bearer(engine, "admin")
    cell = bearer(engine, "crisis-cell", CELL_A)
    assert records(client, EVENTS, cell).status_code == 403  # no crisis yet
    crisis = client.post("/api/v1/crises", json=body(now=now), headers=admin).json()
    assert ids(records(client, EVENTS, cell)) == READ_BY_A_ONLY
    assert ids(records(client, SITES, cell), "site_id") == SITES_IN_A
    geo = client.get(f"/api/v1/datasets/{SITES}/records?format=geojson", headers=cell)
    assert {f["properties"]["site_id"] for f in geo.json()["features"]} == SITES_IN_A
    client.post(f"/api/v1/crises/{crisis['id']}/close", headers=admin)
    refused = records(client, EVENTS, cell)
    assert refused.status_code == 403 and "crisis" in refused.json()["detail"]


def test_a_crisis_that_has_not_started_opens_nothing(engine, now, client):
    admin = bearer(engine, "admin")
    client.post("/api/v1/crises", json=body(start_hours=1, now=now), headers=admin)
    assert records(client, EVENTS, bearer(engine, "crisis-cell", CELL_A)).status_code == 403


def test_others_are_refused_as_design_4_says(engine, now, client):
    client.post("/api/v1/crises", json=body(now=now), headers=bearer(engine, "admin"))
    expired = bearer(engine, "crisis-cell", CELL_A, expires=utcnow() - timedelta(minutes=1))
    revoked = bearer(engine, "crisis-cell", CELL_A)
    with Session(engine) as session:
        tokens.revoke(session, tokens.check(session, revoked["Authorization"][7:]).id)
    cases = [
        ({}, 401),
        ({"Authorization": "Bearer hub_forged_0123456789abcdef"}, 401),
        (expired, 401),
        (revoked, 401),
        (bearer(engine, "crisis-cell", STRANGER), 403),
        (bearer(engine, "operator", "another-operator"), 403),
        (bearer(engine, "agency", CELL_A), 403),
        (bearer(engine, "admin"), 403),
    ]
    for headers, status in cases:
        for dataset in (EVENTS, SITES):
            assert records(client, dataset, headers).status_code == status, headers
    producer = bearer(engine, "operator", PRODUCER.id)
    assert len(ids(records(client, EVENTS, producer))) == 13


def test_the_access_log_of_crisis_reads_is_for_admins_and_the_producer(engine, now, client):
    admin = bearer(engine, "admin")
    client.post("/api/v1/crises", json=body(now=now), headers=admin)
    cell = bearer(engine, "crisis-cell", CELL_A)
    stranger = bearer(engine, "crisis-cell", STRANGER)
    ids(records(client, EVENTS, cell))
    assert records(client, SITES, stranger).status_code == 403
    assert records(client, SITES, {}).status_code == 401

    def log(headers):
        answer = client.get("/api/v1/access-log?limit=1000", headers=headers)
        return answer.status_code, answer.json().get("entries")

    status, entries = log(admin)
    crisis_reads = [e for e in entries if e["dataset"] in (EVENTS, SITES)]
    assert status == 200 and [(e["outcome"], e["scope"]) for e in crisis_reads] == [
        ("granted", "area"),
        ("denied", "none"),
        ("denied", "none"),
    ]
    assert crisis_reads[0]["rows"] == len(READ_BY_A_ONLY)
    assert crisis_reads[0]["organization"] == CELL_A and "crisis" in crisis_reads[0]["reason"]
    status, entries = log(bearer(engine, "operator", PRODUCER.id))
    reads = [e for e in entries if e["scope"] != "crisis"]  # the declaration is theirs too
    assert status == 200 and [e["id"] for e in reads] == [e["id"] for e in crisis_reads]
    assert log(bearer(engine, "operator", "another-operator")) == (200, [])
    assert log(cell)[0] == 403 and log(stranger)[0] == 403
