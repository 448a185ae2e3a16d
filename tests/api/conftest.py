"""Fixtures of the API tests: a published catalogue and a client on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api.support import (
    Published,
    built_once,
    client_for,
    publish_catalogue,
    publish_samples,
    use_closed_charters,
)
from fastapi.testclient import TestClient
from sqlalchemy import Engine


@pytest.fixture
def published(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Published:
    """An open dataset with quarantined rows, and one dataset per closed access level."""
    charters = tmp_path / "charters"
    use_closed_charters(charters, monkeypatch)  # the copy below does not write them
    return built_once("catalogue", engine, lambda: publish_catalogue(engine, charters, monkeypatch))


@pytest.fixture
def sampled(engine: Engine, published: Published, samples: Path) -> list[str]:
    """The catalogue above plus two real feeds (OpenAQ, sensor.community)."""
    return publish_samples(engine, samples)


@pytest.fixture
def client(engine: Engine, published: Published) -> Iterator[TestClient]:
    """The app on the published catalogue."""
    with client_for(engine) as client:
        yield client
