"""A data subject's own quarantined rows: theirs to read (GDPR art. 15) at the dataset's
quarantine route and in their export, each read logged; another subject's never."""

from __future__ import annotations

import io
import json
import zipfile

import polars as pl
import pytest
from api.subjects import (
    ALICE,
    BOB,
    CAROL,
    GRID,
    curve_rows,
    link,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for

from hub.catalogue import Batch, Publisher, publish

LIVE = "elec-live"


def publish_live(engine) -> None:
    """Carol's first two readings and Bob's last sent as -1 kWh: the gate quarantines them."""
    frame = curve_rows([ALICE[0], BOB[0], CAROL[0]])
    bad = frame["_row"].is_in([13, 14, 15])  # Bob's last hour, Carol's first two (rows from 2)
    frame = frame.with_columns(
        pl.when(bad).then(pl.lit("-1")).otherwise(pl.col("value")).alias("value")
    )
    run = publish(
        Batch(
            dataset_id=LIVE,
            title="Live load curves",
            publisher=Publisher(GRID, GRID.title()),
            theme="energy",
            schema="energy-consumption",
            charter="test-curves-charter",
            chunks=[frame],
            source_url="https://example.org/live.csv",
        ),
        engine=engine,
    )
    assert run.status == "partial" and run.rows_quarantined == 3, run.error


@pytest.fixture
def client(engine, world):
    publish_live(engine)
    with client_for(engine) as client:
        yield client


def quarantine_of(client, headers, query: str = ""):
    return client.get(f"/api/v1/datasets/{LIVE}/quarantine{query}", headers=headers)


def test_a_subject_reads_their_own_quarantined_rows_and_nobody_elses(client, world):
    carol, bob, alice = (world.headers[w] for w in ("carol", "bob", "alice"))
    operator = quarantine_of(client, world.headers["operator"]).json()
    assert operator["count"] == 3
    # unlinked: nothing of hers is known to be there
    assert quarantine_of(client, carol).status_code == 403
    assert link(client, world, "carol", LIVE, CAROL).status_code == 201
    assert link(client, world, "bob", LIVE, BOB).status_code == 201
    assert link(client, world, "alice", LIVE, ALICE).status_code == 201
    mine = world.of(GRID, CAROL)
    answer = quarantine_of(client, carol)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["run"], body["count"], body["next"]) == (None, 2, None)
    for row in body["rows"]:
        assert row["cells"]["subject_key"] == mine and row["cells"]["value"] == "-1"
    assert world.of(GRID, BOB) not in answer.text
    # Bob sees his, Alice (nothing quarantined) none: never the other's
    (bobs,) = quarantine_of(client, bob).json()["rows"]
    assert bobs["cells"]["subject_key"] == world.of(GRID, BOB)
    assert quarantine_of(client, alice).json()["rows"] == []
    # paging by cursor; each read is in Carol's log with the rows it showed her (not the one
    # looked ahead to know that more follow)
    first = quarantine_of(client, carol, "?limit=1").json()
    assert first["count"] == 1 and first["next"]
    log = client.get("/api/v1/me/access-log", headers=carol).json()["entries"]
    reads = [e for e in log if e["route"].endswith("/quarantine") and e["actor_role"] == "subject"]
    assert reads and reads[-1]["your_rows"] == 1 and reads[-1]["pseudonym"] == mine
    assert any(e["who"] == "an operator of grid-test" for e in log)


def test_the_export_holds_the_subjects_quarantined_rows_and_links(client, world, tmp_path):
    carol = world.headers["carol"]
    made = link(client, world, "carol", LIVE, CAROL).json()
    assert link(client, world, "bob", LIVE, BOB).status_code == 201
    response = client.get("/api/v1/me/export", headers=carol)
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        quarantined = archive.read("quarantine.csv").decode()
        links = archive.read("links.csv").decode()
        package = json.loads(archive.read("datapackage.json"))
    assert "quarantine.csv" in names and "links.csv" in names
    assert {"links", "quarantine"} <= {r["name"] for r in package["resources"]}
    assert world.of(GRID, CAROL) in quarantined and '"-1"' in quarantined
    assert world.of(GRID, BOB) not in quarantined and world.of(GRID, BOB) not in links
    assert len(quarantined.strip().splitlines()) == 3  # header and her two rows
    assert links.splitlines()[1].startswith(f"{made['id']},{LIVE},")
    assert links.strip().endswith(world.of(GRID, CAROL))


def test_an_export_past_the_row_cap_says_where_the_rest_of_the_quarantine_is(client, world, engine):
    """HUB_MAX_EXPORT_ROWS cuts the quarantined rows too (the records past it refuse the whole
    package): the package says so and where to read on, so nothing is left out silently."""
    from sqlmodel import Session

    from hub import tokens
    from hub.api import portability
    from hub.reading import Caller

    carol = world.headers["carol"]
    assert link(client, world, "carol", LIVE, CAROL).status_code == 201
    with Session(engine) as session:
        actor = tokens.check(session, carol["Authorization"].removeprefix("Bearer "))
        rows, cut = portability._quarantined(session, Caller(actor, route="test"), [LIVE], 1)
        whole, none_cut = portability._quarantined(session, Caller(actor, route="test"), [LIVE], 2)
    assert len(rows) == 1 and list(cut) == [LIVE]
    assert len(whole) == 2 and none_cut == {}
    note = portability._cut_note(cut, "http://testserver/")
    following = client.get(note.split("read on from ", 1)[1], headers=carol)
    assert following.status_code == 200, following.text
    (rest,) = following.json()["rows"]
    assert rest["cells"]["subject_key"] == world.of(GRID, CAROL)
    assert rest["row"] != rows[0]["row"]
