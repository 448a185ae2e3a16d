"""Two replicas share the feed (issue 11 §5): two real `hub serve` processes on one PostgreSQL
database and one Redis (a private `redis-server` this test starts, stops and restarts). An event
written through replica A reaches a stream of replica B; a client that moves from A to B with its
`Last-Event-ID` gets every event once, in order; with Redis down both keep serving and the feeds
find new events by reading the log, and once Redis is back both subscribe again."""

from __future__ import annotations

import logging
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa
from flows.processes import answers, child_env, end, free_port, survivors, wait_for
from flows.processes import descendants as family_of
from replicas import (
    HUB,
    PACKAGE,
    POSTGRES_URL,
    START_WAIT,
    ApiWriter,
    PrivateRedis,
    Replica,
    emit,
    logged_after,
    operator_token,
    postgres_reachable,
    publish_organization,
    stream,
    take,
)

from hub.bus import RedisBus
from hub.config import get_settings
from hub.db import make_engine, normalise_url, reset_engines, upgrade

UNREACHABLE = postgres_reachable()
needs_postgres = pytest.mark.skipif(bool(UNREACHABLE), reason=UNREACHABLE or "-")
pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
    pytest.mark.skipif(
        not shutil.which("redis-server"), reason="needs redis-server (make services)"
    ),
]


# --- the services ------------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def shared_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A PostgreSQL schema of this test, migrated before any replica starts (two replicas
    migrating one empty database at once would race), dropped at the end."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(POSTGRES_URL))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    migrated = make_engine(url)
    upgrade(migrated)
    migrated.dispose()
    try:
        yield url
    finally:
        reset_engines()
        with admin.begin() as connection:
            connection.execute(sa.text("SET LOCAL lock_timeout = '30s'"))
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def replicas(
    tmp_path: Path, shared_database: str, redis_server: PrivateRedis, monkeypatch
) -> Iterator[tuple[Replica, Replica]]:
    """Replicas A and B: each its own data folder and port; one database, one Redis, one key.
    PREFECT_API_URL names the deployment's Prefect server, so neither starts one of its own."""
    key = secrets.token_urlsafe(48)
    started: list[Replica] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            env = child_env(
                HUB_DATA_DIR=str(tmp_path / name / "var"),
                HUB_DATABASE_URL=shared_database,
                HUB_BUS_URL=redis_server.url,
                HUB_SECRET_KEY=key,
                PREFECT_HOME=str(tmp_path / name / "prefect-home"),
                PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api",
            )
            log = tmp_path / f"serve-{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [str(HUB), "serve", "--port", str(port)], env=env, stdout=out, stderr=out
                )
            started.append(Replica(name, process, port, log))
        for replica in started:
            wait_for(
                lambda r=replica: answers(f"{r.url}/healthz"),
                START_WAIT,
                replica.name,
                replica.process,
            )
        # This test process writes too, as a harvester beside the replicas would.
        monkeypatch.setenv("HUB_DATABASE_URL", shared_database)
        monkeypatch.setenv("HUB_BUS_URL", redis_server.url)
        monkeypatch.setenv("HUB_SECRET_KEY", key)
        get_settings.cache_clear()
        reset_engines()
        yield started[0], started[1]
    finally:
        families = {pid: s for r in started for pid, s in family_of(r.process.pid).items()}
        for replica in started:
            end(replica.process)
        assert survivors(families, 30) == [], "a replica left processes behind"


# --- the tests ---------------------------------------------------------------------------------


@needs_postgres
def test_two_replicas_share_the_feed_through_the_log_and_redis(replicas, redis_server):
    """One pair of replicas for the three steps: starting two `hub serve` is the slow part."""
    a, b = replicas
    publish_organization()
    writer = ApiWriter(a, operator_token())
    rows_written_through_a_reach_clients_of_b(a, b, writer)
    a_client_moving_to_the_other_replica_loses_nothing(a, b, writer)
    without_redis_both_serve_and_then_subscribe_again(a, b, writer, redis_server)


def rows_written_through_a_reach_clients_of_b(a: Replica, b: Replica, writer: ApiWriter) -> None:
    """Rows pushed through A's CKAN API are streamed by B, live, filters applied."""
    montpellier = {"bbox": "3.7,43.5,4.0,43.7", "types": "observation"}
    with stream(b) as on_b, stream(b, **montpellier) as filtered:
        marker = emit(0)  # once B's client has it, the stream is live
        assert [e.id for e in take(on_b, marker)] == [marker]
        writer.push(3)
        wanted = logged_after(marker)
        got = take(on_b, wanted[-1])
        observations = [e for e in got if e.kind == "observation"]
        assert [e.id for e in take(filtered, observations[-1].id)] == [
            marker,
            *(e.id for e in observations),
        ]
    assert [e.id for e in got] == wanted
    assert sorted(e.data["record"]["value"] for e in observations) == [20.0, 21.0, 22.0]
    assert {e.data["dataset"] for e in got} == {PACKAGE["name"]}
    assert observations[0].data["geometry"] == {"type": "Point", "coordinates": [3.88, 43.61]}


def a_client_moving_to_the_other_replica_loses_nothing(
    a: Replica, b: Replica, writer: ApiWriter
) -> None:
    """A client of A that reconnects to B with its Last-Event-ID gets each event once, in order."""
    with stream(a) as on_a:
        marker = emit(1)
        take(on_a, marker)
        writer.push(2)
        seen = take(on_a, logged_after(marker)[-1])
    last_seen = seen[-1].id
    # Disconnected: A and this process keep writing.
    writer.push(3)
    emit(2)
    emit(3)
    missed = logged_after(last_seen)
    assert len(missed) >= 5
    with stream(b, last_id=last_seen) as on_b:
        assert [e.id for e in take(on_b, missed[-1])] == missed  # every one, once, in order
        live = emit(4)  # then live, from B
        assert [e.id for e in take(on_b, live)] == [live]


def without_redis_both_serve_and_then_subscribe_again(
    a: Replica, b: Replica, writer: ApiWriter, redis_server: PrivateRedis
) -> None:
    """Redis killed: both replicas serve, their feeds find new events by reading the log;
    Redis back (empty, same port): both subscribe again and wake-ups resume."""
    with stream(a) as on_a, stream(b) as on_b:
        marker = emit(5)
        take(on_a, marker)
        take(on_b, marker)
        wait_for(lambda: redis_server.subscribers() == 2, START_WAIT, "both replicas subscribed")

        redis_server.kill()
        for replica in (a, b):
            assert answers(f"{replica.url}/healthz")
            records = httpx.get(
                f"{replica.url}/api/v1/datasets/{PACKAGE['name']}/records", trust_env=False
            )
            assert records.status_code == 200 and records.json()["records"]
        writer.push(2)  # A's wake-up fails at once: the rows are stored, their events logged
        emit(6)  # so does this process's
        during = logged_after(marker)
        assert [e.id for e in take(on_b, during[-1])] == during
        assert [e.id for e in take(on_a, during[-1])] == during
        with stream(b, last_id=marker) as late:  # a client arriving during the outage
            assert [e.id for e in take(late, during[-1])] == during

        redis_server.start()  # an empty Redis on the same port, as after a restart
        wait_for(lambda: redis_server.subscribers() == 2, START_WAIT, "both replicas back")
        after = emit(7)
        assert [e.id for e in take(on_a, after)] == [after]
        assert [e.id for e in take(on_b, after)] == [after]
    assert "could not announce run" in a.log.read_text()  # the failed wake-up, logged


def test_a_redis_subscription_outlives_a_restart(redis_server, caplog):
    """Killed, then away for longer than a reader's wait: the reader's `get` answers None,
    backing off between tries, and once Redis is back it subscribes again by itself, saying so
    at the outage's level (a server logs warnings only, unless -v)."""
    caplog.set_level(logging.WARNING, logger="hub.bus")
    bus = RedisBus(redis_server.url)
    subscription = bus.subscribe()
    try:
        bus.publish({"n": 1})
        assert subscription.get(10.0) == {"n": 1}
        redis_server.kill()
        away_until = time.monotonic() + 3.0  # long enough for the pause to outgrow a `get`
        while time.monotonic() < away_until:
            assert subscription.get(0.3) is None  # waits, does not raise
        with pytest.raises(redis.ConnectionError):
            bus.publish({"n": 2})  # fails at once: the caller logs it and goes on
        redis_server.start()
        wait_for(
            lambda: subscription.get(0.3) is None and redis_server.subscribers() == 1,
            60,
            "subscribed again",
        )
        bus.publish({"n": 3})
        assert subscription.get(10.0) == {"n": 3}
    finally:
        subscription.close()
    said = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records]
    assert said == [
        ("WARNING", "event bus: Redis unreachable"),
        ("WARNING", "event bus: Redis answers again; subscription restored"),
    ]
