"""A personal dataset's operator (the controller) finds a customer's rows by the subject key it
holds: the key is pseudonymised as the gate stored it. Nobody else's filter is."""

from __future__ import annotations

import pytest
from api.subjects import (
    ALICE,
    BOB,
    CURVES,
    GRID,
    HOURS,
    consent,
    link,
    rows_of,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for

ADVICE = "&purpose=energy-saving-advice"


@pytest.fixture
def client(engine, world):
    with client_for(engine) as client:
        yield client


def keys_of(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["subject_key"] for r in answer.json()["records"]]


def test_the_operator_finds_a_customers_rows_by_meter_number(client, world):
    operator = world.headers["operator"]
    alice = world.of(GRID, ALICE)
    assert keys_of(rows_of(client, CURVES, operator, f"&subject_key={ALICE[0]}")) == [alice] * HOURS
    assert keys_of(rows_of(client, CURVES, operator, f"&subject_key={alice}")) == [alice] * HOURS
    both = keys_of(rows_of(client, CURVES, operator, f"&subject_key={ALICE[0]},{BOB[0]}"))
    assert set(both) == {alice, world.of(GRID, BOB)} and len(both) == 2 * HOURS
    others = keys_of(rows_of(client, CURVES, operator, f"&subject_key__ne={ALICE[0]}"))
    assert others and alice not in others
    # the meter number is never stored nor logged: only the pseudonym is
    assert ALICE[0] not in client.get("/api/v1/access-log", headers=operator).text


def test_nobody_else_finds_rows_by_a_subject_key(client, world):
    for who, household in (("alice", ALICE), ("bob", BOB)):
        assert link(client, world, who, CURVES, household).status_code == 201
        assert consent(client, world, who, [CURVES]).status_code == 201
    coach, bob = world.headers["coach"], world.headers["bob"]
    # a service holding both consents cannot find whose rows a meter number is
    assert keys_of(rows_of(client, CURVES, coach, f"{ADVICE}&subject_key={ALICE[0]}")) == []
    # Bob guessing Alice's meter number finds nothing, nor his own by his (he reads by link)
    assert keys_of(rows_of(client, CURVES, bob, f"&subject_key={ALICE[0]}")) == []
    assert keys_of(rows_of(client, CURVES, bob, f"&subject_key={BOB[0]}")) == []
    # another producer's operator is refused the rows whatever the filter
    other = world.headers["other-operator"]
    assert rows_of(client, CURVES, other, f"&subject_key={ALICE[0]}").status_code == 403
