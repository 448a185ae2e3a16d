"""The one place that starts Prefect's test harness: a throwaway API server for the session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def prefect_backend():
    """Run every flow test against one temporary Prefect server (started once: ~15 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
