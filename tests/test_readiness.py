"""/readyz: the checks a hub needs to serve, each named; /healthz stays the cheap liveness."""

from __future__ import annotations

import logging
import shutil
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from hub import readiness
from hub.bus import reset_bus
from hub.config import get_settings
from hub.db import get_engine, is_sqlite, reset_engines
from hub.models import AccessEvent

WAIT = 30.0  # for the start's integrity check, run beside the serving (not a timing assert)


def ready(client: TestClient) -> dict:
    deadline = time.monotonic() + WAIT
    while True:
        answer = client.get("/readyz")
        body = answer.json()
        if body["checks"].get("integrity") != readiness.CHECKING or time.monotonic() > deadline:
            return {"status_code": answer.status_code, **body}
        time.sleep(0.1)


def test_a_hub_that_can_serve_is_ready_and_its_probe_leaves_no_access_log_entry(engine):
    from hub.app import create_app

    with TestClient(create_app()) as client:
        answer = ready(client)
        assert answer["status_code"] == 200 and answer["status"] == "ready", answer
        assert answer["checks"]["store"] == "ok"
        assert ("integrity" in answer["checks"]) == is_sqlite(engine)
        assert "bus" not in answer["checks"]  # no HUB_BUS_URL: one process, no bus to reach
        assert client.get("/healthz").status_code == 200
    with Session(engine) as session:
        assert session.exec(select(AccessEvent)).all() == []


def test_a_store_that_refuses_writes_is_not_ready_though_it_is_alive(engine):
    """What a full disk does to the access log, its entries refused (as a trigger refuses them)."""
    from hub.app import create_app

    if not is_sqlite(engine):
        pytest.skip("the refusal is played with a SQLite trigger")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER full BEFORE INSERT ON accessevent "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    with TestClient(create_app()) as client:
        answer = ready(client)
        assert answer["status_code"] == 503 and answer["status"] == "not ready"
        assert answer["checks"]["store"] == "database or disk is full"
        assert client.get("/healthz").status_code == 200  # alive: a restart would mend nothing


def test_a_sqlite_store_on_a_full_disk_is_not_ready(engine, monkeypatch):
    from hub.app import create_app

    if not is_sqlite(engine):
        pytest.skip("a SQLite store's disk")
    with TestClient(create_app()) as client:
        assert ready(client)["checks"]["store"] == "ok"
        full = shutil.disk_usage("/")._replace(free=4096)
        monkeypatch.setattr(readiness.shutil, "disk_usage", lambda _folder: full)
        answer = ready(client)
        assert answer["status_code"] == 503
        assert answer["checks"]["store"].startswith("database or disk is full")


def test_a_corrupt_sqlite_store_is_said_at_start_and_not_ready(engine, caplog):
    from hub.app import create_app

    if not is_sqlite(engine):
        pytest.skip("PostgreSQL checks its own pages")
    with engine.begin() as connection:  # pages enough to damage some in the middle
        connection.exec_driver_sql("CREATE TABLE filler (id INTEGER PRIMARY KEY, text TEXT)")
        connection.exec_driver_sql("CREATE INDEX filler_text ON filler (text)")
        connection.execute(
            sa.text("INSERT INTO filler (text) VALUES (:text)"),
            [{"text": f"row {i} " * 20} for i in range(20_000)],
        )
    reset_engines()  # its last connection closed: the WAL is checkpointed into the file
    path = engine.url.database
    assert path is not None
    with open(path, "r+b") as store:
        size = store.seek(0, 2)
        store.seek(size // 2)
        store.write(b"\xff" * 40_960)  # as the tester damaged a copy
    reset_engines()
    with caplog.at_level(logging.ERROR, "hub.readiness"), TestClient(create_app()) as client:
        answer = ready(client)
        assert answer["status_code"] == 503
        assert answer["checks"]["integrity"] not in (readiness.OK, readiness.CHECKING)
    assert any(
        "failed its integrity check" in r.getMessage() and r.levelno == logging.ERROR
        for r in caplog.records
    )
    reset_engines()


def test_a_redis_bus_that_stops_answering_is_named(engine, monkeypatch):
    from hub.app import create_app
    from tests.test_outages import PrivateRedis

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = PrivateRedis()
    redis.start()
    try:
        monkeypatch.setenv("HUB_BUS_URL", redis.url)
        get_settings.cache_clear()
        reset_bus()
        with TestClient(create_app()) as client:
            assert ready(client)["checks"]["bus"] == "ok"
            redis.stop()
            answer = ready(client)
            assert answer["status_code"] == 503
            assert answer["checks"]["bus"].startswith("Redis does not answer")
            assert answer["checks"]["store"] == "ok"
    finally:
        redis.stop()
        reset_bus()
    get_engine()
