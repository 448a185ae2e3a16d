"""GET /api/v1/me/access-log: every read of a subject's rows — their own, a service's, an
operator's — each with what the subject needs to check it, and nobody else's reads."""

from __future__ import annotations

from datetime import datetime

import pytest
from api.subjects import (
    ALICE,
    BOB,
    CURVES,
    GRID,
    OTHER_CURVES,
    consent,
    link,
    rows_of,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for

from hub import audit

LOG = "/api/v1/me/access-log"
ADVICE = "&purpose=energy-saving-advice"


@pytest.fixture
def client(engine, world):
    with client_for(engine) as client:
        yield client


def chained(entry: dict) -> dict:
    """The fields an entry's hash covers, as the answer gives them."""
    return {**entry, "at": datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))}


def test_the_subject_sees_every_read_of_their_rows_and_can_check_each(client, world, engine):
    alice, bob = world.headers["alice"], world.headers["bob"]
    assert link(client, world, "alice", CURVES, ALICE).status_code == 201
    assert link(client, world, "bob", CURVES, BOB).status_code == 201
    assert consent(client, world, "alice", [CURVES]).status_code == 201
    assert rows_of(client, CURVES, alice).status_code == 200  # Alice herself
    assert rows_of(client, CURVES, bob).status_code == 200  # Bob, his own rows
    assert rows_of(client, CURVES, world.headers["coach"], ADVICE).status_code == 200
    assert rows_of(client, CURVES, world.headers["operator"]).status_code == 200  # every row
    assert rows_of(client, CURVES, world.headers["agency"]).status_code == 403  # refused: no read
    assert rows_of(client, OTHER_CURVES, world.headers["other-operator"]).status_code == 200

    log = client.get(LOG, headers=alice).json()
    who = [(e["who"], e["scope"]) for e in log["entries"]]
    assert who == [
        ("you", "subjects"),
        ("service Energy Coach (energy-coach)", "subjects"),
        ("an operator of grid-test", "all"),
    ]
    mine = world.of(GRID, ALICE)
    for entry in log["entries"]:
        assert entry["dataset_id"] == CURVES and entry["outcome"] == "granted"
        assert audit.fingerprint(chained(entry)) == entry["hash"]
        if entry["subjects"] == audit.EVERY_SUBJECT:
            assert entry["pseudonym"] is None and entry["proof"] is None
        else:
            assert entry["pseudonym"] == mine and entry["your_rows"] == 6
            (covered,) = entry["covered"]
            assert (covered["pseudonym"], covered["rows"]) == (mine, 6)
            assert audit.includes(entry["subjects"], entry["prev_hash"], mine, entry["proof"], 6)
            # the count is chained: another one does not check
            assert not audit.includes(entry["subjects"], entry["prev_hash"], mine, entry["proof"])
            # the proof is Alice's alone: it does not place Bob's pseudonym
            assert not audit.includes(
                entry["subjects"], entry["prev_hash"], world.of(GRID, BOB), entry["proof"], 6
            )
    assert log["entries"][1]["purpose"] == "energy-saving-advice"
    assert log["entries"][0]["rows"] == 6
    assert log["head"]["id"] >= log["entries"][-1]["id"]
    assert "Merkle" in log["verify"] and log["next"] is None
    assert world.of(GRID, BOB) not in str(log)
    # Bob's log: his own read and the operator's, not Alice's nor the service's
    bobs = client.get(LOG, headers=bob).json()["entries"]
    assert [(e["who"], e["scope"]) for e in bobs] == [
        ("you", "subjects"),
        ("an operator of grid-test", "all"),
    ]
    # the chain as a whole still holds
    assert audit.verify(engine).intact


def test_the_log_pages_and_leaves_out_unlinked_subjects(client, world):
    carol = world.headers["carol"]
    assert client.get(LOG, headers=carol).json()["entries"] == []
    assert link(client, world, "alice", CURVES, ALICE).status_code == 201
    for _ in range(3):
        rows_of(client, CURVES, world.headers["alice"])
    first = client.get(f"{LOG}?limit=2", headers=world.headers["alice"]).json()
    assert len(first["entries"]) == 2 and first["next"]
    rest = client.get(first["next"], headers=world.headers["alice"]).json()
    assert len(rest["entries"]) == 1 and rest["next"] is None
    assert rest["entries"][0]["id"] > first["entries"][1]["id"]
    # a subject who links later sees the reads of every row made before, not others' own reads
    assert link(client, world, "carol", CURVES, ("30005555555555", "35700")).status_code == 201
    assert client.get(LOG, headers=carol).json()["entries"] == []


def test_unlinking_hides_no_read_of_rows_that_were_the_subjects(client, world):
    alice, bob = world.headers["alice"], world.headers["bob"]
    made = link(client, world, "alice", CURVES, ALICE).json()
    assert link(client, world, "alice", OTHER_CURVES, ALICE).status_code == 201
    assert link(client, world, "bob", CURVES, BOB).status_code == 201
    assert consent(client, world, "alice", [CURVES]).status_code == 201
    assert consent(client, world, "bob", [CURVES]).status_code == 201
    assert rows_of(client, CURVES, world.headers["coach"], ADVICE).status_code == 200
    assert rows_of(client, CURVES, world.headers["operator"]).status_code == 200
    assert rows_of(client, OTHER_CURVES, alice).status_code == 200
    before = client.get(LOG, headers=alice).json()["entries"]
    assert [e["dataset_id"] for e in before] == [CURVES, CURVES, OTHER_CURVES]

    assert client.delete(f"/api/v1/me/links/{made['id']}", headers=alice).status_code == 204
    after = client.get(LOG, headers=alice).json()["entries"]
    assert [e["id"] for e in after] == [e["id"] for e in before]
    coach = after[0]
    assert coach["who"] == "service Energy Coach (energy-coach)"
    assert [c["pseudonym"] for c in coach["covered"]] == [world.of(GRID, ALICE)]
    assert coach["your_rows"] == 6
    # the coach's read named Bob too: his pseudonym and count stay out of Alice's view
    assert world.of(GRID, BOB) not in str(after)
    # a read of Bob's rows alone after the unlink is not Alice's to see
    assert rows_of(client, CURVES, bob).status_code == 200
    assert [e["id"] for e in client.get(LOG, headers=alice).json()["entries"]] == [
        e["id"] for e in before
    ]
    # and Carol, never linked, sees none of it
    assert client.get(LOG, headers=world.headers["carol"]).json()["entries"] == []
