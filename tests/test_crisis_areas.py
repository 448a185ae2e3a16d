"""A crisis area as its authority draws it: a QGIS export of several features, or a MultiPolygon
whose parts overlap, is merged into one area; a polygon that crosses itself is still refused;
an area outside the territory (longitude and latitude swapped), the whole world or a needle is
declared with a warning that says so (hub.crises.plausibility)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from api.support import bearer, client_for
from shapely.geometry import shape
from typer.testing import CliRunner

from hub import crises
from hub.cli import app
from hub.config import get_settings

VALLEY_A = [[[3.80, 43.55], [3.90, 43.55], [3.90, 43.70], [3.80, 43.70], [3.80, 43.55]]]
VALLEY_B = [[[3.85, 43.60], [3.97, 43.60], [3.97, 43.66], [3.85, 43.66], [3.85, 43.60]]]
MONTPELLIER = [[[3.70, 43.50], [4.05, 43.50], [4.05, 43.75], [3.70, 43.75], [3.70, 43.50]]]
HERAULT = [[[2.54, 43.21], [4.19, 43.21], [4.19, 43.97], [2.54, 43.97], [2.54, 43.21]]]
WORLD = [[[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]]
NEEDLE = [[[3.88, 43.61], [3.8800001, 43.61], [3.88, 43.6100001], [3.88, 43.61]]]


def swapped(rings):
    return [[[lat, lon] for lon, lat in ring] for ring in rings]


def feature(rings):
    return {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "Polygon", "coordinates": rings},
    }


@pytest.fixture
def territory(tmp_path, monkeypatch):
    path = tmp_path / "territory.geojson"
    path.write_text(json.dumps(feature(MONTPELLIER)))
    monkeypatch.setenv("HUB_TERRITORY_FILE", str(path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


NOW = datetime.now(UTC).replace(microsecond=0)
FROM, UNTIL = (NOW - timedelta(hours=1)).isoformat(), (NOW + timedelta(days=2)).isoformat()


def declaration(area) -> dict:
    return {
        "name": "Crue du Lez",
        "area": area,
        "from": FROM,
        "until": UNTIL,
        "cells": ["prefecture-herault-cell"],
    }


def test_several_features_and_overlapping_parts_are_merged(engine, territory):
    collection = {"type": "FeatureCollection", "features": [feature(VALLEY_A), feature(VALLEY_B)]}
    overlapping = {"type": "MultiPolygon", "coordinates": [VALLEY_A, VALLEY_B]}
    expected = shape({"type": "Polygon", "coordinates": VALLEY_A}).union(
        shape({"type": "Polygon", "coordinates": VALLEY_B})
    )
    for area in (collection, overlapping):
        geometry, bbox = crises.areas.parse(area)
        assert shape(geometry).equals(expected) and geometry["type"] == "Polygon"
        assert bbox == pytest.approx((3.80, 43.55, 3.97, 43.70))
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    with pytest.raises(crises.areas.AreaError, match="polygon 2: Self-intersection"):
        crises.areas.parse({"type": "FeatureCollection", "features": [feature(VALLEY_A), bowtie]})


def test_implausible_areas_are_declared_with_a_warning(engine, territory):
    token = bearer(engine, "admin")
    with client_for(engine) as client:

        def warnings(rings) -> list[str]:
            area = {"type": "Polygon", "coordinates": rings}
            answer = client.post("/api/v1/crises", json=declaration(area), headers=token)
            assert answer.status_code == 201, answer.text
            return [w for w in answer.json()["warnings"] if "crisis-cell token" not in w]

        assert warnings(HERAULT) == []  # a département around the territory: as meant
        (outside,) = warnings(swapped(VALLEY_A))
        assert "lies outside the territory" in outside and "swapped" in outside
        world = warnings(WORLD)
        assert any("far wider than the territory" in w for w in world)
        (needle,) = warnings(NEEDLE)
        assert "less than a hectare" in needle


def test_the_cli_says_the_warning_too(engine, territory, tmp_path):
    area = tmp_path / "swapped.geojson"
    area.write_text(json.dumps(feature(swapped(VALLEY_A))))
    result = CliRunner().invoke(
        app,
        [
            "crisis",
            "declare",
            "--name",
            "Crue",
            "--area",
            str(area),
            "--from",
            FROM,
            "--until",
            UNTIL,
            "--cells",
            "prefecture-herault-cell",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "lies outside the territory" in result.output and "swapped" in result.output
