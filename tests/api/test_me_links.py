"""POST /api/v1/me/links: a subject proves their key through the operator's matching service,
the hub keeps only the link, and the subject then reads their own rows and nobody else's."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from api.subjects import (
    ALICE,
    BOB,
    CAROL,
    CURVES,
    GRID,
    HOURS,
    MORE_CURVES,
    OTHER_CURVES,
    link,
    rows_of,
    shown,
    values,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for
from sqlmodel import Session, select

from hub.models import LinkAttempt, SubjectLink
from hub.selfdata import attempts, matching

ME = "/api/v1/me"


@pytest.fixture
def client(engine, world):
    with client_for(engine) as client:
        yield client


def test_a_subject_links_and_reads_only_their_own_rows(client, world, engine, caplog):
    caplog.set_level(logging.DEBUG)
    made = link(client, world, "alice", CURVES, ALICE)
    assert made.status_code == 201, made.text
    body = made.json()
    mine = world.of(GRID, ALICE)
    assert (body["dataset"], body["producer"], body["pseudonym"]) == (CURVES, GRID, mine)
    # the operator got the values, in RUDI's protocol
    assert world.matching.calls == [
        {"dataset": CURVES, "matching": {"meter_number": ALICE[0], "postcode": ALICE[1]}}
    ]
    rows = rows_of(client, CURVES, world.headers["alice"], "&total=true").json()
    assert len(rows["records"]) == HOURS == rows["total"]
    assert {r["subject_key"] for r in rows["records"]} == {mine}
    # Bob, not linked yet, reads nothing; once linked, his own rows only
    assert rows_of(client, CURVES, world.headers["bob"]).status_code == 403
    assert link(client, world, "bob", CURVES, BOB).status_code == 201
    bobs = rows_of(client, CURVES, world.headers["bob"]).json()["records"]
    assert {r["subject_key"] for r in bobs} == {world.of(GRID, BOB)} and len(bobs) == HOURS
    # the values are nowhere: not in a table, not in a log line (as numbers of their own: a
    # time's 15:21:27.835000 holds "35000" by chance)
    with engine.connect() as connection:
        dump = " ".join(
            str(row)
            for table in ("subjectlink", "linkattempt", "accessevent", "apitoken")
            for row in connection.execute(sa.text(f"SELECT * FROM {table}")).all()
        )
    for value in (*ALICE, *BOB):
        assert not shown(value, dump)
        assert not shown(value, caplog.text)


def test_the_link_holds_for_its_dataset_only(client, world):
    assert link(client, world, "alice", CURVES, ALICE).status_code == 201
    # the same producer's other dataset may key its rows by another number: not opened
    refused = rows_of(client, MORE_CURVES, world.headers["alice"])
    assert refused.status_code == 403 and "linked to none" in refused.json()["detail"]
    assert link(client, world, "alice", MORE_CURVES, ALICE).status_code == 201
    assert len(rows_of(client, MORE_CURVES, world.headers["alice"]).json()["records"]) == HOURS
    # linking twice gives the same link back
    again = link(client, world, "alice", CURVES, ALICE)
    assert again.status_code == 201
    me = client.get(ME, headers=world.headers["alice"]).json()
    assert sorted(x["dataset"] for x in me["links"]) == [CURVES, MORE_CURVES]
    assert again.json()["id"] in {x["id"] for x in me["links"]}
    assert [d["id"] for d in me["datasets"]] == [CURVES, MORE_CURVES]
    assert me["consents"] == []


def test_a_wrong_answer_and_no_data_look_the_same(client, world):
    wrong_postcode = link(client, world, "carol", CURVES, (CAROL[0], "35999"))
    unknown_meter = link(client, world, "carol", CURVES, ("30000000000000", CAROL[1]))
    assert wrong_postcode.status_code == unknown_meter.status_code == 404
    assert wrong_postcode.json() == unknown_meter.json()
    # another subject's meter number without their postcode proves nothing
    assert link(client, world, "carol", CURVES, (ALICE[0], CAROL[1])).status_code == 404
    assert rows_of(client, CURVES, world.headers["carol"]).status_code == 403


def test_matching_values_the_charter_refuses_never_reach_the_operator(client, world):
    alice = world.headers["alice"]
    secret = "3000123456789X"
    cases = [
        {"dataset": CURVES, "matching": {"meter_number": secret, "postcode": ALICE[1]}},
        {"dataset": CURVES, "matching": {"meter_number": ALICE[0]}},
        {"dataset": CURVES, "matching": {**values(ALICE), "x": 1}},
        {"dataset": CURVES, "matching": {"meter_number": [ALICE[0]], "postcode": ALICE[1]}},
        {"dataset": CURVES, "matching": {}},
        {"dataset": CURVES, "matching": "30001234567890"},
        {"dataset": CURVES, "pseudonym": world.of(GRID, BOB), "matching": {"postcode": "35200"}},
        {"dataset": CURVES},
        [CURVES],
    ]
    for body in cases:
        response = client.post(f"{ME}/links", json=body, headers=alice)
        assert response.status_code == 400, (body, response.text)
        assert secret not in response.text and ALICE[0] not in response.text
    assert client.post(f"{ME}/links", content=b"{not json", headers=alice).status_code == 400
    assert world.matching.calls == []
    # a pseudonym given as matching value is no meter number
    forged = {"meter_number": world.of(GRID, BOB), "postcode": BOB[1]}
    response = client.post(
        f"{ME}/links", json={"dataset": CURVES, "matching": forged}, headers=alice
    )
    assert response.status_code == 400


def test_a_subject_cannot_reach_another_subjects_rows(client, world):
    assert link(client, world, "alice", CURVES, ALICE).status_code == 201
    alice, bob = world.headers["alice"], world.headers["bob"]
    theirs = world.of(GRID, BOB)
    for query in (
        f"&subject_key={theirs}",
        f"&subject_key={theirs},{world.of(GRID, ALICE)}",
        f"&subject_key__ne={world.of(GRID, ALICE)}",
        "&sort=-subject_key",
        "&format=csv",
    ):
        response = rows_of(client, CURVES, alice, query)
        assert response.status_code == 200, query
        assert theirs not in response.text, query
    assert rows_of(client, CURVES, bob, f"&subject_key={theirs}").status_code == 403


@pytest.mark.parametrize(
    "mode,status",
    [
        ("error", 502),
        ("garbage", 502),
        ("no-key", 502),
        ("huge", 502),
        ("redirect", 502),
        ("slow", 503),
        ("drop", 503),
    ],
)
def test_a_misbehaving_matching_service_links_nobody(
    client, world, engine, monkeypatch, mode, status
):
    monkeypatch.setattr(matching, "TIMEOUT", matching.httpx.Timeout(0.5))
    world.matching.mode = mode
    world.matching.slow_seconds = 2.0
    response = link(client, world, "alice", CURVES, ALICE)
    assert response.status_code == status, response.text
    assert "matching service" in response.json()["detail"]
    assert ALICE[0] not in response.text
    if status == 503:
        assert response.headers["Retry-After"]
    with Session(engine) as session:
        assert session.exec(select(SubjectLink)).all() == []
    assert rows_of(client, CURVES, world.headers["alice"]).status_code == 403


def test_attempts_are_limited_per_account_and_per_dataset_across_processes(
    client,
    world,
    engine,
    monkeypatch,
):
    monkeypatch.setattr(attempts, "PER_ACCOUNT", attempts.Limit(3, timedelta(hours=1)))
    monkeypatch.setattr(attempts, "PER_DATASET", attempts.Limit(5, timedelta(hours=1)))
    guess = (ALICE[0], "35001")
    with client_for(engine) as second:  # another app, as another API process would be
        answers = [
            (client if i % 2 else second).post(
                f"{ME}/links",
                json={
                    "dataset": CURVES,
                    "matching": values(guess),
                },
                headers=world.headers["carol"],
            )
            for i in range(4)
        ]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert "this account" in answers[-1].json()["detail"]
    assert len(world.matching.calls) == 3  # the refused attempt never reached the operator
    # other accounts still try, until the dataset's own limit
    assert link(client, world, "bob", CURVES, (BOB[0], "35001")).status_code == 404
    assert link(client, world, "bob", CURVES, BOB).status_code == 201
    refused = link(client, world, "alice", CURVES, ALICE)
    assert refused.status_code == 429 and "attempts at linking to this dataset" in refused.text
    # another dataset has its own count
    assert link(client, world, "alice", MORE_CURVES, ALICE).status_code == 201
    with Session(engine) as session:
        assert len(session.exec(select(LinkAttempt)).all()) == 6


def test_unlinking_closes_the_rows_again(client, world):
    made = link(client, world, "alice", CURVES, ALICE).json()
    assert (
        client.delete(f"{ME}/links/{made['id']}", headers=world.headers["bob"]).status_code == 404
    )
    assert rows_of(client, CURVES, world.headers["alice"]).status_code == 200
    assert (
        client.delete(f"{ME}/links/{made['id']}", headers=world.headers["alice"]).status_code == 204
    )
    assert rows_of(client, CURVES, world.headers["alice"]).status_code == 403
    assert (
        client.delete(f"{ME}/links/{made['id']}", headers=world.headers["alice"]).status_code == 404
    )
    assert client.get(ME, headers=world.headers["alice"]).json()["links"] == []


def test_datasets_a_subject_cannot_link_to(client, world, published):
    alice = world.headers["alice"]
    given = values(ALICE)
    open_data = client.post(
        f"{ME}/links", json={"dataset": published.open_id, "matching": given}, headers=alice
    )
    assert open_data.status_code == 400 and "no personal data" in open_data.text
    unknown = client.post(f"{ME}/links", json={"dataset": "nope", "matching": given}, headers=alice)
    assert unknown.status_code == 404
    # a personal charter that names no matching service (written before there were any)
    older = client.post(
        f"{ME}/links",
        json={"dataset": published.closed["personal"], "matching": {"station_id": "st-a"}},
        headers=alice,
    )
    assert older.status_code == 503 and "matching service" in older.text
    assert world.matching.calls == []
    # the other producer's service is asked for its own dataset
    assert link(client, world, "alice", OTHER_CURVES, ALICE).status_code == 201


def test_only_subject_tokens_use_me(client, world):
    for path in ("", "/links", "/consents", "/access-log", "/export"):
        assert client.get(f"{ME}{path}").status_code == 401, path
        for who in ("coach", "operator", "admin", "agency"):
            assert client.get(f"{ME}{path}", headers=world.headers[who]).status_code == 403, path
    assert link(client, world, "operator", CURVES, ALICE).status_code == 403
    assert world.matching.calls == []


@pytest.mark.parametrize(
    "given",
    [
        {"meter_number": f"{ALICE[0]} ", "postcode": f" {ALICE[1]}"},  # stray spaces
        {"meter_number": int(ALICE[0]), "postcode": int(ALICE[1])},  # JSON numbers
        {"meter_number": f"\t{ALICE[0]}\n", "postcode": ALICE[1]},
    ],
)
def test_the_operator_gets_the_values_as_they_were_checked(client, world, engine, given):
    """What passed the charter's check goes to the operator: the trimmed string, never the raw
    value, which an operator comparing strings would not find (a 404 and an attempt spent)."""
    made = client.post(
        f"{ME}/links", json={"dataset": CURVES, "matching": given}, headers=world.headers["alice"]
    )
    assert made.status_code == 201, made.text
    assert world.matching.calls == [{"dataset": CURVES, "matching": values(ALICE)}]
    # a meter number whose leading zero a JSON number lost is refused before any attempt
    lost = client.post(
        f"{ME}/links",
        json={"dataset": CURVES, "matching": {"meter_number": 1234567890123, "postcode": "35000"}},
        headers=world.headers["bob"],
    )
    assert lost.status_code == 400 and "meter_number: not in the expected form" in lost.text
    assert len(world.matching.calls) == 1
    with Session(engine) as session:
        assert len(session.exec(select(LinkAttempt)).all()) == 1
