"""A consent shares the links its receipt names, fixed when it is given: a meter linked later
is not read by the service until the subject consents for it, and an unlink ends what every
consent shared through that link, so a relink revives nothing."""

from __future__ import annotations

import pytest
from api.subjects import (
    ALICE,
    CAROL,
    CURVES,
    GRID,
    HOURS,
    MORE_CURVES,
    consent,
    link,
    rows_of,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for

ME = "/api/v1/me"
ADVICE = "&purpose=energy-saving-advice"


@pytest.fixture
def client(engine, world):
    with client_for(engine) as client:
        yield client


def read_by_coach(client, world, dataset: str = CURVES) -> set[str]:
    """The subjects whose rows the coach reads for advice (none when refused)."""
    answer = rows_of(client, dataset, world.headers["coach"], ADVICE)
    if answer.status_code == 403:
        return set()
    assert answer.status_code == 200, answer.text
    return {row["subject_key"] for row in answer.json()["records"]}


def named_by_live_receipts(client, world, who: str = "alice") -> set[str]:
    """The pseudonyms the subject's live consents' receipts name."""
    named: set[str] = set()
    for given in client.get(f"{ME}/consents", headers=world.headers[who]).json():
        if given["status"] == "live":
            named |= set(given["receipt"]["piiPrincipalId"].split())
    return named


def test_a_meter_linked_after_the_consent_is_not_shared_until_consented(client, world):
    alice = world.headers["alice"]
    own = link(client, world, "alice", CURVES, ALICE).json()
    first = consent(client, world, "alice", [CURVES]).json()
    assert first["links"] == [own["id"]]
    mine, second_home = world.of(GRID, ALICE), world.of(GRID, CAROL)
    assert read_by_coach(client, world) == {mine}

    later = link(client, world, "alice", CURVES, CAROL)  # a second meter whose values she knows
    assert later.status_code == 201
    assert read_by_coach(client, world) == {mine} == named_by_live_receipts(client, world)
    listed = client.get(f"{ME}/consents", headers=alice).json()
    assert [c["links"] for c in listed] == [[own["id"]]]
    # Alice's own reads take both meters at once: only the service waits for a consent
    assert len(rows_of(client, CURVES, alice).json()["records"]) == 2 * HOURS

    extended = consent(client, world, "alice", [CURVES]).json()
    assert sorted(extended["links"]) == sorted([own["id"], later.json()["id"]])
    assert set(extended["receipt"]["piiPrincipalId"].split()) == {mine, second_home}
    assert read_by_coach(client, world) == {mine, second_home}


def test_unlinking_then_linking_again_revives_no_consent(client, world):
    alice = world.headers["alice"]
    own = link(client, world, "alice", CURVES, ALICE).json()
    given = consent(client, world, "alice", [CURVES]).json()
    assert read_by_coach(client, world) == {world.of(GRID, ALICE)}

    assert client.delete(f"{ME}/links/{own['id']}", headers=alice).status_code == 204
    assert read_by_coach(client, world) == set()
    again = link(client, world, "alice", CURVES, ALICE)  # to look at her own curve again
    assert again.status_code == 201 and again.json()["id"] != own["id"]
    assert len(rows_of(client, CURVES, alice).json()["records"]) == HOURS
    assert read_by_coach(client, world) == set()  # the old consent stays ended for that meter
    (listed,) = client.get(f"{ME}/consents", headers=alice).json()
    assert listed["id"] == given["id"] and listed["links"] == []
    # re-posting a link she holds keeps it: that is no new link, the consent still covers it
    renewed = consent(client, world, "alice", [CURVES]).json()
    assert link(client, world, "alice", CURVES, ALICE).json()["id"] == again.json()["id"]
    assert renewed["links"] == [again.json()["id"]]
    assert read_by_coach(client, world) == {world.of(GRID, ALICE)}


def test_the_service_never_reads_a_subject_no_live_receipt_names(client, world):
    """An attacker's sequence of links, unlinks and consents over two datasets: after every
    step, what the coach reads is exactly what live receipts name of the links still held."""
    alice = world.headers["alice"]

    def held(dataset: str) -> dict[str, str]:
        found = client.get(f"{ME}/links", headers=alice).json()
        return {x["pseudonym"]: x["id"] for x in found if x["dataset"] == dataset}

    def check() -> None:
        for dataset in (CURVES, MORE_CURVES):
            live = [
                c
                for c in client.get(f"{ME}/consents", headers=alice).json()
                if c["status"] == "live" and dataset in c["datasets"]
            ]
            shared = {i for c in live for i in c["links"]}
            expected = {p for p, i in held(dataset).items() if i in shared}
            assert read_by_coach(client, world, dataset) == expected
            assert expected <= named_by_live_receipts(client, world)

    steps = [
        lambda: link(client, world, "alice", CURVES, ALICE),
        lambda: consent(client, world, "alice", [CURVES]),
        lambda: link(client, world, "alice", MORE_CURVES, ALICE),
        lambda: link(client, world, "alice", CURVES, CAROL),
        lambda: client.delete(f"{ME}/links/{held(CURVES)[world.of(GRID, ALICE)]}", headers=alice),
        lambda: consent(client, world, "alice", [CURVES, MORE_CURVES]),
        lambda: link(client, world, "alice", CURVES, ALICE),
        lambda: client.delete(f"{ME}/links/{held(CURVES)[world.of(GRID, CAROL)]}", headers=alice),
        lambda: link(client, world, "alice", CURVES, CAROL),
    ]
    for step in steps:
        assert step().status_code in (201, 204)
        check()
    assert read_by_coach(client, world, MORE_CURVES) == {world.of(GRID, ALICE)}
    assert read_by_coach(client, world) == set()
