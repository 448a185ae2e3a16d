"""Catalogue contents (published through the real gate) and a live server for API and UI tests."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp

from hub import tokens
from hub.app import create_app
from hub.catalogue import Batch, Publisher, publish
from hub.config import get_settings

FIELDS = [
    "station_id",
    "station_name",
    "pollutant",
    "value",
    "unit",
    "averaging_period",
    "observed_at",
    "longitude",
    "latitude",
    "quality_flag",
]
ATMO = Publisher("atmo-demo", "Atmo Démo")
START = datetime(2026, 3, 1, tzinfo=UTC)
HOURS = 24
# Three stations around Rennes; st-c lies outside the city box the bbox tests use.
STATIONS = {
    "st-a": ("Rennes Centre", "-1.6800", "48.1100"),
    "st-b": ("Rennes Sud", "-1.6000", "48.0800"),
    "st-c": ("Saint-Aubin", "-1.2000", "48.3000"),
}
POLLUTANTS = ("no2", "pm25")
CITY_BOX = "-1.75,48.0,-1.55,48.2"
# Rows the gate must quarantine: a negative value, an unknown pollutant, a date that is no date.
BAD_ROWS = [{"value": "-5"}, {"pollutant": "pm3"}, {"observed_at": "yesterday"}]
VALID_ROWS = len(STATIONS) * len(POLLUTANTS) * HOURS
LEVELS = ("restricted", "personal", "crisis")
T = TypeVar("T")


@dataclass(frozen=True)
class Published:
    """What the fixtures put in the catalogue."""

    open_id: str
    valid_rows: int
    bad_rows: int
    run_id: int
    closed: dict[str, str]  # access level -> dataset id


def observation_rows() -> pl.DataFrame:
    """Hourly NO2 and PM2.5 at three stations, then three invalid rows; `_row` numbers them."""
    rows = []
    for hour in range(HOURS):
        moment = (START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for station, (name, lon, lat) in STATIONS.items():
            for pollutant in POLLUTANTS:
                rows.append(
                    {
                        "station_id": station,
                        "station_name": name,
                        "pollutant": pollutant,
                        "value": f"{10 + hour % 7}.5",
                        "unit": "µg/m³",
                        "averaging_period": "PT1H",
                        "observed_at": moment,
                        "longitude": lon,
                        "latitude": lat,
                        "quality_flag": "unverified",
                    }
                )
    for index, override in enumerate(BAD_ROWS):
        rows.append({**rows[index], "station_id": f"bad-{index}", **override})
    return frame_of(rows)


def frame_of(rows: list[dict[str, str]]) -> pl.DataFrame:
    """Rows as the gate takes them: Utf8 columns named by the schema, `_row` from 2."""
    frame = pl.DataFrame(rows, schema={f: pl.Utf8 for f in FIELDS})
    return frame.with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))


def air_batch(
    dataset_id: str,
    charter: str,
    title: str,
    frame: pl.DataFrame,
    publisher: Publisher = ATMO,
    keywords: list[str] | None = None,
) -> Batch:
    """A batch of air-quality observations."""
    return Batch(
        dataset_id=dataset_id,
        title=title,
        publisher=publisher,
        theme="air-quality",
        schema="air-quality-observation",
        charter=charter,
        chunks=[frame],
        description=f"{title}: hourly concentrations, validated by the hub.",
        source_url="https://example.org/feed.csv",
        keywords=keywords or [],
    )


def energy_mix_batch(dataset_id: str = "rte-mix", hours: int = 3) -> Batch:
    """Hourly national electricity mix under RTE's open charter: records without coordinates."""
    schemas = Path(__file__).resolve().parents[2] / "schemas"
    schema = json.loads((schemas / "energy-mix.schema.json").read_text(encoding="utf-8"))
    names = [f["name"] for f in schema["fields"]]
    rows = [
        {
            **dict.fromkeys(names, ""),
            "perimeter": "France",
            "nature": "consolidated",
            "period_start": (START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "consumption_mw": str(50_000 + hour),
        }
        for hour in range(hours)
    ]
    frame = pl.DataFrame(rows, schema={name: pl.Utf8 for name in names}).with_columns(
        pl.Series("_row", range(2, 2 + hours), dtype=pl.Int64)
    )
    return Batch(
        dataset_id=dataset_id,
        title="Electricity mix, France (RTE)",
        publisher=Publisher("rte", "RTE"),
        theme="energy",
        schema="energy-mix",
        charter="rte-eco2mix-etalab",
        chunks=[frame],
        source_url="https://example.org/eco2mix.csv",
    )


def write_closed_charters(folder: Path) -> None:
    """Charters by Atmo Démo that open nothing: restricted, personal and crisis access."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = {
        "restricted": "restricted_to: [metropole-civil-protection]\ngdpr_sensitive: false\n",
        "crisis": "restricted_to: ['role:crisis-cell']\ngdpr_sensitive: false\n",
        "personal": "gdpr_sensitive: true\npersonal_data:\n  subject_field: station_id\n"
        "  legal_basis: consent\n  matching_data: [station_id]\n"
        "  retention_days: 365\n",
    }
    for level in LEVELS:
        (folder / f"atmo-demo-{level}.yaml").write_text(
            f'id: atmo-demo-{level}\nversion: "2.1"\ntitle: Atmo Démo {level} test charter\n'
            "producer: atmo-demo\nlicence:\n  id: custom\n  label: Agreement for tests\n"
            "  uri: https://example.org/agreement\n"
            f"access: {level}\npurposes: [testing]\n{extra[level]}"
            f'mandatory_mention: "Source: Atmo Démo ({level})"\n'
            'valid_from: "2026-01-01"\nvalid_until: "2030-12-31"\n'
            "themes: [air-quality]\nschemas: [air-quality-observation]\n",
            encoding="utf-8",
        )


def use_closed_charters(charters: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The closed charters written to `charters`, and the hub reading its charters there."""
    write_closed_charters(charters)
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(charters))
    get_settings.cache_clear()


def publish_catalogue(engine: Engine, charters: Path, monkeypatch: pytest.MonkeyPatch) -> Published:
    """One open dataset (with quarantined rows) and one dataset per closed access level."""
    use_closed_charters(charters, monkeypatch)
    run = publish(
        air_batch(
            "atmo-demo-air",
            "atmo-demo-open",
            "Air quality, Rennes (Atmo Démo)",
            observation_rows(),
            keywords=["no2", "pm25", "rennes"],
        ),
        engine=engine,
    )
    closed = {}
    for level in LEVELS:
        dataset_id = f"atmo-demo-{level}-air"
        publish(
            air_batch(
                dataset_id,
                f"atmo-demo-{level}",
                f"Air quality ({level} test)",
                observation_rows(),
                keywords=[level],
            ),
            engine=engine,
        )
        closed[level] = dataset_id
    assert run.id is not None
    return Published("atmo-demo-air", VALID_ROWS, len(BAD_ROWS), run.id, closed)


def openaq_rows(samples: Path) -> pl.DataFrame:
    """The real OpenAQ export of a Toronto PM2.5 sensor, shaped for the schema."""
    raw = pl.read_csv(
        samples / "air" / "openaq_location_3145071_measurements.csv", infer_schema=False
    )
    frame = raw.select(
        pl.col("location_id").alias("station_id"),
        pl.col("location_name").alias("station_name"),
        pl.col("parameter").alias("pollutant"),
        pl.col("value"),
        pl.col("unit"),
        pl.lit("").alias("averaging_period"),
        pl.col("datetimeUtc").alias("observed_at"),
        pl.col("longitude"),
        pl.col("latitude"),
        pl.lit("unverified").alias("quality_flag"),
    )
    return frame.with_columns(pl.Series("_row", range(2, 2 + frame.height), dtype=pl.Int64))


def sensor_community_rows(samples: Path) -> pl.DataFrame:
    """The real sensor.community SDS011 file of Aberdeen: P1 is PM10, P2 is PM2.5, times UTC."""
    raw = pl.read_csv(
        samples / "air" / "2018-12-25_sds011_sensor_15092.csv", separator=";", infer_schema=False
    ).with_row_index("line", offset=2)
    parts = []
    for column, pollutant in (("P1", "pm10"), ("P2", "pm25")):
        parts.append(
            raw.select(
                pl.col("sensor_id").alias("station_id"),
                pl.format("sensor.community {}", pl.col("location")).alias("station_name"),
                pl.lit(pollutant).alias("pollutant"),
                pl.col(column).alias("value"),
                pl.lit("µg/m³").alias("unit"),
                pl.lit("PT2M30S").alias("averaging_period"),
                (pl.col("timestamp") + "Z").alias("observed_at"),
                pl.col("lon").alias("longitude"),
                pl.col("lat").alias("latitude"),
                pl.lit("unverified").alias("quality_flag"),
                pl.col("line").cast(pl.Int64).alias("_row"),
            )
        )
    return pl.concat(parts)


def publish_samples(engine: Engine, samples: Path) -> list[str]:
    """Two real feeds from other operators, under their own open charters."""
    publish(
        air_batch(
            "openaq-toronto-pm25",
            "openaq-cc-by",
            "PM2.5, Toronto (OpenAQ)",
            openaq_rows(samples),
            Publisher("openaq", "OpenAQ"),
            ["pm25", "toronto"],
        ),
        engine=engine,
    )
    publish(
        air_batch(
            "sensor-community-aberdeen",
            "sensor-community-odbl",
            "Particulates, Aberdeen (sensor.community)",
            sensor_community_rows(samples),
            Publisher("sensor-community", "Sensor.Community"),
            ["pm10", "pm25"],
        ),
        engine=engine,
    )
    return ["openaq-toronto-pm25", "sensor-community-aberdeen"]


# Catalogues built once per worker process on SQLite, and kept for a few seconds: (what,
# settings) -> (built at, database file, data folder, result). Each test still gets a database
# and a data folder of its own: a copy. The copy is kept only briefly since pages say how long
# ago a dataset was published ("just now", under a minute).
_BUILT: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, Path, Path, Any]] = {}
_PER_TEST = {"HUB_DATA_DIR", "HUB_DATABASE_URL", "HUB_CHARTERS_PATH"}
KEEP_BUILT_SECONDS = 20.0


def _holds_datasets(database: Path) -> bool:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT EXISTS (SELECT 1 FROM dataset)").fetchone()[0] == 1


def built_once(what: str, engine: Engine, build: Callable[[], T]) -> T:
    """`build()` on the test's fresh, migrated database; on SQLite, a test builds and keeps a copy
    of the database and data folder, and the next ones of the worker (same settings, within
    KEEP_BUILT_SECONDS) get that copy instead of publishing the same batches again."""
    if engine.dialect.name != "sqlite":
        return build()
    settings = tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith("HUB_") and k not in _PER_TEST)
    )
    database = Path(str(engine.url.database))
    data_dir = get_settings().data_dir
    kept = _BUILT.get((what, settings))
    fresh = kept is not None and time.monotonic() - kept[0] < KEEP_BUILT_SECONDS
    if _holds_datasets(database):  # the test's own datasets: neither kept nor overwritten
        return build()
    if kept is None or not fresh or (data_dir.exists() and any(data_dir.iterdir())):
        result = build()
        if not fresh:
            if kept is not None:
                shutil.rmtree(kept[1].parent, ignore_errors=True)
            store = Path(tempfile.mkdtemp(prefix=f"hub-built-{what}-"))
            atexit.register(shutil.rmtree, store, True)
            with (
                closing(sqlite3.connect(database)) as live,
                closing(sqlite3.connect(store / "hub.db")) as copy,
            ):
                live.backup(copy)  # consistent, WAL included
            shutil.copytree(data_dir, store / "var")
            _BUILT[(what, settings)] = (time.monotonic(), store / "hub.db", store / "var", result)
        return result
    _, template, template_dir, result = kept
    engine.dispose()  # no pooled connection sees the file change under it
    with closing(sqlite3.connect(template)) as source, closing(sqlite3.connect(database)) as copy:
        source.backup(copy)
    shutil.copytree(template_dir, data_dir, dirs_exist_ok=True)
    return result


def bearer(
    engine: Engine, role: str, *organizations: str, expires: datetime | None = None
) -> dict[str, str]:
    """Headers carrying a new token of `role` for `organizations`."""
    with Session(engine) as session:
        issued = tokens.issue(session, role, list(organizations), f"test {role}", expires)
    return {"Authorization": f"Bearer {issued.token}"}


@contextmanager
def client_for(engine: Engine) -> Iterator[TestClient]:
    """The app on the test database, lifespan included."""
    with TestClient(create_app()) as client:
        yield client


@contextmanager
def live_server(
    root_path: str = "", app: ASGIApp | None = None, port: int = 0, send_buffer: int | None = None
) -> Iterator[str]:
    """The real app (or `app`) under uvicorn, in a thread, on 127.0.0.1 (a free port unless
    `port`), with uvicorn's `root_path` if given; `send_buffer` sizes its connections' socket
    buffers (Linux's accepted sockets take the listening one's), so a client that stops reading
    holds a response up at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app or create_app(), log_level="warning", root_path=root_path)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a readiness wait, not a timing assertion
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hub did not start under uvicorn")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
