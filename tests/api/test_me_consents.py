"""Consents: a subject lets a registered service read their rows for one of the charter's
purposes, gets a sealed receipt, and revokes it with effect on the service's next request."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from api.subjects import (
    ALICE,
    BOB,
    CAROL,
    CURVES,
    GRID,
    HOURS,
    MORE_CURVES,
    OTHER,
    OTHER_CURVES,
    consent,
    link,
    publish_curves,
    rows_of,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for
from sqlmodel import Session, col, select

from hub import charters
from hub.models import AccessEvent, Consent
from hub.selfdata import consents

ME = "/api/v1/me"
ADVICE = "&purpose=energy-saving-advice"


@pytest.fixture
def client(engine, world):
    with client_for(engine) as client:
        yield client


@pytest.fixture
def linked(client, world):
    """Alice and Bob linked to both of the producer's datasets, Carol to none."""
    for who, household in (("alice", ALICE), ("bob", BOB)):
        for dataset in (CURVES, MORE_CURVES):
            assert link(client, world, who, dataset, household).status_code == 201
    return world


def test_a_consent_gives_a_sealed_receipt(client, linked):
    made = consent(client, linked, "alice", [CURVES, MORE_CURVES], expires="2027-06-30")
    assert made.status_code == 201, made.text
    body = made.json()
    receipt = body["receipt"]
    canonical = json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert body["receipt_hash"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert receipt["consentReceiptID"] == body["id"] and receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["piiPrincipalId"] == linked.of(GRID, ALICE)
    assert receipt["piiControllers"][0]["id"] == GRID
    assert receipt["expires"] == "2027-07-01T00:00:00Z" == body["expires"].replace("+00:00", "Z")
    (service,) = receipt["services"]
    assert (service["serviceId"], service["service"]) == ("energy-coach", "Energy Coach")
    (purpose,) = service["purposes"]
    assert purpose["purpose"] == "energy-saving-advice" and purpose["legalBasis"] == ["consent"]
    assert {"subject_key", "period_start", "value"} <= set(purpose["piiCategory"])
    assert [d["id"] for d in receipt["datasets"]] == [CURVES, MORE_CURVES]
    assert receipt["consentTimestamp"] > 0 and receipt["sensitive"] is True
    assert body["status"] == "live" and body["datasets"] == [CURVES, MORE_CURVES]
    listed = client.get(f"{ME}/consents", headers=linked.headers["alice"]).json()
    assert [c["receipt_hash"] for c in listed] == [body["receipt_hash"]]
    assert client.get(f"{ME}/consents", headers=linked.headers["bob"]).json() == []


def test_the_service_reads_the_rows_of_those_who_consented_and_only_for_that_purpose(
    client, linked
):
    coach = linked.headers["coach"]
    assert rows_of(client, CURVES, coach, ADVICE).status_code == 403  # nobody consented yet
    assert consent(client, linked, "alice", [CURVES]).status_code == 201
    rows = rows_of(client, CURVES, coach, ADVICE + "&total=true").json()
    assert {r["subject_key"] for r in rows["records"]} == {linked.of(GRID, ALICE)}
    assert rows["total"] == HOURS == len(rows["records"])
    # X-Purpose says the same as ?purpose=
    also = client.get(
        f"/api/v1/datasets/{CURVES}/records", headers={**coach, "X-Purpose": "energy-saving-advice"}
    )
    assert also.json()["records"] == rows["records"]
    # Bob is linked but did not consent; Alice's other dataset is not in the consent
    assert rows_of(client, MORE_CURVES, coach, ADVICE).status_code == 403
    assert consent(client, linked, "bob", [CURVES]).status_code == 201
    both = rows_of(client, CURVES, coach, ADVICE).json()["records"]
    assert {r["subject_key"] for r in both} == {linked.of(GRID, ALICE), linked.of(GRID, BOB)}
    # no purpose, another purpose of the charter, a purpose outside it: refused, and said why
    bare = rows_of(client, CURVES, coach)
    assert bare.status_code == 403 and "purpose=" in bare.json()["detail"]
    other = rows_of(client, CURVES, coach, "&purpose=self-data")
    assert other.status_code == 403 and "no data subject has a live consent" in other.text
    outside = rows_of(client, CURVES, coach, "&purpose=marketing")
    assert outside.status_code == 403 and "is not one that" in outside.text
    # another service, or a service token tied to none, reads nothing with the same purpose
    assert rows_of(client, CURVES, linked.headers["snoop"], ADVICE).status_code == 403
    unregistered = rows_of(client, CURVES, linked.headers["unregistered"], ADVICE)
    assert unregistered.status_code == 403 and "no registered service" in unregistered.text


def test_revocation_applies_on_the_next_request(client, linked, engine):
    made = consent(client, linked, "alice", [CURVES]).json()
    coach = linked.headers["coach"]
    assert rows_of(client, CURVES, coach, ADVICE).status_code == 200
    assert (
        client.delete(f"{ME}/consents/{made['id']}", headers=linked.headers["bob"]).status_code
        == 404
    )
    revoked = client.delete(f"{ME}/consents/{made['id']}", headers=linked.headers["alice"])
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json()["revoked"] is not None
    refused = rows_of(client, CURVES, coach, ADVICE)
    assert refused.status_code == 403
    # the receipt stays as it was given, with its seal
    listed = client.get(f"{ME}/consents", headers=linked.headers["alice"]).json()
    assert listed[0]["receipt_hash"] == made["receipt_hash"] and listed[0]["status"] == "revoked"
    with Session(engine) as session:
        events = session.exec(
            select(AccessEvent)
            .where(AccessEvent.dataset_id == CURVES, AccessEvent.actor_role == "service")
            .order_by(col(AccessEvent.id))
        ).all()
    assert [e.outcome for e in events] == ["granted", "denied"]


def test_an_expired_consent_reads_nothing(client, linked, engine):
    with Session(engine) as session:
        given = consents.give(
            session,
            linked_account(client, linked, "alice"),
            "energy-coach",
            [CURVES],
            "energy-saving-advice",
            datetime.now(UTC) - timedelta(minutes=1),
            "http://testserver/",
            now=datetime.now(UTC) - timedelta(days=2),
        )
    assert given.status() == "expired"
    assert rows_of(client, CURVES, linked.headers["coach"], ADVICE).status_code == 403
    listed = client.get(f"{ME}/consents", headers=linked.headers["alice"]).json()
    assert [c["status"] for c in listed] == ["expired"]


def linked_account(client, world, who: str) -> str:
    return client.get(ME, headers=world.headers[who]).json()["account"]


def test_consents_the_hub_refuses(client, linked, engine):
    assert link(client, linked, "alice", OTHER_CURVES, ALICE).status_code == 201
    cases = [
        # datasets the subject has no link to: another producer's, or one never linked
        (consent(client, linked, "carol", [CURVES]), 403, "no link"),
        (consent(client, linked, "bob", [OTHER_CURVES]), 403, "no link"),
        (consent(client, linked, "alice", ["no-such-dataset"]), 403, "no dataset"),
        # one producer per consent
        (consent(client, linked, "alice", [CURVES, OTHER_CURVES]), 400, "one producer"),
        (
            consent(client, linked, "alice", [CURVES], service="nobody"),
            400,
            "no registered service",
        ),
        (consent(client, linked, "alice", [CURVES], expires="2020-01-01"), 400, "in the past"),
        (consent(client, linked, "alice", [CURVES], expires="soon"), 400, "not a day"),
        (
            consent(client, linked, "alice", [CURVES], purpose="marketing"),
            400,
            "not one the charter",
        ),
        (consent(client, linked, "alice", []), 400, "datasets must have at least 1 item, not 0"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.text
    with Session(engine) as session:
        assert session.exec(select(Consent)).all() == []
    assert rows_of(client, OTHER_CURVES, linked.headers["coach"], ADVICE).status_code == 403
    # a consent for the other producer alone is fine
    assert consent(client, linked, "alice", [OTHER_CURVES]).status_code == 201
    other = rows_of(client, OTHER_CURVES, linked.headers["coach"], ADVICE).json()["records"]
    assert {r["subject_key"] for r in other} == {linked.of(OTHER, ALICE)}


def test_unlinking_takes_the_rows_out_of_every_consent(client, linked):
    assert consent(client, linked, "alice", [CURVES]).status_code == 201
    coach = linked.headers["coach"]
    assert len(rows_of(client, CURVES, coach, ADVICE).json()["records"]) == HOURS
    mine = client.get(ME, headers=linked.headers["alice"]).json()
    (curves_link,) = [x for x in mine["links"] if x["dataset"] == CURVES]
    assert mine["consents"][0]["status"] == "live"
    client.delete(f"{ME}/links/{curves_link['id']}", headers=linked.headers["alice"])
    assert rows_of(client, CURVES, coach, ADVICE).status_code == 403


def test_a_service_never_reads_quarantine_reports_or_counts(client, linked, published):
    assert consent(client, linked, "alice", [CURVES]).status_code == 201
    coach = linked.headers["coach"]
    for path in ("/quarantine", "/validation", "/grid"):
        response = client.get(
            f"/api/v1/datasets/{CURVES}{path}?purpose=energy-saving-advice", headers=coach
        )
        assert response.status_code in (400, 403, 404), path
        assert linked.of(GRID, BOB) not in response.text
    shown = client.get(f"/api/v1/datasets/{CURVES}", headers=coach).json()
    assert str(HOURS * 3) not in json.dumps(shown.get("record_count", ""))
    assert CAROL[0] not in json.dumps(shown)


@pytest.mark.parametrize(
    "expires,words",
    [
        ("9999-12-31", "out of range"),  # the day after overflows
        ("9999-12-31T23:59:59-05:00", "out of range"),  # so does the instant in UTC
        ("9999-12-31T23:59:59+14:00", "at most until"),  # fits, but outlives everything
        (f"{datetime.now(UTC).date() + consents.MAX_TERM + timedelta(days=2)}", "at most until"),
    ],
)
def test_an_expiry_too_far_away_is_a_400_not_a_crash(client, linked, engine, expires, words):
    answer = consent(client, linked, "alice", [CURVES], expires=expires)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["detail"]
    with Session(engine) as session:
        assert session.exec(select(Consent)).all() == []
    assert rows_of(client, CURVES, linked.headers["coach"], ADVICE).status_code == 403
    longest = f"{datetime.now(UTC).date() + consents.MAX_TERM - timedelta(days=2)}"
    assert consent(client, linked, "alice", [CURVES], expires=longest).status_code == 201


def test_a_consent_ends_no_later_than_its_charter(client, linked, tmp_path):
    last_day = datetime.now(UTC).date() + timedelta(days=20)
    charter = tmp_path / "charters" / "test-curves-charter.yaml"
    text = charter.read_text(encoding="utf-8")
    charter.write_text(text.replace("2030-12-31", f"{last_day}"), encoding="utf-8")
    charters._listings.clear()  # read the edited charter now, not after its stamp's delay
    later = consent(client, linked, "alice", [CURVES], expires=f"{last_day + timedelta(days=1)}")
    assert later.status_code == 400
    assert f"the charter of {CURVES!r} is in force until {last_day}" in later.json()["detail"]
    given = consent(client, linked, "alice", [CURVES], expires=f"{last_day}")
    assert given.status_code == 201, given.text


def test_a_consent_whose_purpose_the_charter_in_force_drops_shows_suspended(
    client, linked, engine, tmp_path
):
    coach = linked.headers["coach"]
    advice = consent(client, linked, "alice", [CURVES, MORE_CURVES]).json()
    own = consent(client, linked, "bob", [CURVES], purpose="self-data").json()
    assert advice["status"] == "live" and advice["suspended"] == []
    assert rows_of(client, CURVES, coach, ADVICE).status_code == 200
    # version 2.0, in force from today, allows self-data only
    folder = tmp_path / "charters"
    text = (folder / "test-curves-charter.yaml").read_text(encoding="utf-8")
    amended = text.replace('version: "1.0"', 'version: "2.0"').replace(
        "purposes: [self-data, energy-saving-advice]", "purposes: [self-data]"
    )
    amended = amended.replace(
        'valid_from: "2026-01-01"', f'valid_from: "{datetime.now(UTC).date()}"'
    )
    (folder / "test-curves-charter@2.0.yaml").write_text(amended, encoding="utf-8")
    charters._listings.clear()  # read the new version now, not after its stamp's delay

    def shown(who: str) -> dict:
        answer = client.get(ME, headers=linked.headers[who])
        assert answer.status_code == 200
        (only,) = answer.json()["consents"]
        return only

    for harvested in (False, True):
        if harvested:  # the next harvest publishes under 2.0: the same judgement
            publish_curves(engine, CURVES, GRID, "test-curves-charter", [ALICE[0], BOB[0]])
            publish_curves(engine, MORE_CURVES, GRID, "test-curves-charter", [ALICE[0], BOB[0]])
        refused = rows_of(client, CURVES, coach, ADVICE)
        assert refused.status_code == 403
        assert "not one that charter test-curves-charter 2.0 allows" in refused.json()["detail"]
        alice = shown("alice")
        assert alice["status"] == "suspended"
        assert [(s["dataset"], s["code"], s["charter"]) for s in alice["suspended"]] == [
            (CURVES, "purpose_not_allowed", "test-curves-charter 2.0"),
            (MORE_CURVES, "purpose_not_allowed", "test-curves-charter 2.0"),
        ]
        assert "'energy-saving-advice' is not one that charter" in alice["suspended"][0]["reason"]
        # Bob's consent for a purpose 2.0 still allows is live, and its reads go through
        bob = shown("bob")
        assert (bob["id"], bob["status"], bob["suspended"]) == (own["id"], "live", [])
        assert rows_of(client, CURVES, coach, "&purpose=self-data").status_code == 200
    # the same list as /me, and the receipt is unchanged
    listed = client.get(f"{ME}/consents", headers=linked.headers["alice"]).json()
    assert listed[0]["status"] == "suspended" and listed[0]["receipt"] == advice["receipt"]
    # a revoked consent is revoked, not suspended
    revoked = client.delete(f"{ME}/consents/{advice['id']}", headers=linked.headers["alice"])
    assert (revoked.json()["status"], revoked.json()["suspended"]) == ("revoked", [])
