"""Exercises: a crisis marked `exercise` says so everywhere, stays out of the public lists and
feeds unless asked for, and opens a charter's data only where the charter accepts exercises, to
cells reading with the purpose `exercise` (logged as an exercise's reads)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from api.support import bearer, client_for
from crisisdata import AREA_A, CELL_A, EVENTS, READ_BY_A_ONLY, publish_crisis_data, reference
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from hub import charters, crises, events
from hub.config import PROJECT_ROOT, get_settings
from hub.feeds import filters
from hub.models import AccessEvent
from hub.mqttbridge.messages import payload_of


@pytest.fixture
def now(engine) -> datetime:
    moment = reference()
    publish_crisis_data(engine, moment)
    return moment


@pytest.fixture
def client(engine) -> Iterator[TestClient]:
    with client_for(engine) as client:
        yield client


@pytest.fixture
def exercises_accepted(tmp_path, monkeypatch) -> None:
    """The bundled charters, the telecom one saying `crisis.exercises: true`."""
    folder = tmp_path / "charters"
    shutil.copytree(PROJECT_ROOT / "charters", folder)
    telecom = folder / "telecom-outages-crisis.yaml"
    text = telecom.read_text()
    assert "exercises: false" in text
    telecom.write_text(text.replace("exercises: false", "exercises: true"))
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    monkeypatch.setattr(charters, "STAMP_SECONDS", 0.0)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def declaration(now: datetime, **changes) -> dict:
    return {
        "name": "EXERCICE Inondation",
        "area": AREA_A,
        "from": (now - timedelta(hours=3)).isoformat(),
        "until": (now + timedelta(hours=24)).isoformat(),
        "cells": [CELL_A],
        **changes,
    }


def rows(client: TestClient, headers: dict[str, str], purpose: str | None = None):
    extra = {"X-Purpose": purpose} if purpose else {}
    return client.get(f"/api/v1/datasets/{EVENTS}/records?limit=1000", headers={**headers, **extra})


def test_an_exercise_is_declared_as_one_and_left_out_of_public_lists(engine, client, now):
    admin = bearer(engine, "admin")
    made = client.post("/api/v1/crises", json=declaration(now, exercise=True), headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["exercise"] is True and crises.get(engine, made.json()["id"]).exercise
    real = client.post("/api/v1/crises", json=declaration(now, name="Flood"), headers=admin)
    assert real.json()["exercise"] is False
    assert [c["name"] for c in client.get("/api/v1/crises").json()] == ["Flood"]
    asked = client.get("/api/v1/crises?exercise=true").json()
    assert [(c["name"], c["exercise"]) for c in asked] == [("EXERCICE Inondation", True)]
    assert len(client.get("/api/v1/crises?exercise=all").json()) == 2
    wrong = client.post("/api/v1/crises", json=declaration(now, exercise="yes"), headers=admin)
    assert wrong.status_code == 400 and "exercise" in wrong.json()["detail"]
    # the public situation page leaves it out; its own page carries the watermark
    assert "EXERCICE Inondation" not in client.get("/situation").text
    page = client.get(f"/situation/{made.json()['id']}").text
    assert 'EXERCICE</strong> / <strong lang="en">EXERCISE' in page


def test_an_exercises_events_reach_only_feeds_that_ask_and_never_mqtt(engine, now):
    drill = crises.declare(
        engine,
        name="Drill",
        area=AREA_A,
        start=now,
        end=now + timedelta(days=1),
        cells=[CELL_A],
        by="test",
        exercise=True,
    )
    event = events.FeedEvent(0, "crisis", "", "risk", now, crises.as_json(drill, cells=False))
    assert event.status == "Exercise" and event.data["exercise"] is True
    assert not filters.parse({}).matches(event, None)
    assert filters.parse({"status": ["Exercise"]}).matches(event, None)
    assert payload_of(event) is None
    real = events.FeedEvent(1, "crisis", "", "risk", now, {**event.data, "exercise": False})
    assert filters.parse({}).matches(real, None) and payload_of(real) is not None


def test_the_bundled_telecom_charter_opens_nothing_to_an_exercise(engine, client, now):
    admin = bearer(engine, "admin")
    client.post("/api/v1/crises", json=declaration(now, exercise=True), headers=admin)
    cell = bearer(engine, "crisis-cell", CELL_A)
    for purpose in (None, "exercise"):
        refused = rows(client, cell, purpose)
        assert refused.status_code == 403, refused.text
        assert (
            "does not open" in refused.json()["detail"] and "exercises" in refused.json()["detail"]
        )


def test_a_charter_accepting_exercises_opens_them_for_the_purpose_exercise(
    engine, client, now, exercises_accepted
):
    admin = bearer(engine, "admin")
    made = client.post("/api/v1/crises", json=declaration(now, exercise=True), headers=admin)
    cell = bearer(engine, "crisis-cell", CELL_A)
    unsaid = rows(client, cell)
    assert unsaid.status_code == 403 and "purpose 'exercise'" in unsaid.json()["detail"]
    read = rows(client, cell, "exercise")
    assert read.status_code == 200, read.text
    assert {row["event_id"] for row in read.json()["records"]} == READ_BY_A_ONLY
    with Session(engine) as session:
        logged = session.exec(select(AccessEvent).order_by(AccessEvent.id.desc())).first()
    assert logged is not None and f"during EXERCISE {made.json()['id']}" in logged.reason
    # a real crisis is never read for an exercise
    client.post(f"/api/v1/crises/{made.json()['id']}/close", headers=admin)
    client.post("/api/v1/crises", json=declaration(now, name="Flood"), headers=admin)
    assert rows(client, cell, "exercise").status_code == 403
    assert rows(client, cell).status_code == 200
