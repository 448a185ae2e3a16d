"""Fixtures of the UI tests: the published catalogue (synthetic and real feeds) and a client."""

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
def published(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, samples: Path
) -> Published:
    """Open and closed synthetic datasets plus the OpenAQ and sensor.community feeds."""
    charters = tmp_path / "charters"
    use_closed_charters(charters, monkeypatch)  # the copy below does not write them

    def build() -> Published:
        result = publish_catalogue(engine, charters, monkeypatch)
        publish_samples(engine, samples)
        return result

    return built_once("catalogue+samples", engine, build)


@pytest.fixture
def client(engine: Engine, published: Published) -> Iterator[TestClient]:
    """The app on the published catalogue."""
    with client_for(engine) as client:
        yield client
