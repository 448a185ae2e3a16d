"""GeoJSON asked of rows without a place: refused after the grant (401 before 400), before any
row is read, so the access log shows no read that never reached the reader."""

from __future__ import annotations

from api.subjects import (
    ALICE,
    GRID,
    curve_rows,
    link,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for
from sqlmodel import Session, select

from hub.catalogue import Batch, Publisher, publish
from hub.models import AccessEvent

CURVES = "placeless-curves"


def test_geojson_of_placeless_personal_rows_is_refused_before_any_read(engine, world):
    run = publish(
        Batch(
            dataset_id=CURVES,
            title="Load curves",
            publisher=Publisher(GRID, GRID.title()),
            theme="energy",
            schema="energy-consumption",  # no longitude, no latitude
            charter="test-curves-charter",
            chunks=[curve_rows([ALICE[0]])],
            source_url="https://example.org/curves.csv",
        ),
        engine=engine,
    )
    assert run.status == "succeeded", run.error
    route = f"/api/v1/datasets/{CURVES}/records"
    with client_for(engine) as client:
        assert client.get(route, params={"format": "geojson"}).status_code == 401
        assert link(client, world, "alice", CURVES, ALICE).status_code == 201
        alice = world.headers["alice"]
        for params in ({"format": "geojson"}, {"format": "geojson", "limit": "5"}):
            refused = client.get(route, params=params, headers=alice)
            assert refused.status_code == 400 and "has no coordinates" in refused.text
        assert client.get(route, params={"limit": "5"}, headers=alice).status_code == 200
    with Session(engine) as session:
        logged = session.exec(select(AccessEvent).where(AccessEvent.dataset_id == CURVES)).all()
    # the anonymous refusal, then Alice's one JSON read: nothing for the two GeoJSON asks
    assert [(e.outcome, e.actor_role) for e in logged] == [
        ("denied", "anonymous"),
        ("granted", "subject"),
    ]
