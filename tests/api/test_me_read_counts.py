"""A subject's access log says how many of their rows each read took, downloads included: a
download is counted as it streams (no rows kept) and logged again when it ends, with the rows it
sent of each subject, each count chained under the subject's own Merkle leaf."""

from __future__ import annotations

from datetime import datetime

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
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for
from sqlmodel import Session

from hub import audit, catalogue, reading
from hub.access import Actor

LOG = "/api/v1/me/access-log"
ADVICE = "purpose=energy-saving-advice"


@pytest.fixture
def client(engine, world, monkeypatch):
    monkeypatch.setattr(reading, "STREAM_PAGE", 4)  # every download here is several pages
    with client_for(engine) as client:
        yield client


def chained(entry: dict) -> dict:
    return {**entry, "at": datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))}


def test_each_download_says_how_many_of_each_subjects_rows_it_sent(client, world, engine):
    # Alice holds two meters (two pseudonyms), Bob one; both let the coach read
    for who, household in (("alice", ALICE), ("alice", CAROL), ("bob", BOB)):
        assert link(client, world, who, CURVES, household).status_code == 201
    for who in ("alice", "bob"):
        assert consent(client, world, who, [CURVES]).status_code == 201
    coach = world.headers["coach"]
    csv = client.get(f"/api/v1/datasets/{CURVES}/records?format=csv&{ADVICE}", headers=coach)
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == 1 + 3 * HOURS
    package = client.get(f"/api/v1/datasets/{CURVES}/datapackage.zip?{ADVICE}", headers=coach)
    assert package.status_code == 200

    alice, carol = world.of(GRID, ALICE), world.of(GRID, CAROL)
    entries = client.get(LOG, headers=world.headers["alice"]).json()["entries"]
    routes = [(e["route"], e["rows"], e["your_rows"]) for e in entries]
    csv_route = f"GET /api/v1/datasets/{CURVES}/records"
    zip_route = f"GET /api/v1/datasets/{CURVES}/datapackage.zip"
    # each download: its entry before the first byte, then the one of its end with Alice's
    # count (everyone's, Bob's too, stays under its commitment)
    assert routes == [
        (csv_route, None, None),
        (csv_route, None, 2 * HOURS),
        (zip_route, None, None),
        (zip_route, None, 2 * HOURS),
    ]
    ended = entries[1]
    # the count is in `rows` alone: the chained text a subject reads says none
    assert ended["reason"].endswith(f"download of entry {entries[0]['id']} ended")
    # both of Alice's pseudonyms, each with its own count and proof, the count chained
    assert [(c["pseudonym"], c["rows"]) for c in ended["covered"]] == sorted(
        [(alice, HOURS), (carol, HOURS)]
    )
    for covered in ended["covered"]:
        assert audit.includes(
            ended["subjects"], ended["prev_hash"], covered["pseudonym"], covered["proof"], HOURS
        )
    assert audit.fingerprint(chained(ended)) == ended["hash"]
    # Bob sees his own count, not Alice's
    bobs = client.get(LOG, headers=world.headers["bob"]).json()["entries"]
    assert [(e["rows"], e["your_rows"]) for e in bobs] == [
        (None, None),
        (None, HOURS),
        (None, None),
        (None, HOURS),
    ]
    assert alice not in str(bobs) and carol not in str(bobs)
    # the subject's own export counts too
    assert client.get("/api/v1/me/export", headers=world.headers["alice"]).status_code == 200
    own = client.get(LOG + "?limit=1000", headers=world.headers["alice"]).json()["entries"]
    exported = [
        e
        for e in own
        if e["who"] == "you" and e["rows"] is not None and "quarantined" not in e["reason"]
    ]
    assert [e["your_rows"] for e in exported] == [2 * HOURS]
    assert audit.verify(engine).intact


def test_a_download_cut_short_logs_the_rows_it_sent(client, world, engine):
    assert link(client, world, "alice", CURVES, ALICE).status_code == 201
    account = client.get("/api/v1/me", headers=world.headers["alice"]).json()["account"]
    actor = Actor(id="reader", role="subject", account=account)
    with Session(engine) as session:
        dataset = catalogue.get(session, CURVES)
        caller = reading.Caller(actor=actor, route="test download")
        download = reading.stream_records(session, dataset, caller, reading.Criteria(), None)
        first = next(download.pages)
        download.pages.close()  # the client went away after the first page
    assert len(first) == 4
    entries = client.get(LOG, headers=world.headers["alice"]).json()["entries"]
    assert [(e["rows"], e["your_rows"]) for e in entries if e["route"] == "test download"] == [
        (None, None),
        (4, 4),
    ]


def test_a_read_that_sent_nothing_took_none_of_each_subjects_rows(client, world):
    for who, household in (("alice", ALICE), ("bob", BOB)):
        assert link(client, world, who, CURVES, household).status_code == 201
        assert consent(client, world, who, [CURVES]).status_code == 201
    coach, url = world.headers["coach"], f"/api/v1/datasets/{CURVES}/records?{ADVICE}"
    first = client.get(url, headers=coach)
    again = client.get(url, headers={**coach, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    entries = client.get(LOG, headers=world.headers["alice"]).json()["entries"]
    # counted as zero, not "not counted": the subject's page then need not show the total
    assert [(e["rows"], e["your_rows"]) for e in entries] == [(None, HOURS), (None, 0)]


def test_a_download_closed_before_its_first_page_is_ended_too(client, world, engine):
    """A package's later member the client never waited for: its reader never started, so no
    `finally` of its would run; closing the download ends it."""
    assert link(client, world, "alice", CURVES, ALICE).status_code == 201
    account = client.get("/api/v1/me", headers=world.headers["alice"]).json()["account"]
    actor = Actor(id="reader", role="subject", account=account)
    with Session(engine) as session:
        dataset = catalogue.get(session, CURVES)
        caller = reading.Caller(actor=actor, route="test download")
        download = reading.stream_records(session, dataset, caller, reading.Criteria(), None)
        download.close()
        download.close()  # once only
    entries = client.get(LOG, headers=world.headers["alice"]).json()["entries"]
    assert [(e["rows"], e["your_rows"]) for e in entries if e["route"] == "test download"] == [
        (None, None),
        (0, 0),
    ]
