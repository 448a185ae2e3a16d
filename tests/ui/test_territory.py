"""GET /territory.geojson: the territory file, or the hull of the open datasets' extents; the
map settings; the pages' Content-Security-Policy when tiles come from elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from api.support import client_for
from pyproj import Transformer
from sqlmodel import Session, select

from hub.api.headers import SITE_POLICY, tiles_origin
from hub.config import SettingsError, get_settings
from hub.models import Dataset
from hub.ui.territory import (
    TerritoryFileError,
    check_geojson,
    convex_hull,
    map_settings,
    territory_boxes,
)

MONTPELLIER = Path("risk") / "VilleMtp_MTP_SitesHebUrg.geojson"  # Lambert-93, not WGS84


def test_the_outline_is_the_hull_of_the_open_datasets_local_extents(engine, published, client):
    answer = client.get("/territory.geojson")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/geo+json"
    outline = answer.json()
    assert outline["type"] == "Feature" and outline["properties"]["computed"] is True
    with Session(engine) as session:
        rows = session.exec(select(Dataset.id, Dataset.access, Dataset.bbox)).all()
    boxes = {id: bbox for id, access, bbox in rows if access == "open" and bbox}
    closed = [bbox for _, access, bbox in rows if access != "open" and bbox]
    assert len(boxes) == 3 and closed  # Rennes, one place in Toronto, one in Aberdeen
    # three places apart: the widest local extent is the territory, not a hull across oceans
    rennes = boxes["atmo-demo-air"]
    assert outline["properties"]["datasets"] == 1 and outline["bbox"] == rennes
    ring = outline["geometry"]["coordinates"][0]
    assert outline["geometry"]["type"] == "Polygon" and ring[0] == ring[-1]
    assert sorted(map(tuple, ring[:-1])) == sorted(
        (x, y) for x in (rennes[0], rennes[2]) for y in (rennes[1], rennes[3])
    )
    # the search page's example area is the territory's, not a city elsewhere
    home = client.get("/", headers={"Accept-Language": "en"}).text
    assert "For example -1.68,48.08,-1.2,48.3." in home
    bad = client.get("/?bbox=nowhere", headers={"Accept-Language": "en"}).text
    assert "latitudes from -90 to 90). For example -1.68,48.08,-1.2,48.3." in bad


MONTPELLIER_BOXES = [
    [3.7960005, 43.5705004, 3.9116997, 43.6479997],  # stations
    [3.847172, 43.5899111, 3.9309202, 43.6130371],  # shelters
    [3.0, 43.0, 4.04537, 43.72546],  # an inventory around the city
]


def test_global_and_faraway_extents_do_not_make_the_territory():
    world = [-180.0, -90.0, 179.25, 90.0]
    quakes = [-178.0266, -55.214, 153.7169, 68.4407]
    koeln = [[6.9577, 50.947369, 6.9577, 50.947369], [6.833489, 50.845325, 7.004917, 51.019344]]
    everything = [world, quakes, *koeln, *MONTPELLIER_BOXES, [46.39, -9.53, 46.39, -9.53]]
    assert territory_boxes(everything) == MONTPELLIER_BOXES
    # none local: every extent, as before
    assert territory_boxes([world, quakes]) == [world, quakes]
    assert territory_boxes([]) == []


def test_with_no_open_extent_the_outline_has_no_geometry(engine):
    with client_for(engine) as client:
        outline = client.get("/territory.geojson").json()
    assert outline == {
        "type": "Feature",
        "properties": {
            "name": "Territory (computed from the open datasets' extents)",
            "computed": True,
            "datasets": 0,
        },
        "geometry": None,
    }


def test_the_territory_file_is_served_once_checked(engine, samples, tmp_path, monkeypatch):
    # The real Montpellier file, reprojected from Lambert-93 to WGS84 as an operator would.
    collection = json.loads((samples / MONTPELLIER).read_text(encoding="utf-8"))
    to_wgs84 = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    for feature in collection["features"]:
        x, y = feature["geometry"]["coordinates"]
        feature["geometry"]["coordinates"] = [round(v, 6) for v in to_wgs84.transform(x, y)]
    territory = tmp_path / "territory.geojson"
    territory.write_text(json.dumps(collection), encoding="utf-8")
    monkeypatch.setenv("HUB_TERRITORY_FILE", str(territory))
    get_settings.cache_clear()
    with client_for(engine) as client:
        answer = client.get("/territory.geojson")
        home = client.get("/", headers={"Accept-Language": "en"}).text
    assert answer.status_code == 200
    assert answer.json() == collection
    example = re.search(r"For example (-?[\d.]+),(-?[\d.]+),(-?[\d.]+),(-?[\d.]+)\.", home)
    assert example, "no example area"
    west, south, east, north = map(float, example.groups())
    assert 3.7 < west < east < 4.1 and 43.5 < south < north < 43.8  # the file's, Montpellier
    lon, lat = collection["features"][0]["geometry"]["coordinates"]
    assert 3.8 < lon < 4.0 and 43.5 < lat < 43.7  # Montpellier


def test_a_territory_file_in_lambert_93_is_refused_with_the_reason(
    engine, samples, monkeypatch, caplog
):
    monkeypatch.setenv("HUB_TERRITORY_FILE", str(samples / MONTPELLIER))
    get_settings.cache_clear()
    with client_for(engine) as client:
        answer = client.get("/territory.geojson")
    assert answer.status_code == 500
    detail = answer.json()["detail"]
    assert detail.startswith("HUB_TERRITORY_FILE is not usable: feature 1: position (775171")
    assert "WGS84 (EPSG:4326)" in detail
    assert str(samples) not in detail  # the file's path is for the log, not for visitors
    assert str(samples / MONTPELLIER) in caplog.text


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([1, 2], "is not a GeoJSON object"),
        ({"type": "Topology"}, "has type 'Topology'"),
        ({"type": "FeatureCollection"}, "without a `features` list"),
        ({"type": "FeatureCollection", "features": [{"type": "Point"}]}, "feature 1 is not"),
        ({"type": "Feature", "geometry": {"type": "Circle"}}, "'Circle' is no GeoJSON geometry"),
        ({"type": "Polygon", "coordinates": [[1, 2], [3, 4]]}, "coordinates are malformed"),
        ({"type": "Point", "coordinates": [200, 10]}, "position (200, 10) is no longitude"),
        (
            {
                "type": "Point",
                "coordinates": [1, 2],
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
            },
            "declares the CRS urn:ogc:def:crs:EPSG::2154",
        ),
    ],
)
def test_what_is_not_geojson_in_wgs84_is_named(document, reason):
    with pytest.raises(TerritoryFileError) as caught:
        check_geojson(document)
    assert reason in str(caught.value)


def test_a_geometry_collection_and_the_old_crs84_name_are_geojson():
    check_geojson(
        {
            "type": "GeometryCollection",
            "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
            "geometries": [
                {"type": "Point", "coordinates": [-1.68, 48.11]},
                {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
            ],
        }
    )


def test_a_missing_territory_file_stops_the_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("HUB_TERRITORY_FILE", str(tmp_path / "nowhere.geojson"))
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="HUB_TERRITORY_FILE path does not point to a file"):
        get_settings()


def test_the_convex_hull_drops_inner_points_and_keeps_aligned_ends():
    square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)]
    assert convex_hull([*square, (1.0, 1.0), (1.0, 0.0)]) == square
    assert convex_hull([(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]) == [(0.0, 0.0), (2.0, 2.0)]
    assert convex_hull([(5.0, 5.0), (5.0, 5.0)]) == [(5.0, 5.0)]
    assert convex_hull([]) == []


@pytest.mark.parametrize(
    ("template", "origin"),
    [
        ("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", "https://*.tile.openstreetmap.org"),
        ("https://tiles.example.org:8443/{z}/{x}/{y}.png", "https://tiles.example.org:8443"),
        ("/tiles/{z}/{x}/{y}.png", ""),
        ("", ""),
    ],
)
def test_the_tiles_origin_is_what_the_policy_names(template, origin):
    assert tiles_origin(template) == origin


def test_pages_may_load_tiles_from_the_tiles_origin_only(engine, monkeypatch):
    monkeypatch.setenv("HUB_TILES_URL", "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    monkeypatch.setenv("HUB_TILES_ATTRIBUTION", "© Example contributors")
    get_settings.cache_clear()
    assert map_settings() == {
        "tiles": "https://{s}.tile.example.org/{z}/{x}/{y}.png",
        "attribution": "© Example contributors",
    }
    with client_for(engine) as client:
        policy = client.get("/").headers["content-security-policy"]
        docs = client.get("/docs").headers["content-security-policy"]
    assert "img-src 'self' data: https://*.tile.example.org;" in policy
    assert policy.replace(" https://*.tile.example.org", "") == SITE_POLICY
    assert "tile.example.org" not in docs


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("https://tiles.example.org/tile.png", "holding {z}, {x} and {y}"),
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "absolute http(s) url or a path"),
        ("//tiles.example.org/{z}/{x}/{y}.png", "absolute http(s) url or a path"),
        ("https://tiles.{s}.example.org/{z}/{x}/{y}.png", "host's first label only"),
    ],
)
def test_an_unusable_tiles_url_stops_the_settings(monkeypatch, template, reason):
    monkeypatch.setenv("HUB_TILES_URL", template)
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="HUB_TILES_URL") as caught:
        get_settings()
    assert reason in str(caught.value)
