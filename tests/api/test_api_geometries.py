"""A schema's geometry field (`hub.geometry`, a `geojson` field) in the records API: the
GeoJSON Feature's geometry, as the feed draws it, and an object (not JSON text) in JSON records."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from api.support import client_for
from crisisdata import frame, instant
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub import catalogue, events
from hub.catalogue import Batch, Publisher, publish
from hub.models import utcnow

ALERTS = "seychelles-test-warnings"
URL = f"/api/v1/datasets/{ALERTS}/records"
ALDABRA = {
    "type": "Polygon",
    "coordinates": [[[46.2, -9.6], [46.5, -9.6], [46.5, -9.3], [46.2, -9.3], [46.2, -9.6]]],
}


def warning(identifier: str, area: dict | None, lon: str = "", lat: str = "") -> dict[str, str]:
    now = utcnow().replace(microsecond=0)
    return {
        "identifier": identifier,
        "sender": "warnings@meteo.test",
        "sent": instant(now - timedelta(hours=1)),
        "status": "Actual",
        "msgType": "Alert",
        "scope": "Public",
        "info_index": "0",
        "language": "en",
        "category": "Met",
        "event": "Strong winds",
        "urgency": "Expected",
        "severity": "Moderate",
        "certainty": "Likely",
        "headline": f"Warning {identifier}",
        "area": json.dumps(area) if area else "",
        "longitude": lon,
        "latitude": lat,
    }


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    """Two warnings: one over an area (with its centroid as its point), one at a point only."""
    rows = [warning("area-1", ALDABRA, "46.35", "-9.45"), warning("point-1", None, "55.45", "-4.6")]
    publish(
        Batch(
            dataset_id=ALERTS,
            title="Warnings (test)",
            publisher=Publisher("seychelles-meteo", "Météo test"),
            theme="risk",
            schema="risk-alert",
            charter="seychelles-meteo-cap",
            chunks=[frame("risk-alert", rows)],
            description="Warnings for tests.",
            source_url="https://example.org/cap.xml",
        ),
        engine=engine,
    )
    with client_for(engine) as client:
        yield client


def by_identifier(items: list[dict], key=lambda item: item) -> dict[str, dict]:
    return {key(item)["identifier"]: item for item in items}


def test_a_geojson_feature_is_the_schema_geometry_else_the_point(client: TestClient) -> None:
    answer = client.get(URL, params={"format": "geojson"})
    assert answer.status_code == 200, answer.text
    features = by_identifier(answer.json()["features"], lambda f: f["properties"])
    assert features["area-1"]["geometry"] == ALDABRA  # not the centroid's Point
    assert features["point-1"]["geometry"] == {"type": "Point", "coordinates": [55.45, -4.6]}
    # The area is the Feature's geometry; it is not sent a second time among its properties.
    assert "area" not in features["area-1"]["properties"]
    assert features["area-1"]["properties"]["longitude"] == 46.35


def test_geojson_records_and_the_feed_draw_a_record_alike(
    client: TestClient, engine: Engine
) -> None:
    records = client.get(URL).json()["records"]
    features = client.get(URL, params={"format": "geojson"}).json()["features"]
    with engine.connect() as connection:
        shape = catalogue.layout_of_dataset(connection, ALERTS)
    assert [events.geometry_of(r, shape) for r in records] == [f["geometry"] for f in features]


def test_a_geojson_field_is_an_object_in_json_and_json_text_in_csv(client: TestClient) -> None:
    records = by_identifier(client.get(URL).json()["records"])
    assert records["area-1"]["area"] == ALDABRA
    assert records["point-1"]["area"] is None
    text = client.get(URL, params={"format": "csv"}).text
    rows = by_identifier(list(csv.DictReader(io.StringIO(text))))
    assert json.loads(rows["area-1"]["area"]) == ALDABRA
    assert rows["point-1"]["area"] == ""
