"""Quarantine pages: keyset paging by (row number, id) on an index, through hub.reading.

A run quarantines 1 200 rows, two observations per source row (as a reader that splits a row
into several observations does), so row numbers repeat and only the id orders them.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from api.support import FIELDS, air_batch, bearer, client_for, write_closed_charters
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import catalogue, quarantine, reading
from hub.catalogue import publish
from hub.config import get_settings
from hub.models import AccessEvent, QuarantinedRow

ROWS, BAD = 3_000, 1_200
OPEN, RESTRICTED = "paged-air", "paged-air-restricted"


def frame() -> pl.DataFrame:
    """3 000 observations, 2 per source row; 2 source rows in 5 have a value that is no number."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        {
            "station_id": f"st-{i % 2}",
            "station_name": "Paged",
            "pollutant": "no2",
            "value": "high" if (i // 2) % 5 < 2 else "12.5",
            "unit": "µg/m³",
            "averaging_period": "PT1H",
            "observed_at": (start + timedelta(hours=i // 2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "longitude": "-1.68",
            "latitude": "48.11",
            "quality_flag": "unverified",
        }
        for i in range(ROWS)
    ]
    table = pl.DataFrame(rows, schema={f: pl.Utf8 for f in FIELDS})
    return table.with_columns(pl.Series("_row", [2 + i // 2 for i in range(ROWS)], pl.Int64))


@pytest.fixture
def runs(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """One run each of an open and a restricted dataset, 1 200 rows quarantined by each."""
    write_closed_charters(tmp_path / "charters")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path / "charters"))
    get_settings.cache_clear()
    done = {}
    for dataset_id, charter in ((OPEN, "atmo-demo-open"), (RESTRICTED, "atmo-demo-restricted")):
        run = publish(air_batch(dataset_id, charter, f"Paged {dataset_id}", frame()), engine=engine)
        assert (run.status, run.rows_quarantined) == ("partial", BAD)
        done[dataset_id] = run.id or 0
    return done


@pytest.fixture
def client(engine: Engine, runs: dict[str, int]) -> Iterator[TestClient]:
    with client_for(engine) as client:
        yield client


def stored_order(engine: Engine, run_id: int) -> list[int]:
    """The ids of a run's quarantined rows in (row number, id) order, straight from the table."""
    with Session(engine) as session:
        rows = session.exec(select(QuarantinedRow).where(QuarantinedRow.run_id == run_id)).all()
    return [r.id or 0 for r in sorted(rows, key=lambda r: (r.row_number, r.id))]


def follow(
    client: TestClient, url: str, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every page from `url` on, following `next`."""
    pages = []
    while url:
        response = client.get(url, headers=headers or {})
        assert response.status_code == 200, response.text
        pages.append(response.json())
        url = pages[-1]["next"]
    return pages


def test_pages_follow_their_cursor_through_every_row_in_row_order(client, runs):
    pages = follow(client, f"/api/v1/datasets/{OPEN}/quarantine?limit=500")
    assert [len(p["rows"]) for p in pages] == [500, 500, 200]
    assert all(p["count"] == BAD and p["run"] == runs[OPEN] for p in pages)
    for page in pages[:-1]:
        assert "cursor=" in page["next"] and f"run={runs[OPEN]}" in page["next"]
        assert "offset" not in page["next"]
    rows = [r for p in pages for r in p["rows"]]
    numbers = [r["row"] for r in rows]
    assert numbers == sorted(numbers) and len(set(numbers)) == BAD // 2  # each number twice
    whole = client.get(f"/api/v1/datasets/{OPEN}/quarantine?limit=10000").json()
    assert whole["next"] is None and whole["rows"] == rows
    assert all(r["cells"]["value"] == "high" and r["errors"] for r in rows)
    assert (
        rows[0]["cells"]["unit"] == "µg/m³" and rows[0]["errors"][0]["rowNumber"] == rows[0]["row"]
    )  # cells and reasons stored as the validator wrote them


def test_a_later_run_does_not_change_the_pages_of_an_earlier_one(client, engine, runs):
    first = client.get(f"/api/v1/datasets/{OPEN}/quarantine?limit=700").json()
    publish(air_batch(OPEN, "atmo-demo-open", "Paged again", frame().head(10)), engine=engine)
    rest = follow(client, first["next"])
    assert [r["row"] for p in [first, *rest] for r in p["rows"]] == sorted(
        r["row"]
        for r in client.get(
            f"/api/v1/datasets/{OPEN}/quarantine?limit=10000&run={runs[OPEN]}"
        ).json()["rows"]
    )


def test_an_offset_still_works_and_hands_over_to_a_cursor(client, runs):
    everything = client.get(f"/api/v1/datasets/{OPEN}/quarantine?limit=10000").json()["rows"]
    page = client.get(f"/api/v1/datasets/{OPEN}/quarantine?offset=10&limit=5").json()
    assert page["rows"] == everything[10:15]
    after = client.get(page["next"]).json()
    assert after["rows"] == everything[15:20] and "offset" not in page["next"]
    beyond = client.get(f"/api/v1/datasets/{OPEN}/quarantine?offset=1000000000").json()
    assert (beyond["rows"], beyond["next"]) == ([], None)
    assert client.get(f"/api/v1/datasets/{OPEN}/quarantine?offset={2**63}").status_code == 400


def forged(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "====",
        "%%%",
        "é",
        forged("1.2.3"),
        forged("a.b"),
        forged("-1.5"),
        forged("1"),
        forged(f"{2**31}.1"),
        forged(f"1.{2**63}"),
        forged(f"1.{10**40}"),
        forged("１.２"),
        forged("[1, 2]"),
        forged("1.2\n"),
        forged(" 1.2"),
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_forged_cursor_is_a_400(client, cursor):
    response = client.get(f"/api/v1/datasets/{OPEN}/quarantine", params={"cursor": cursor})
    assert response.status_code == 400 and response.json() == {"detail": "invalid cursor"}


def test_a_cursor_at_the_end_of_the_numbers_is_an_empty_page(client):
    cursor = quarantine.encode_cursor(2**31 - 1, 2**31 - 1)
    page = client.get(f"/api/v1/datasets/{OPEN}/quarantine", params={"cursor": cursor}).json()
    assert (page["rows"], page["next"], page["count"]) == ([], None, BAD)


def test_an_overlong_cursor_is_refused_unread(client):
    response = client.get(f"/api/v1/datasets/{OPEN}/quarantine", params={"cursor": "A" * 65})
    assert response.status_code == 400


def test_a_cursor_opens_no_closed_quarantine_and_each_page_is_logged(client, engine, runs):
    cursor = quarantine.encode_cursor(2, 0)
    url = f"/api/v1/datasets/{RESTRICTED}/quarantine?limit=500&cursor={cursor}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(engine, "agency", "another-org")).status_code == 403
    assert client.get(f"/api/v1/datasets/{RESTRICTED}/quarantine?cursor=x").status_code == 401
    operator = bearer(engine, "operator", "atmo-demo")
    pages = follow(client, f"/api/v1/datasets/{RESTRICTED}/quarantine?limit=500", operator)
    assert sum(len(p["rows"]) for p in pages) == BAD
    with Session(engine) as session:
        granted = session.exec(
            select(AccessEvent.rows)
            .where(
                AccessEvent.dataset_id == RESTRICTED,
                AccessEvent.outcome == "granted",
                col(AccessEvent.route).contains("quarantine"),
            )
            .order_by(col(AccessEvent.id))
        ).all()
    assert granted == [500, 500, 200]


def test_the_csv_download_streams_every_row_in_row_order(client, engine, runs):
    text = client.get(f"/api/v1/datasets/{OPEN}/quarantine?format=csv").text
    lines = list(csv.DictReader(io.StringIO(text)))
    assert len(lines) == BAD and [int(r["_row"]) for r in lines] == sorted(
        int(r["_row"]) for r in lines
    )
    with Session(engine) as session:
        dataset = catalogue.get(session, OPEN)
        pages = list(
            reading.stream_quarantine(session, dataset, reading.Caller(), runs[OPEN], page=250)
        )
    assert [len(p) for p in pages] == [250] * 4 + [200]
    assert [r.id for p in pages for r in p] == stored_order(engine, runs[OPEN])


def test_quarantine_pages_walk_the_run_row_index(engine, runs):
    seen: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if "FROM quarantinedrow" in statement:
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            catalogue.quarantined(session, OPEN, runs[OPEN], limit=100, after=(500, 10))
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        else:  # a small table: make the planner show what it would do with a large one
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
    text = " ".join(str(part) for line in plan for part in line)
    assert "ix_quarantinedrow_run_row" in text, text
    assert "TEMP B-TREE" not in text and "Sort" not in text.split("Index")[0], text
