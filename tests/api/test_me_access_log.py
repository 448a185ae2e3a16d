"""GET /api/v1/me/access-log: every read of a subject's rows — their own, a service's, an
operator's — each with what the subject needs to check it, and nobody else's reads, nor how
many rows of others a read took: an entry that read others' rows too (or every row) shows the
subject `rows_commit`, a salted commitment chained in place of `rows`, not the rows nor the nonce
that opens it. The subject recomputes every entry's hash from what the API and their export
show, entries from before the commitment included."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from api.subjects import (
    ALICE,
    BOB,
    CAROL,
    CURVES,
    GRID,
    HOURS,
    OTHER_CURVES,
    World,
    consent,
    link,
    rows_of,
    shown,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for
from ui.pagetext import sign_in

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


@contextmanager
def as_before_the_commitment() -> Iterator[None]:
    """`audit.append` writing entries as a hub before migration 0021 did: `rows` chained."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit, "secrets", SimpleNamespace(token_hex=lambda size: ""))
        patch.setattr(audit, "rows_commitment", lambda nonce, rows: "")
        yield


def read_together(client, world: World) -> None:
    """Alice (one meter) and Bob (two) let the coach read; it reads both, the operator all."""
    assert link(client, world, "alice", CURVES, ALICE).status_code == 201
    for household in (BOB, CAROL):
        assert link(client, world, "bob", CURVES, household).status_code == 201
    for who in ("alice", "bob"):
        assert consent(client, world, who, [CURVES]).status_code == 201
    assert rows_of(client, CURVES, world.headers["alice"]).status_code == 200  # her own
    assert rows_of(client, CURVES, world.headers["coach"], ADVICE).status_code == 200
    assert rows_of(client, CURVES, world.headers["operator"]).status_code == 200


def exported_log(client, world: World, who: str) -> list[dict[str, str]]:
    answer = client.get("/api/v1/me/export", headers=world.headers[who])
    assert answer.status_code == 200, answer.text
    with zipfile.ZipFile(io.BytesIO(answer.content)) as package:
        text = package.read("access-log.csv").decode()
    return list(csv.DictReader(io.StringIO(text)))


def from_csv(row: dict[str, str]) -> dict[str, Any]:
    """The chained fields of an exported entry, typed as the API gives them."""
    rows = int(row["rows"]) if row["rows"] else None
    return {**row, "id": int(row["id"]), "rows": rows, "at": datetime.fromisoformat(row["at"])}


def opens(entry: dict[str, Any]) -> bool:
    """Whether the nonce shown opens the commitment to the rows shown."""
    return audit.rows_commitment(entry["rows_nonce"], entry["rows"]) == entry["rows_commit"]


def test_a_subject_recomputes_every_hash_from_what_the_api_and_the_export_show(
    client, world, engine
):
    read_together(client, world)
    pseudonyms = [world.of(GRID, h) for h in (ALICE, BOB, CAROL)]
    with as_before_the_commitment():  # a read logged before migration 0021, as it was
        audit.append(
            engine,
            audit.Entry(
                actor_id="t-old",
                actor_role="service",
                organization="",
                dataset_id=CURVES,
                producer=GRID,
                outcome="granted",
                scope="subjects",
                route=f"GET /api/v1/datasets/{CURVES}/records",
                rows=3 * HOURS,
                subjects=tuple(pseudonyms),
                counts=dict.fromkeys(pseudonyms, HOURS),
            ),
        )
    entries = client.get(LOG, headers=world.headers["alice"]).json()["entries"]
    kinds = [(e["who"], e["rows"], bool(e["rows_commit"]), bool(e["rows_nonce"])) for e in entries]
    assert kinds == [
        ("you", HOURS, True, True),  # her rows alone: shown, with the nonce that opens them
        ("service Energy Coach (energy-coach)", None, True, False),
        ("an operator of grid-test", None, True, False),
        ("service t-old", 3 * HOURS, False, False),  # chained itself: shown as before
    ]
    for entry in entries:
        assert audit.fingerprint(chained(entry)) == entry["hash"]
    assert opens(entries[0])
    exported = exported_log(client, world, "alice")
    assert {r["id"] for r in exported} >= {str(e["id"]) for e in entries}
    assert any(not r["rows_commit"] for r in exported)  # the old entry is there too
    for row in exported:
        assert audit.fingerprint(from_csv(row)) == row["hash"], row
        if row["rows_nonce"]:
            assert opens(from_csv(row))
    assert audit.verify(engine).intact


def test_a_subject_read_with_another_cannot_learn_the_others_count_anywhere(client, world, engine):
    read_together(client, world)
    # what an operator still sees: the coach's read sent 18 rows, the operator's too
    operators = client.get("/api/v1/access-log", headers=world.headers["operator"]).json()
    everyone = {e["id"]: e["rows"] for e in operators["entries"] if e["route"].endswith("records")}
    assert sorted(everyone.values()) == [HOURS, 3 * HOURS, 3 * HOURS]
    bobs, total = str(2 * HOURS), str(3 * HOURS)

    alice = client.get(LOG, headers=world.headers["alice"]).json()["entries"]
    others = [e for e in alice if e["who"] != "you"]
    assert len(others) == 2 and all(e["id"] in everyone for e in others)
    for entry in others:
        assert entry["rows"] is None and entry["rows_nonce"] == ""
        assert cannot_open(entry, [str(v) for v in leaves(entry)])
        counts = [v for k, v in flat(entry) if isinstance(v, int) and k != "id"]
        assert 2 * HOURS not in counts and 3 * HOURS not in counts
    assert [e["your_rows"] for e in others] == [HOURS, None]  # her own count she keeps

    for row in exported_log(client, world, "alice"):
        if row["who"] == "you":
            continue
        assert row["rows"] == "" and row["rows_nonce"] == ""
        assert cannot_open(from_csv(row), list(row.values()))
        assert bobs not in row.values() and total not in row.values()

    with client_for(engine) as browser:
        token = world.headers["alice"]["Authorization"].removeprefix("Bearer ")
        assert sign_in(browser, token).status_code == 303
        html = browser.get("/me?mine=1", headers={"Accept-Language": "en"}).text
    history = html.split('id="log"', 1)[1].split("</section>", 1)[0]
    assert "Service" in history and "Operator" in history
    # times aside (an hour may be 12 or 18), no number of the others' is on the page's history
    words = re.sub(r"<time[^>]*>.*?</time>", "", history)
    assert not shown(bobs, words) and not shown(total, words)


def cannot_open(entry: dict[str, Any], candidates: list[str]) -> bool:
    """An attacker's try: any value they were shown taken as the nonce, against every count."""
    return not any(
        audit.rows_commitment(nonce, rows) == entry["rows_commit"]
        for nonce in {"", *candidates}
        for rows in [None, *range(200)]
    )


def flat(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) of a JSON answer, nested ones included."""
    if isinstance(value, dict):
        for name, inner in value.items():
            yield from flat(inner, name)
    elif isinstance(value, list):
        for inner in value:
            yield from flat(inner, key)
    else:
        yield key, value


def leaves(entry: dict[str, Any]) -> list[Any]:
    return [v for _, v in flat(entry)]


def test_a_parameter_the_subjects_log_does_not_take_is_a_400(client, world):
    for query in ("dataset=x", "cursor=garbage", "organization=grid-demo"):
        answer = client.get(f"/api/v1/me/access-log?{query}", headers=world.headers["alice"])
        assert answer.status_code == 400, answer.text
        name = query.split("=")[0]
        assert answer.json()["detail"] == (
            f"unknown parameter {name!r}: the access log takes after, limit"
        )
    assert (
        client.get("/api/v1/me/access-log?after=0", headers=world.headers["alice"]).status_code
        == 200
    )
