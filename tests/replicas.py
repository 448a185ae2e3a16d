"""What the two-replica test and the feeds bench's smoke test share: a private Redis, running
`hub serve` replicas, a server-sent-events client, and two writers (a CKAN push through one
replica's API, and `hub.events.emit` from the test process)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import sqlalchemy as sa
from flows.processes import end, free_port, listening, wait_for
from sqlmodel import Session

from hub import events, tokens
from hub.bus import CHANNEL, RedisBus
from hub.catalogue import Batch, Publisher, publish
from hub.db import get_engine, normalise_url

HUB = Path(sys.executable).with_name("hub")
POSTGRES_URL = os.environ.get("HUB_TEST_DATABASE_URL", "") or "postgresql://127.0.0.1:5432/test"
START_WAIT = 120.0  # readiness guards, not timing assertions
DELIVERY_WAIT = 60.0
DATASET = "replica-air"


def postgres_reachable() -> str:
    """Why PostgreSQL cannot hold the replicas' database, or "" when it can."""
    if not POSTGRES_URL.startswith(("postgresql://", "postgres://")):
        return ""
    try:
        probe = sa.create_engine(normalise_url(POSTGRES_URL), connect_args={"connect_timeout": 3})
        with probe.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        probe.dispose()
    except sa.exc.OperationalError as exc:
        return f"PostgreSQL unreachable at {POSTGRES_URL}: {str(exc).splitlines()[0]}"
    return ""


class PrivateRedis:
    """A `redis-server` of this test alone, on a free port, with nothing saved to disk."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for(lambda: listening(self.port), 30, "private redis-server", self.process)

    def kill(self) -> None:
        if self.process is not None:
            end(self.process)
            self.process = None

    def subscribers(self) -> int:
        """Connections subscribed to the hub's channel (one per replica's feed)."""
        with contextlib.closing(RedisBus(self.url)._client) as client:  # noqa: SLF001
            return int(dict(client.pubsub_numsub(CHANNEL))[CHANNEL.encode()])


@dataclass
class Replica:
    """One running `hub serve`."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Received:
    """One server-sent event."""

    id: int
    kind: str
    data: dict[str, Any]


@contextlib.contextmanager
def stream(replica: Replica, last_id: int | None = None, **filters: str) -> Iterator[Any]:
    """The feed of `replica` (resuming after `last_id`), as an iterator of Received; the
    connection ends with the block."""
    headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
    timeout = httpx.Timeout(10.0, read=DELIVERY_WAIT)  # heartbeats come every 15 s
    with (
        httpx.Client(base_url=replica.url, timeout=timeout, trust_env=False) as client,
        client.stream("GET", "/api/v1/feeds/stream", headers=headers, params=filters) as answer,
    ):
        assert answer.status_code == 200, answer.read().decode()
        assert answer.headers["content-type"].startswith("text/event-stream")
        yield parse(answer.iter_lines())


def parse(lines: Iterator[str]) -> Iterator[Received]:
    """Server-sent events from the lines of a stream (comments and heartbeats skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if "data" in fields:
                yield Received(
                    int(fields["id"]), fields.get("event", "message"), json.loads(fields["data"])
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields[name] = f"{fields[name]}\n{value}" if name in fields else value


def take(events: Iterator[Received], until_id: int) -> list[Received]:
    """Events read until the one with id `until_id` (a read timeout fails the test)."""
    got: list[Received] = []
    for event in events:
        got.append(event)
        if event.id >= until_id:
            return got
    raise AssertionError(f"the stream ended before event {until_id}: got {[e.id for e in got]}")


def logged_after(last_id: int) -> list[int]:
    """Ids the shared log holds after `last_id`, as every replica must send them."""
    with get_engine().connect() as connection:
        return [e.id for e in events.after(connection, last_id, limit=100_000)]


def emit(station: int) -> int:
    """One observation logged by this process (another writer), announced on the bus."""
    return events.emit(
        get_engine(),
        "observation",
        dataset_id=DATASET,
        theme="air-quality",
        payload={
            "geometry": {"type": "Point", "coordinates": [3.88, 43.61]},
            "record": {"station_id": f"R{station:03d}", "value": float(station)},
        },
    )


@dataclass
class ApiWriter:
    """An operator pushing rows through one replica's CKAN datastore actions."""

    replica: Replica
    token: str
    resource_id: str = ""
    minutes: list[int] = field(default_factory=list)

    def action(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.replica.url}/api/3/action/{name}",
            json=body,
            headers={"Authorization": self.token},
            timeout=60,
            trust_env=False,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]

    def push(self, count: int) -> None:
        """`count` new hourly NO2 rows of the last hour (news for the feed)."""
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        start = len(self.minutes)
        self.minutes.extend(range(start, start + count))
        rows = [
            {
                "station_id": "FR-REPLICA-01",
                "station_name": "Replica",
                "pollutant": "no2",
                "value": 20.0 + minute,
                "unit": "µg/m³",
                "averaging_period": "PT1H",
                "observed_at": (now - timedelta(minutes=minute)).isoformat().replace("+00:00", "Z"),
                "longitude": 3.88,
                "latitude": 43.61,
                "quality_flag": "valid",
            }
            for minute in self.minutes[start:]
        ]
        if not self.resource_id:
            self.action("package_create", PACKAGE)
            created = self.action(
                "datastore_create",
                {
                    "resource": {"package_id": PACKAGE["name"]},
                    "schema": "air-quality-observation",
                    "records": rows,
                },
            )
            self.resource_id = created["resource_id"]
        else:
            self.action("datastore_upsert", {"resource_id": self.resource_id, "records": rows})


PACKAGE = {
    "name": "replica-push-montpellier",
    "title": "Pushed NO2, Montpellier",
    "notes": "Hourly NO2 pushed through one replica.",
    "owner_org": "atmo-demo",
    "groups": [{"name": "air-quality"}],
    "extras": [{"key": "charter", "value": "atmo-demo-open"}],
}


def publish_organization() -> None:
    """The operator's organization, as its first harvest makes it."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=30)
    row = {**ROW, "observed_at": now.isoformat().replace("+00:00", "Z")}
    row = {name: row[name] for name in FIELDS}
    frame = pl.DataFrame([row], schema={k: pl.Utf8 for k in row})
    frame = frame.with_columns(pl.Series("_row", [2], dtype=pl.Int64))
    publish(
        Batch(
            dataset_id="replica-history",
            title="NO2, history",
            publisher=Publisher("atmo-demo", "Atmo Démo", "public"),
            theme="air-quality",
            schema="air-quality-observation",
            charter="atmo-demo-open",
            chunks=[frame],
            source_url="file:///history.csv",
        )
    )


FIELDS = ("station_id", "station_name", "pollutant", "value", "unit", "averaging_period")
FIELDS += ("observed_at", "longitude", "latitude", "quality_flag")
ROW = {
    "station_id": "FR-REPLICA-00",
    "station_name": "History",
    "pollutant": "no2",
    "value": "12.5",
    "unit": "µg/m³",
    "averaging_period": "PT1H",
    "longitude": "3.8800",
    "latitude": "43.6100",
    "quality_flag": "valid",
}


def operator_token() -> str:
    with Session(get_engine()) as session:
        return tokens.issue(session, "operator", ["atmo-demo"], "replica test").token
