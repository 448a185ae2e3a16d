"""A dataset its portal drops leaves a trace harvesters can follow: a tombstone listed at
/api/v1/datasets/withdrawn?since=, and a `dataset` event on the feed that names it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api.support import client_for, live_server
from api.test_feed_stream import quick, stream  # noqa: F401 - the fixture
from fastapi.testclient import TestClient
from test_batch_kinds import entry, listing

from hub.catalogue import publish
from hub.models import utcnow


@pytest.fixture
def client(engine) -> Iterator[TestClient]:
    with client_for(engine) as client:
        yield client


@pytest.fixture
def server(engine, request: pytest.FixtureRequest) -> Iterator[str]:
    request.getfixturevalue("quick")  # heartbeats soon: the test waits for the first
    with live_server() as base:
        yield base


def withdrawn(client: TestClient, **params: object) -> dict:
    response = client.get("/api/v1/datasets/withdrawn", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_dataset_the_portal_drops_is_listed_as_withdrawn_since_then(engine, client) -> None:
    publish(listing(entry("rivers", "a.csv"), entry("dams", "c.csv")))
    before = utcnow()
    run = publish(listing(entry("rivers", "a.csv")))
    after = utcnow()
    page = withdrawn(client, since=before.isoformat())
    assert page["count"] == 1 and page["next"] is None
    (dams,) = page["datasets"]
    assert (dams["id"], dams["title"], dams["organization"]) == ("portal--dams", "Dams", "usgs")
    assert (dams["source"], dams["run"], dams["theme"]) == ("portal", run.id, "risk")
    assert before.isoformat() <= dams["withdrawn_at"].replace("Z", "+00:00") <= after.isoformat()
    assert withdrawn(client, since=after.isoformat())["count"] == 0
    assert client.get("/api/v1/datasets/portal--dams").status_code == 404


def test_an_increment_withdraws_nothing_and_a_dataset_listed_again_is_no_longer_withdrawn(
    engine, client
) -> None:
    publish(listing(entry("rivers", "a.csv"), entry("dams", "c.csv")))
    publish(listing(entry("rivers", "a.csv"), complete=False))
    assert withdrawn(client)["count"] == 0
    publish(listing(entry("rivers", "a.csv")))
    assert [d["id"] for d in withdrawn(client)["datasets"]] == ["portal--dams"]
    relisted = utcnow()
    publish(listing(entry("rivers", "a.csv"), entry("dams", "c.csv")))
    assert withdrawn(client)["count"] == 0
    back = client.get("/api/v1/datasets", params={"updated_since": relisted.isoformat()})
    assert [d["id"] for d in back.json()["datasets"]] == ["portal--dams"]


def test_withdrawn_datasets_come_in_pages_oldest_first(engine, client) -> None:
    publish(listing(*(entry(name, "a.csv") for name in ("a", "b", "c", "d"))))
    publish(listing(entry("a", "a.csv")))
    first = withdrawn(client, limit=2)
    assert first["count"] == 3 and len(first["datasets"]) == 2
    assert first["next"].startswith("http") and "offset=2" in first["next"]
    second = withdrawn(client, limit=2, offset=2)
    ids = [d["id"] for d in first["datasets"] + second["datasets"]]
    assert sorted(ids) == ["portal--b", "portal--c", "portal--d"] and second["next"] is None
    assert client.get("/api/v1/datasets/withdrawn", params={"since": "soon"}).status_code == 400


def test_the_feed_names_each_dataset_the_portal_dropped(engine, server) -> None:
    publish(listing(entry("rivers", "a.csv"), entry("dams", "c.csv"), entry("lakes", "d.csv")))
    run = publish(listing(entry("rivers", "a.csv")))
    client = stream(server, "?since=0&types=dataset")
    try:
        got = [m.data for m in client.until_idle()]
    finally:
        client.close()
    gone = sorted((d["dataset"], d["run"]) for d in got if d.get("withdrawn") is True)
    assert gone == [("portal--dams", run.id), ("portal--lakes", run.id)]
