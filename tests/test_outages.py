"""PostgreSQL or Redis restarted under a running hub: 503 (or nothing lost), then recovery.

Private servers on free ports, never the machine's shared ones: other test runs use those.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from flows.processes import free_port

from hub.config import get_settings
from hub.db import reset_engines

WAIT = 60.0


def postgres_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (as the `postgres` user when run as root)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="hub-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                pytest.skip("running as root without runuser: initdb refuses root")
            self.as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres")
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "hub")

    def _run(self, *args: str | None) -> None:
        subprocess.run(
            [*self.as_user, *(a for a in args if a)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    @property
    def url(self) -> str:
        return f"postgresql://hub@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.folder / "log"),
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        """Stop as a crash would (immediate) or cleanly (fast)."""
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (postgres_bin("initdb") and postgres_bin("pg_ctl")):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            [
                *server.as_user,
                str(postgres_bin("pg_ctl")),
                "-D",
                str(server.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(server.folder, ignore_errors=True)


def until(check, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"not within {WAIT:.0f} s: {what}")


def test_a_postgresql_restart_answers_503_then_recovers(private_postgres, monkeypatch):
    from hub.app import create_app

    monkeypatch.setenv("HUB_DATABASE_URL", private_postgres.url)
    get_settings.cache_clear()
    reset_engines()
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/datasets").status_code == 200
        private_postgres.stop()
        for path in ("/api/v1/datasets", "/healthz", "/api/3/action/package_list"):
            started = time.monotonic()
            answer = client.get(path)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["retry-after"] and "Traceback" not in answer.text
            assert time.monotonic() - started < WAIT  # fails fast, does not hang
        assert client.get("/api/3/action/package_list").json()["success"] is False
        private_postgres.start()
        until(lambda: client.get("/api/v1/datasets").status_code == 200, "recovery")
        assert client.get("/healthz").status_code == 200
    reset_engines()


def database_lines(caplog) -> list[logging.LogRecord]:  # type: ignore[no-untyped-def]
    return [r for r in caplog.records if r.name in ("hub.database", "hub.feeds.fanout")]


def test_a_postgresql_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    private_postgres, monkeypatch, caplog
):
    from hub.app import create_app
    from hub.db import get_engine
    from hub.feeds.fanout import Fanout

    monkeypatch.setenv("HUB_DATABASE_URL", private_postgres.url)
    get_settings.cache_clear()
    reset_engines()
    caplog.set_level(logging.WARNING)

    async def follow_through_outage(client: TestClient) -> None:
        feeds = Fanout(get_engine())
        feeds.poll_seconds = 0.05  # many retries during the outage
        await feeds.start()
        try:
            private_postgres.stop()
            for _ in range(5):
                assert client.get("/api/v1/datasets").status_code == 503
            await asyncio.sleep(2)  # some forty failed reads of the event log
            private_postgres.start()
            for _ in range(int(WAIT * 10)):
                if any("answers again" in r.getMessage() for r in database_lines(caplog)):
                    break
                await asyncio.sleep(0.1)
        finally:
            await feeds.stop()

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/datasets").status_code == 200
        asyncio.run(follow_through_outage(client))
        assert client.get("/api/v1/datasets").status_code == 200
    reset_engines()
    lines = database_lines(caplog)
    said = [r.getMessage() for r in lines]
    assert len(said) == 2, said  # no reminder is due within a minute
    assert said[0].startswith("database unavailable") and "answers again" in said[1], said
    assert all(r.exc_info is None for r in lines), said  # no traceback per retry


class PrivateRedis:
    """A throwaway redis-server with no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(shutil.which("redis-server")),
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        until(self.answers, "redis-server up")

    def answers(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_redis_outage_fails_no_harvest_and_the_bus_reconnects(
    private_redis, engine, tmp_path, samples, monkeypatch
):
    from hub.bus import get_bus, reset_bus
    from pipelines.harvesting import harvest_source
    from pipelines.sources import load_source
    from tests.test_faults import source_file

    monkeypatch.setenv("HUB_BUS_URL", private_redis.url)
    get_settings.cache_clear()
    reset_bus()
    bus = get_bus()
    private_redis.stop()
    outcome = harvest_source(load_source(source_file(tmp_path, samples, "while-redis-is-down")))
    assert outcome.status == "succeeded" and outcome.published == 1000  # committed, not undone
    private_redis.start()

    def delivered() -> bool:
        try:
            subscription = bus.subscribe()
        except Exception:  # noqa: BLE001 — still reconnecting
            return False
        try:
            bus.publish({"event": "ping"})
            return subscription.get(timeout=5.0) == {"event": "ping"}
        finally:
            subscription.close()

    until(delivered, "the bus working again through the same client")
    reset_bus()


def test_an_outage_that_goes_on_is_recalled_at_most_once_per_period(caplog):
    from hub.outage import Outage

    caplog.set_level(logging.WARNING)
    lasting = Outage("the store", logging.getLogger("hub.database"), remind=3600)
    for _ in range(50):
        lasting.failed(OSError("connection refused\nfull detail"))
    lasting.remind = 0  # a period has passed
    lasting.failed(OSError("connection refused"))
    lasting.recovered()
    lasting.recovered()
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "the store unavailable: connection refused; retrying",
        "the store still unavailable after 0 s (51 failures): connection refused",
        "the store answers again after 0 s (51 failures during the outage)",
    ]
