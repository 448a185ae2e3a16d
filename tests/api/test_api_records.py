"""/api/v1/datasets/{id}/records: time and bbox filters, cursor paging, JSON, CSV and GeoJSON."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from api.support import CITY_BOX, FIELDS, HOURS, POLLUTANTS, STATIONS

from hub.api import records as records_api

URL = "/api/v1/datasets/atmo-demo-air/records"


def key(record: dict) -> tuple:
    return record["station_id"], record["pollutant"], record["observed_at"]


def walk(client, url: str) -> list[dict]:
    """Every record, following `next` links."""
    found = []
    while url:
        body = client.get(url).json()
        found += body["records"]
        url = body["next"]
    return found


def test_the_first_page_has_the_default_size_and_an_absolute_next(client):
    body = client.get(URL).json()
    assert len(body["records"]) == 100
    assert set(body["records"][0]) == set(FIELDS)
    assert body["next"].startswith(f"http://testserver{URL}?cursor=")


def test_cursor_paging_walks_every_row_exactly_once_in_time_order(client, published):
    found = walk(client, f"{URL}?limit=7")
    keys = [key(r) for r in found]
    assert len(keys) == published.valid_rows == len(set(keys))
    times = [r["observed_at"] for r in found]
    assert times == sorted(times)
    assert {r["station_id"] for r in found} == set(STATIONS)


def test_a_page_as_large_as_the_data_has_no_next(client, published):
    body = client.get(URL, params={"limit": 10_000}).json()
    assert len(body["records"]) == published.valid_rows and body["next"] is None


def test_records_are_typed(client):
    record = client.get(URL, params={"limit": 1}).json()["records"][0]
    assert isinstance(record["value"], float) and isinstance(record["longitude"], float)
    assert record["observed_at"] == "2026-03-01T00:00:00Z"


def test_from_is_inclusive_and_to_exclusive(client):
    found = walk(client, f"{URL}?from=2026-03-01T05:00:00Z&to=2026-03-01T08:00:00Z&limit=5")
    hours = sorted({r["observed_at"] for r in found})
    assert hours == ["2026-03-01T05:00:00Z", "2026-03-01T06:00:00Z", "2026-03-01T07:00:00Z"]
    assert len(found) == 3 * len(STATIONS) * len(POLLUTANTS)


@pytest.mark.parametrize(
    "start",
    [
        "2026-03-01T05:00:00",
        "2026-03-01T06:00:00+01:00",
        "2026-03-01T06:00:00 01:00",
        "2026-03-01T00:00:00-05:00",
    ],
)
def test_a_naive_time_is_utc_and_zones_are_honoured(client, start):
    # "…06:00:00 01:00" is what "+01:00" becomes when a client forgets to encode the "+"
    found = walk(client, f"{URL}?limit=10000&from={start.replace('+', '%2B')}")
    assert min(r["observed_at"] for r in found) == "2026-03-01T05:00:00Z"
    assert len(found) == (HOURS - 5) * len(STATIONS) * len(POLLUTANTS)


def test_a_date_alone_means_midnight_utc(client):
    found = walk(client, f"{URL}?limit=10000&to=2026-03-02")
    assert len(found) == HOURS * len(STATIONS) * len(POLLUTANTS)
    assert walk(client, f"{URL}?from=2026-03-02") == []


@pytest.mark.parametrize(
    "query, words",
    [
        ("from=yesterday", "from='yesterday' is not an ISO 8601"),
        ("to=2026-13-01T00:00:00Z", "to='2026-13-01T00:00:00Z'"),
        ("from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z", "is after"),
    ],
)
def test_bad_times_are_a_400_that_says_what_to_write(client, query, words):
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert words in response.json()["detail"]


def test_bbox_keeps_only_the_stations_inside(client):
    found = walk(client, f"{URL}?limit=10000&bbox={CITY_BOX}")
    assert {r["station_id"] for r in found} == {"st-a", "st-b"}
    assert len(found) == 2 * len(POLLUTANTS) * HOURS
    both = walk(client, f"{URL}?limit=10000&bbox={CITY_BOX}&from=2026-03-01T23:00:00Z")
    assert {(r["station_id"], r["observed_at"][11:13]) for r in both} == {
        ("st-a", "23"),
        ("st-b", "23"),
    }


@pytest.mark.parametrize(
    "bbox, words",
    [
        ("-1.7,48.0,-1.5", "4 comma-separated numbers"),
        ("a,b,c,d", "only numbers"),
        ("-1.7,48.0,-1.5,95", "outside [-90, 90]"),
        ("-200,48.0,-1.5,48.2", "outside [-180, 180]"),
        ("-1.5,48.3,-1.7,48.0", "greater than maxlat"),
    ],
)
def test_bad_bboxes_are_a_400(client, bbox, words):
    response = client.get(URL, params={"bbox": bbox})
    assert response.status_code == 400
    assert words in response.json()["detail"]


def test_a_bbox_across_the_antimeridian_is_answered_not_refused(client):
    response = client.get(URL, params={"bbox": "170,-10,-170,10"})
    assert response.status_code == 200
    assert response.json()["records"] == []  # every station of this fixture is near Rennes


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(json.dumps(["tomorrow", 3]).encode()).decode(),
        "%%%",
    ],
)
def test_a_forged_cursor_is_a_400(client, cursor):
    response = client.get(URL, params={"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


@pytest.mark.parametrize("limit", [0, -1, 10_001])
def test_limit_is_bounded(client, limit):
    response = client.get(URL, params={"limit": limit})
    assert response.status_code == 400
    assert "between 1 and 10000" in response.json()["detail"]


def test_a_bad_format_is_refused(client):
    assert client.get(URL, params={"format": "xlsx"}).status_code == 422


def test_csv_streams_every_matching_row_across_pages(client, published, monkeypatch):
    monkeypatch.setattr(records_api, "CSV_PAGE", 10)  # force many pages from few rows
    response = client.get(URL, params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "atmo-demo-air.csv" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert list(table[0]) == FIELDS
    assert len(table) == published.valid_rows == len({key(r) for r in table})
    assert table[0]["observed_at"] == "2026-03-01T00:00:00Z" and table[0]["value"] == "10.5"


def test_csv_honours_filters_and_an_explicit_limit(client, monkeypatch):
    monkeypatch.setattr(records_api, "CSV_PAGE", 4)
    filtered = client.get(
        URL, params={"format": "csv", "bbox": CITY_BOX, "from": "2026-03-01T12:00:00Z"}
    )
    rows = list(csv.DictReader(io.StringIO(filtered.text)))
    assert len(rows) == 2 * len(POLLUTANTS) * (HOURS - 12)
    assert {r["station_id"] for r in rows} == {"st-a", "st-b"}
    capped = client.get(URL, params={"format": "csv", "limit": 9})
    assert len(list(csv.DictReader(io.StringIO(capped.text)))) == 9


def test_csv_refuses_bad_input_before_streaming(client):
    assert client.get(URL, params={"format": "csv", "from": "soon"}).status_code == 400
    assert client.get(URL, params={"format": "csv", "cursor": "forged"}).status_code == 400


def test_geojson_is_a_feature_collection_of_points(client):
    response = client.get(URL, params={"format": "geojson", "limit": 6, "bbox": CITY_BOX})
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 6
    for feature in body["features"]:
        props = feature["properties"]
        assert feature["type"] == "Feature"
        assert feature["geometry"] == {
            "type": "Point",
            "coordinates": [props["longitude"], props["latitude"]],
        }
        assert set(props) == set(FIELDS)
    assert "format=geojson" in body["next"] and "cursor=" in body["next"]
    following = client.get(body["next"]).json()
    assert following["type"] == "FeatureCollection"
    firsts = {json.dumps(f["properties"], sort_keys=True) for f in body["features"]}
    assert not firsts & {json.dumps(f["properties"], sort_keys=True) for f in following["features"]}
