"""A download the client hangs up on logs its end (the rows it sent) as the server sees the
client go, over a real uvicorn server: not whenever the garbage collector reaches its reader."""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import polars as pl
import pytest
from api.subjects import CURVES, GRID, link, world_fixture  # noqa: F401 - the fixture
from api.support import client_for, live_server
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import reading
from hub.catalogue import Batch, Publisher, publish
from hub.models import AccessEvent, AccessSubject
from hub.pseudonyms import pseudonym

WAIT = 30.0  # a readiness bound, never a timing assertion
DAVE = ("30004444444444", "35400")  # a household of many readings
READINGS = 20_000  # more than the buffers hold, zipped too
PAGE = 100
KEPT = 20_000  # bytes the client reads before it hangs up


@pytest.fixture
def long_curve(engine: Engine, world) -> str:
    """Dave's READINGS hourly readings in the world's load curves, and his link to them."""
    world.matching.people[DAVE] = DAVE[0]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "subject_key": DAVE[0],
            "period_start": f"{start + timedelta(hours=h):%Y-%m-%dT%H:%M:%SZ}",
            "period_end": f"{start + timedelta(hours=h + 1):%Y-%m-%dT%H:%M:%SZ}",
            "circuit": "main",
            "quantity": "energy",
            "value": f"{h * 7919 % 100_003 / 1000:.3f}",  # as little to compress as a meter
            "unit": "kWh",
            "quality": "measured",
        }
        for h in range(READINGS)
    ]
    frame = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]})
    frame = frame.with_columns(pl.Series("_row", range(2, 2 + READINGS), dtype=pl.Int64))
    run = publish(
        Batch(
            dataset_id=CURVES,
            title="Household load curves",
            publisher=Publisher(GRID, GRID.title()),
            theme="energy",
            schema="energy-consumption",
            charter="test-curves-charter",
            chunks=[frame],
            source_url="https://example.org/curves.csv",
        ),
        engine=engine,
    )
    assert run.status == "succeeded", run.error
    with client_for(engine) as client:
        assert link(client, world, "carol", CURVES, DAVE).status_code == 201
    return pseudonym(GRID, DAVE[0])


@pytest.fixture
def server(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(reading, "STREAM_PAGE", PAGE)  # a download of many pages
    with live_server(send_buffer=4096) as base:
        yield base


def hang_up_after_the_first_bytes(base: str, path: str, headers: dict[str, str]) -> bytes:
    """GET `path`, read its first KEPT bytes (a page of rows or two), then close the
    connection."""
    parts = urlsplit(base)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(WAIT)
    sock.connect((parts.hostname, parts.port))
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    got = b""
    while len(got) < KEPT:
        got += sock.recv(4096)
    sock.close()
    return got


def entries_of(engine: Engine, route: str, count: int) -> list[AccessEvent]:
    """The access log's entries of `route`, once there are `count` of them."""
    deadline = time.monotonic() + WAIT
    while True:
        with Session(engine) as session:
            found = list(
                session.exec(
                    select(AccessEvent)
                    .where(AccessEvent.route == route)
                    .order_by(col(AccessEvent.id))
                ).all()
            )
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("path", ["records?format=csv", "datapackage.zip"])
def test_a_download_the_client_hangs_up_on_logs_the_rows_it_sent_at_once(
    engine: Engine, world, long_curve: str, server: str, path: str
) -> None:
    gc.disable()  # the end entry must not wait for the collector
    try:
        got = hang_up_after_the_first_bytes(
            server, f"/api/v1/datasets/{CURVES}/{path}", world.headers["carol"]
        )
        assert got.startswith(b"HTTP/1.1 200")
        route = f"GET /api/v1/datasets/{CURVES}/{path.split('?')[0]}"
        logged = entries_of(engine, route, 2)
    finally:
        gc.enable()
    assert [e.rows is None for e in logged] == [True, False], [e.reason for e in logged]
    opened, ended = logged
    assert f"download of entry {opened.id} ended" in ended.reason
    assert PAGE <= (ended.rows or 0) < READINGS  # cut short: some pages went out, not all
    with Session(engine) as session:
        named = session.exec(select(AccessSubject).where(AccessSubject.event_id == ended.id))
        assert [(n.pseudonym, n.rows) for n in named] == [(long_curve, ended.rows)]
