"""Fixtures: a fresh catalogue per test, on SQLite or on PostgreSQL (HUB_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

# Prefect reads its settings at import: keep tests away from a developer's ~/.prefect and .env.
_PREFECT_HOME = tempfile.mkdtemp(prefix="hub-prefect-")
os.environ.update(
    {
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_API_URL": "",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS": "4",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
    }
)

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from hub.bus import reset_bus  # noqa: E402
from hub.config import get_settings  # noqa: E402
from hub.db import get_engine, make_engine, normalise_url, reset_engines, upgrade  # noqa: E402

TEST_DATABASE_URL = os.environ.get("HUB_TEST_DATABASE_URL", "")


def pytest_report_header() -> str:
    """Say which database the suite runs on."""
    return f"hub database: {TEST_DATABASE_URL or 'SQLite (embedded default)'}"


@pytest.fixture(scope="session")
def samples() -> Path:
    """The shared folder of real sample files (../shared/data or HUB_SAMPLES_DIR)."""
    folder = get_settings().samples_dir
    assert folder.is_dir(), f"sample files not found at {folder} (set HUB_SAMPLES_DIR)"
    return folder


@pytest.fixture(autouse=True)
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data folder and no leftover settings, engines or bus."""
    data_dir = tmp_path / "var"
    monkeypatch.setenv("HUB_DATA_DIR", str(data_dir))
    for name in (
        "HUB_DATABASE_URL",
        "HUB_BUS_URL",
        "HUB_SCHEMAS_PATH",
        "HUB_CHARTERS_PATH",
        "HUB_SOURCES_PATH",
        "HUB_FILE_ROOTS",
        "HUB_FETCH_ALLOW_PRIVATE",
        "HUB_FETCH_TIMEOUT",
        "HUB_FETCH_RETRIES",
        "HUB_FETCH_DEADLINE",
        "HUB_KEEP_DOWNLOADS_DAYS",
        "HUB_PUBLIC_URL",
        "HUB_TILES_URL",
        "HUB_TILES_ATTRIBUTION",
        "HUB_TERRITORY_FILE",
        "HUB_MAX_BODY_BYTES",
        "HUB_HARVEST_CONCURRENCY",
        "HUB_PREFECT_PORT",
        "HUB_MQTT_URL",
        "HUB_MQTT_TOPIC_ROOT",
        "HUB_ALERT_RULES_PATH",
        "HUB_THESAURUS_PATH",
        "HUB_TIMEZONE",
    ):
        monkeypatch.delenv(name, raising=False)
    _reset()
    yield data_dir
    _reset()


def _reset() -> None:
    get_settings.cache_clear()
    reset_engines()
    reset_bus()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of its own."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_url(TEST_DATABASE_URL))
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in TEST_DATABASE_URL else "?"
    yield f"{TEST_DATABASE_URL}{separator}options=-csearch_path%3D{schema}"
    reset_engines()
    with admin.begin() as connection:
        # A test that leaks an open transaction must fail here, not hang the suite.
        connection.execute(sa.text("SET LOCAL lock_timeout = '30s'"))
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite catalogue migrated once per worker: each SQLite test gets a copy of it instead
    of running every migration again (the migrations still run here, for every worker)."""
    path = tmp_path_factory.mktemp("migrated") / "hub.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture
def engine(
    database_url: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Engine:
    """The configured hub engine on a fresh, migrated database."""
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    reset_engines()
    engine = get_engine()
    if engine.dialect.name == "sqlite":
        template = request.getfixturevalue("migrated_sqlite")
        with (
            closing(sqlite3.connect(template)) as source,
            closing(sqlite3.connect(str(engine.url.database))) as copy,
        ):
            source.backup(copy)
        with engine.connect():  # as after a migration: a pooled connection, the settings read
            pass
    else:
        upgrade(engine)
    return engine
