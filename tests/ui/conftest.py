"""Fixtures of the UI tests: the published catalogue (synthetic and real feeds) and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api.support import Published, client_for, publish_catalogue, publish_samples
from fastapi.testclient import TestClient
from sqlalchemy import Engine


@pytest.fixture
def published(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, samples: Path
) -> Published:
    """Open and closed synthetic datasets plus the OpenAQ and sensor.community feeds."""
    result = publish_catalogue(engine, tmp_path / "charters", monkeypatch)
    publish_samples(engine, samples)
    return result


@pytest.fixture
def client(engine: Engine, published: Published) -> Iterator[TestClient]:
    """The app on the published catalogue."""
    with client_for(engine) as client:
        yield client
