"""A crisis's life: updated in place (PATCH, `hub crisis update`: same id, each change an
event and an access-log entry), declared, updated and closed in the tamper-evident log for the
operators whose data it opens, and its start and end told on the feed once each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from api.support import bearer, client_for
from crisisdata import AREA_A, AREA_B, CELL_A, CELL_B, EVENTS, PRODUCER, publish_crisis_data
from crisisdata import reference as reference_instant
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from hub import audit, crises, events
from hub.cli import app
from hub.crises import ledger, passages
from hub.feeds import filters
from hub.models import AccessEvent

runner = CliRunner()


@pytest.fixture
def now(engine) -> datetime:
    moment = reference_instant()
    publish_crisis_data(engine, moment)
    return moment


@pytest.fixture
def client(engine) -> Iterator[TestClient]:
    with client_for(engine) as client:
        yield client


def declared(client, admin, now, **changes) -> dict:
    body = {
        "name": "Flood A",
        "area": AREA_A,
        "from": (now - timedelta(hours=3)).isoformat(),
        "until": (now + timedelta(hours=24)).isoformat(),
        "cells": [CELL_A],
        **changes,
    }
    made = client.post("/api/v1/crises", json=body, headers=admin)
    assert made.status_code == 201, made.text
    return made.json()


def crisis_events(engine, crisis_id: str) -> list[str]:
    with engine.connect() as connection:
        return [
            e.data["status"]
            for e in events.after(connection, 0)
            if e.kind == "crisis" and e.data["id"] == crisis_id
        ]


def crisis_entries(engine) -> list[AccessEvent]:
    with Session(engine) as session:
        statement = select(AccessEvent).where(AccessEvent.scope == ledger.SCOPE)
        return list(session.exec(statement.order_by(col(AccessEvent.id))).all())


def outages_read(client, headers) -> int:
    answer = client.get(f"/api/v1/datasets/{EVENTS}/records?limit=1000", headers=headers)
    return answer.status_code


def test_an_admin_extends_a_crisis_and_adds_a_cell_in_place(engine, now, client):
    admin = bearer(engine, "admin")
    crisis = declared(client, admin, now)
    other_cell = bearer(engine, "crisis-cell", CELL_B)
    assert outages_read(client, other_cell) == 403
    later = (now + timedelta(days=3)).isoformat()
    answer = client.patch(
        f"/api/v1/crises/{crisis['id']}",
        json={"until": later, "cells": [CELL_A, CELL_B]},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    updated = answer.json()
    assert updated["id"] == crisis["id"] and updated["cells"] == [CELL_A, CELL_B]
    assert updated["until"] == (now + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    assert updated["from"] == crisis["from"] and updated["declared_at"] == crisis["declared_at"]
    assert outages_read(client, other_cell) == 200  # the cell added reads from its next request
    assert crisis_events(engine, crisis["id"]) == ["declared", "updated"]
    cell = bearer(engine, "crisis-cell", CELL_A)
    refused = client.patch(f"/api/v1/crises/{crisis['id']}", json={"name": "x"}, headers=cell)
    assert refused.status_code == 403
    bad = client.patch(f"/api/v1/crises/{crisis['id']}", json={"from": later}, headers=admin)
    assert bad.status_code == 400 and "not 'from'" in bad.json()["detail"]
    past = (now - timedelta(hours=1)).isoformat()
    over = client.patch(f"/api/v1/crises/{crisis['id']}", json={"until": past}, headers=admin)
    assert over.status_code == 400 and "close the crisis instead" in over.json()["detail"]
    client.post(f"/api/v1/crises/{crisis['id']}/close", headers=admin)
    closed = client.patch(f"/api/v1/crises/{crisis['id']}", json={"name": "x"}, headers=admin)
    assert closed.status_code == 409
    assert client.patch("/api/v1/crises/nope", json={"name": "x"}, headers=admin).status_code == 404


def test_hub_crisis_update_changes_the_area_and_name(engine, now, tmp_path):
    crisis = crises.declare(
        engine,
        name="Flood A",
        area=AREA_A,
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=5),
        cells=[CELL_A],
        by="cli",
    )
    area = tmp_path / "b.geojson"
    area.write_text(json.dumps(AREA_B), encoding="utf-8")
    result = runner.invoke(
        app, ["crisis", "update", crisis.id, "--area", str(area), "--name", "Flood A and B"]
    )
    assert result.exit_code == 0, result.output
    assert "updated: name, area" in result.output
    changed = crises.get(engine, crisis.id)
    assert changed.area == AREA_B and changed.name == "Flood A and B"
    nothing = runner.invoke(app, ["crisis", "update", crisis.id])
    assert nothing.exit_code == 2


def test_declare_update_and_close_are_chained_entries_for_the_producer(engine, now, client):
    admin = bearer(engine, "admin")
    crisis = declared(client, admin, now)
    client.patch(
        f"/api/v1/crises/{crisis['id']}",
        json={"cells": [CELL_A, CELL_B]},
        headers=admin,
    )
    client.post(f"/api/v1/crises/{crisis['id']}/close", headers=admin)
    entries = crisis_entries(engine)
    assert [e.reason.split(" ")[0] for e in entries] == ["declared", "updated", "closed"]
    assert {e.producer for e in entries} == {PRODUCER.id}  # its crisis data lies in the area
    declaration = entries[0]
    stored = crises.get(engine, crisis["id"])
    assert declaration.actor_id == stored.declared_by and declaration.actor_id != "cli"
    assert f"sha256:{ledger.area_hash(stored)}" in declaration.reason
    assert f"cells {CELL_A}," in declaration.reason and crisis["from"] in declaration.reason
    assert f"cells {CELL_A} -> {CELL_A},{CELL_B}" in entries[1].reason
    assert audit.verify(engine).intact
    # the telecom operator reads them in its own log
    operator = bearer(engine, "operator", PRODUCER.id)
    logged = client.get("/api/v1/access-log?limit=1000", headers=operator).json()["entries"]
    assert [e["scope"] for e in logged].count("crisis") == 3
    stranger = bearer(engine, "operator", "another-operator")
    logged = client.get("/api/v1/access-log?limit=1000", headers=stranger).json()["entries"]
    assert logged == []


def test_an_exercise_says_so_in_its_entries(engine, now, client):
    admin = bearer(engine, "admin")
    declared(client, admin, now, exercise=True)
    (entry,) = crisis_entries(engine)
    assert "(exercise)" in entry.reason


def test_the_producer_and_the_crisis_s_own_cells_see_its_cells(engine, now, client):
    admin = bearer(engine, "admin")
    crisis = declared(client, admin, now)
    far = declared(client, admin, now, area=AREA_B, cells=[CELL_B])

    def cells(headers) -> dict[str, object]:
        listed = client.get("/api/v1/crises", headers=headers).json()
        return {c["id"]: c["cells"] for c in listed}

    producer = cells(bearer(engine, "operator", PRODUCER.id))
    assert producer[crisis["id"]] == [CELL_A]
    own = cells(bearer(engine, "crisis-cell", CELL_A))
    assert own == {crisis["id"]: [CELL_A], far["id"]: None}  # not the other crisis's cells
    assert set(cells(bearer(engine, "operator", "another-operator")).values()) == {None}


def test_a_scheduled_start_and_an_end_are_told_once_each(engine):
    now = reference_instant()
    scheduled = crises.declare(
        engine,
        name="Storm",
        area=AREA_A,
        start=now + timedelta(minutes=4),
        end=now + timedelta(hours=1),
        cells=[CELL_A],
        by="test",
        at=now,
    )
    started = crises.declare(
        engine,
        name="Flood",
        area=AREA_A,
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=2),
        cells=[CELL_A],
        by="test",
    )
    assert passages.tell(engine, now) == []
    assert passages.tell(engine, now + timedelta(minutes=5)) == [(scheduled.id, "started")]
    assert passages.tell(engine, now + timedelta(minutes=6)) == []
    crises.close(engine, started.id, by="test")
    later = now + timedelta(hours=3)
    assert passages.tell(engine, later) == [(scheduled.id, "ended")]
    assert passages.tell(engine, later) == []
    assert crisis_events(engine, scheduled.id) == ["declared", "started", "ended"]
    assert crisis_events(engine, started.id) == ["declared", "closed"]  # no start, no end


def test_a_stream_within_a_crisis_follows_its_new_area():
    within = filters.polygon_area(AREA_A, "c-1")
    chosen = filters.Filters(areas=(within,))
    moved = filters.moved(chosen, "c-1", AREA_B)
    assert moved is not None and moved.areas[0].crisis == "c-1"
    assert moved.areas[0].boxes == ((4.9, 44.9, 5.1, 45.1),)
    assert filters.moved(chosen, "c-2", AREA_B) is None


def test_a_crisis_event_shows_its_cells_to_its_cells_and_the_producers_only(engine, now):
    from hub.access import ANONYMOUS, Actor
    from hub.feeds import grants

    crisis = crises.declare(
        engine,
        name="Flood A",
        area=AREA_A,
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=5),
        cells=[CELL_A],
        by="test",
    )
    with engine.connect() as connection:
        (event,) = [e for e in events.after(connection, 0) if e.kind == "crisis"]
    assert event.data["id"] == crisis.id and event.data["producers"] == [PRODUCER.id]

    def shown(role: str, *organizations: str) -> bool:
        actor = Actor(id=f"t-{role}", role=role, organizations=frozenset(organizations))
        return grants.variant_for(grants.Keeper(), (actor, ""), event) == "as-is"

    assert shown("admin") and shown("crisis-cell", CELL_A) and shown("operator", PRODUCER.id)
    assert not shown("crisis-cell", CELL_B) and not shown("operator", "another-operator")
    assert "cells" not in grants.public_data(event) and ANONYMOUS.anonymous
