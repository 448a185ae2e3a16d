"""The one place that starts Prefect's test harness: a throwaway API server for the session."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_backend():
    """Run every flow test against one temporary Prefect server (started once: ~15 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def migrated_prefect_db(prefect_backend, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the harness's Prefect database, migrated already: a Prefect server that a
    test starts on a copy skips the migrations a fresh one runs (tens of seconds on two busy
    cores). A test of a first start keeps a fresh database."""
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    live = Path(str(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).split(":///", 1)[1])
    snapshot = tmp_path_factory.mktemp("prefect-db") / "prefect.db"
    with (
        contextlib.closing(sqlite3.connect(live)) as source,
        contextlib.closing(sqlite3.connect(snapshot)) as copy,
    ):
        source.backup(copy)  # consistent while the harness's server writes
    return snapshot
