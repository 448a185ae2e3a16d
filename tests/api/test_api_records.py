"""/api/v1/datasets/{id}/records: time and bbox filters, cursor paging, JSON, CSV and GeoJSON."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from api.support import (
    CITY_BOX,
    FIELDS,
    HOURS,
    POLLUTANTS,
    STATIONS,
    air_batch,
    bearer,
    frame_of,
    observation_rows,
)
from sqlmodel import Session, select

from hub import reading, tokens
from hub.catalogue import Batch, Publisher, publish
from hub.config import PROJECT_ROOT, get_settings
from hub.models import AccessEvent, SubjectLink
from hub.pseudonyms import pseudonym
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source

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
    assert client.get(URL, params={"format": "xls"}).status_code == 400


def test_csv_streams_every_matching_row_across_pages(client, published, monkeypatch):
    monkeypatch.setattr(reading, "STREAM_PAGE", 10)  # force many pages from few rows
    response = client.get(URL, params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "atmo-demo-air.csv" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert list(table[0]) == FIELDS
    assert len(table) == published.valid_rows == len({key(r) for r in table})
    assert table[0]["observed_at"] == "2026-03-01T00:00:00Z" and table[0]["value"] == "10.5"


def test_csv_honours_filters_and_an_explicit_limit(client, monkeypatch):
    monkeypatch.setattr(reading, "STREAM_PAGE", 4)
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


# --- field filters ----------------------------------------------------------------------------


def everything(client) -> list[dict]:
    return client.get(URL, params={"limit": 10_000}).json()["records"]


def test_a_field_filter_keeps_only_matching_rows_the_issue_case(client):
    # `?station_id=X` used to be ignored and return every station
    found = walk(client, f"{URL}?station_id=st-a&limit=7")
    assert {r["station_id"] for r in found} == {"st-a"}
    assert len(found) == len(POLLUTANTS) * HOURS
    assert client.get(URL, params={"station_id": "nowhere"}).json()["records"] == []


def test_several_values_comma_separated_or_repeated_mean_any_of_them(client):
    listed = walk(client, f"{URL}?station_id=st-a,st-c&limit=10000")
    repeated = walk(client, f"{URL}?station_id=st-a&station_id=st-c&limit=10000")
    assert listed == repeated
    assert {r["station_id"] for r in listed} == {"st-a", "st-c"}
    assert len(listed) == 2 * len(POLLUTANTS) * HOURS


def test_bounds_and_negations_are_typed_by_the_schema(client):
    rows = everything(client)
    # number: 10.5 … 16.5 by hour; a text comparison would put "9" after "16.5"
    high = walk(client, f"{URL}?value__gte=14.5&limit=10000")
    assert sorted(key(r) for r in high) == sorted(key(r) for r in rows if r["value"] >= 14.5)
    assert {r["value"] for r in walk(client, f"{URL}?value__gt=15.5&value__lt=16.6&limit=50")} == {
        16.5
    }
    # datetime, with a zone: the bound is compared as an instant
    early = walk(client, f"{URL}?observed_at__lt=2026-03-01T07:00:00%2B02:00&limit=10000")
    assert {r["observed_at"] for r in early} == {f"2026-03-01T0{h}:00:00Z" for h in range(5)}
    late = walk(client, f"{URL}?observed_at__gte=2026-03-01T20:00:00Z&limit=10000")
    assert len(late) == 4 * len(STATIONS) * len(POLLUTANTS)
    assert walk(client, f"{URL}?observed_at__lte=2026-03-01T00:00:00Z&limit=100") == [
        r for r in rows if r["observed_at"] == "2026-03-01T00:00:00Z"
    ]
    others = walk(client, f"{URL}?pollutant__ne=no2&station_id__ne=st-a,st-b&limit=10000")
    assert {(r["pollutant"], r["station_id"]) for r in others} == {("pm25", "st-c")}
    assert len(walk(client, f"{URL}?quality_flag__null=false&limit=10000")) == len(rows)
    assert walk(client, f"{URL}?quality_flag__null=true") == []
    # `__eq` spells equality too; an escaped comma stays inside the value
    assert walk(client, f"{URL}?pollutant__eq=pm25&limit=10000") == [
        r for r in rows if r["pollutant"] == "pm25"
    ]
    assert client.get(URL, params={"station_name": "Rennes\\, Centre"}).json()["records"] == []


def test_words_are_found_inside_fields_or_anywhere(client):
    rows = everything(client)
    found = walk(client, f"{URL}?station_id__contains=ST-A&limit=10000")
    assert found == [r for r in rows if r["station_id"] == "st-a"]
    anywhere = walk(client, f"{URL}?q=pm25+st-c&limit=10000")
    assert anywhere == [r for r in rows if (r["pollutant"], r["station_id"]) == ("pm25", "st-c")]
    assert walk(client, f"{URL}?q=st-%25&limit=10") == []  # % is a character, not a wildcard
    refused = client.get(URL, params={"q": " "})
    assert refused.status_code == 400 and "q" in refused.text


def test_filters_combine_with_time_bbox_paging_and_every_format(client, monkeypatch):
    monkeypatch.setattr(reading, "STREAM_PAGE", 5)
    query = f"bbox={CITY_BOX}&from=2026-03-01T10:00:00Z&pollutant=no2&value__lte=13.5"
    found = walk(client, f"{URL}?{query}&limit=3")
    expected = [
        r
        for r in everything(client)
        if r["station_id"] in ("st-a", "st-b")
        and r["observed_at"] >= "2026-03-01T10:00:00Z"
        and r["pollutant"] == "no2"
        and r["value"] <= 13.5
    ]
    assert found == expected and found
    table = list(csv.DictReader(io.StringIO(client.get(f"{URL}?{query}&format=csv").text)))
    assert [r["station_id"] for r in table] == [r["station_id"] for r in expected]
    features = client.get(f"{URL}?{query}&format=geojson&limit=10000").json()["features"]
    assert [f["properties"] for f in features] == expected


@pytest.mark.parametrize(
    "query, words",
    [
        ("station=st-a", "unknown parameter 'station'"),
        ("value__between=1", "unknown parameter 'value__between'"),
        ("Station_id=st-a", "unknown parameter 'Station_id'"),
        ("value__gte=abc", "value__gte='abc' is not a finite number"),
        ("value=nan", "value='nan' is not a finite number"),
        ("value=1e999", "value='1e999' is not a finite number"),
        ("observed_at=yesterday", "observed_at='yesterday' is not an ISO 8601"),
        ("observed_at__gt=2026-03-01T00:00:00Z,2026-03-02", "a bound takes one value"),
        ("station_id=", "station_id='' needs a value"),
        ("station_id=a,,b", "needs a value"),
        ("quality_flag__null=maybe", "must be true"),
        ("observed_at__gte=9999-12-31T23:59:59-01:00", "is not an ISO 8601"),
        ("from=0001-01-01T00:00:00%2B01:00", "is not an ISO 8601"),
        ("station_id=" + ",".join(["x"] * 1001), "at most 1000 filter values"),
        ("&".join(["station_id=x"] * 51), "at most 50 filter parameters"),
        ("sort=colour", "'colour' is not a field"),
        ("sort=value,-value", "names 'value' twice"),
        ("sort=a,b,c,d", "is not a field"),
        ("total=perhaps", ""),
    ],
)
def test_bad_filters_and_sorts_are_a_4xx_naming_them(client, query, words):
    for fmt in ("json", "csv", "geojson"):
        response = client.get(f"{URL}?{query}&format={fmt}")
        assert response.status_code == 400, (query, fmt, response.text)
        assert words in response.text, (query, fmt)


def test_an_unknown_parameter_says_what_the_route_takes(client):
    detail = client.get(URL, params={"stationid": "st-a"}).json()["detail"]
    assert "'stationid'" in detail and "station_id" in detail and "__gte" in detail
    assert "from" in detail and "sort" in detail


# --- sort ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "size"), [("sort", 300), ("value__gte", 50_000), ("observed_at__lt", 50_000)]
)
def test_a_long_bad_value_is_quoted_cut_short(client, query, size):
    """A filter value of 50 kB was answered back whole in the 400 (sort takes 300 characters)."""
    response = client.get(URL, params={query: "x" * size})
    assert response.status_code == 400 and len(response.content) < 1_000, response.text[:300]
    assert "x" * 100 + "…" in response.json()["detail"]


def test_sort_descending_time_walks_every_row_once_newest_first(client, published):
    found = walk(client, f"{URL}?sort=-observed_at&limit=7")
    assert len(found) == published.valid_rows == len({key(r) for r in found})
    times = [r["observed_at"] for r in found]
    assert times == sorted(times, reverse=True)
    # the exact reverse of the default order (ties by insertion, reversed)
    assert found == list(reversed(walk(client, f"{URL}?limit=10000")))


@pytest.mark.parametrize("sort", ["value", "-value", "station_id,-value", "-pollutant,value"])
def test_sorted_pages_with_ties_neither_skip_nor_repeat_rows(client, published, sort):
    # 144 rows share 7 values: most pages end inside a run of ties
    found = walk(client, f"{URL}?sort={sort}&limit=5")
    assert len(found) == published.valid_rows == len({key(r) for r in found})
    keys = []
    for part in sort.split(","):
        name = part.lstrip("-")
        keys.append((name, part.startswith("-")))
    for earlier, later in zip(found, found[1:], strict=False):
        for name, descending in keys:
            a, b = earlier[name], later[name]
            if a != b:
                assert (a > b) if descending else (a < b), (sort, earlier, later)
                break


def test_sort_combines_with_filters_and_csv(client, monkeypatch):
    monkeypatch.setattr(reading, "STREAM_PAGE", 4)
    paged = walk(client, f"{URL}?sort=-value&station_id=st-b&pollutant=pm25&limit=4")
    assert [r["value"] for r in paged] == sorted((r["value"] for r in paged), reverse=True)
    assert len(paged) == HOURS
    table = client.get(f"{URL}?sort=-value&station_id=st-b&pollutant=pm25&format=csv").text
    assert [float(r["value"]) for r in csv.DictReader(io.StringIO(table))] == [
        r["value"] for r in paged
    ]


def test_sort_by_the_time_field_is_the_default_order(client):
    default, spelled = client.get(URL).json(), client.get(URL, params={"sort": "observed_at"})
    assert spelled.json()["records"] == default["records"]
    assert spelled.json()["next"].split("cursor=")[1] == default["next"].split("cursor=")[1]


def test_a_cursor_belongs_to_its_sort(client):
    by_value = client.get(URL, params={"sort": "value", "limit": 3}).json()["next"]
    cursor = by_value.split("cursor=")[1]
    for other in ({"sort": "-value"}, {}, {"sort": "station_id"}):
        response = client.get(URL, params={**other, "cursor": cursor})
        assert response.status_code == 400 and "cursor" in response.json()["detail"]
    default_cursor = client.get(URL, params={"limit": 3}).json()["next"].split("cursor=")[1]
    assert client.get(URL, params={"sort": "value", "cursor": default_cursor}).status_code == 400


@pytest.mark.parametrize(
    "sort, position",
    [
        ("value", ["value", ["high"], 3]),
        ("value", ["value", [1.5, 2.5], 3]),
        ("value", ["value", [1.5], True]),
        ("value", ["value", [1.5], 2**40]),
        ("value", ["value", 1.5, 3]),
        ("value", ["-value", [1.5], 3]),  # a cursor of another order
        ("value", ["value", [10**400], 3]),
        ("station_id", ["station_id", ["st-a\u0000"], 3]),  # PostgreSQL refuses a NUL: a 500
        ("station_id", ["station_id", [7], 3]),
        ("observed_at,value", ["observed_at,value", ["2026-13-01T00:00:00Z", 1.0], 3]),
        ("observed_at,value", ["observed_at,value", [[], 1.0], 3]),
    ],
)
def test_a_forged_sorted_cursor_is_a_400(client, sort, position):
    cursor = base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
    response = client.get(URL, params={"sort": sort, "cursor": cursor})
    assert response.status_code == 400 and "invalid cursor" in response.json()["detail"]


def test_empty_cells_sort_first_going_up_and_last_going_down(engine, published, client):
    rows = observation_rows().drop("_row").head(30).to_dicts()
    for index, row in enumerate(rows):
        row["station_id"] = f"s{index:02d}"
        row["station_name"] = "" if index % 3 == 0 else f"name {index % 4}"
    publish(air_batch("gaps", "atmo-demo-open", "Gaps", frame_of(rows)), engine=engine)
    url = "/api/v1/datasets/gaps/records"
    up = walk(client, f"{url}?sort=station_name&limit=4")
    down = walk(client, f"{url}?sort=-station_name&limit=4")
    assert len(up) == len(down) == 30 == len({r["station_id"] for r in up})
    names = [r["station_name"] for r in up]
    assert names[:10] == [None] * 10 and names[10:] == sorted(names[10:])
    assert down == list(reversed(up))


# --- total --------------------------------------------------------------------------------------


def test_total_counts_every_matching_row_on_request_only(client):
    plain = client.get(URL, params={"limit": 5})
    assert "total" not in plain.json() and "X-Total-Count" not in plain.headers
    counted = client.get(URL, params={"limit": 5, "total": "true", "station_id": "st-c"})
    assert counted.json()["total"] == len(POLLUTANTS) * HOURS
    assert counted.headers["X-Total-Count"] == str(len(POLLUTANTS) * HOURS)
    following = client.get(counted.json()["next"]).json()
    assert following["total"] == len(POLLUTANTS) * HOURS  # the next link keeps asking
    geo = client.get(URL, params={"format": "geojson", "total": "true", "bbox": CITY_BOX}).json()
    assert geo["total"] == 2 * len(POLLUTANTS) * HOURS
    none = client.get(URL, params={"total": "true", "station_id": "nowhere"}).json()
    assert none == {"records": [], "next": None, "total": 0}


def test_a_csv_page_carries_its_total_and_next_as_json_does(client, published):
    url = f"{URL}?format=csv&limit=50&total=true&station_id=st-a,st-b"
    first = client.get(url)
    assert first.headers["X-Total-Count"] == str(2 * len(POLLUTANTS) * HOURS)
    following = client.get(url.replace("format=csv", "format=json")).json()["next"]
    assert (
        first.headers["Link"] == f'<{following.replace("format=json", "format=csv")}>; rel="next"'
    )
    rows, response = [], first
    while True:  # follow each page's Link to the end
        rows += list(csv.DictReader(io.StringIO(response.text)))
        if "Link" not in response.headers:
            break
        response = client.get(response.headers["Link"].removeprefix("<").split(">;")[0])
        assert response.headers["X-Total-Count"] == first.headers["X-Total-Count"]
    assert [key(r) for r in rows] == [key(r) for r in walk(client, url.replace("csv", "json"))]
    assert len(rows) == 2 * len(POLLUTANTS) * HOURS == len({key(r) for r in rows})
    whole = client.get(URL, params={"format": "csv", "total": "true"})  # one download: no next
    assert whole.headers["X-Total-Count"] == str(published.valid_rows)
    assert "Link" not in whole.headers
    json_page = client.get(URL, params={"limit": 5})
    assert json_page.headers["Link"] == f'<{json_page.json()["next"]}>; rel="next"'


# --- personal rows: filters narrow inside the grant, never beyond it ----------------------------


def load_curve_rows(subject_keys: list[str], hours: int = 6) -> pl.DataFrame:
    """Hourly energy of each subject's main circuit."""
    rows = []
    for subject in subject_keys:
        for hour in range(hours):
            start = datetime(2026, 3, 1, hour, tzinfo=UTC)
            rows.append(
                {
                    "subject_key": subject,
                    "period_start": f"{start:%Y-%m-%dT%H:%M:%SZ}",
                    "period_end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
                    "circuit": "main",
                    "quantity": "energy",
                    "value": f"{hour + len(subject) / 10:.1f}",
                    "unit": "kWh",
                    "quality": "measured",
                }
            )
    frame = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]})
    return frame.with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))


ALICE, BOB = "alice-meter-01", "bob-meter-0002"
CURVES = "/api/v1/datasets/household-load-curves"


def publish_load_curves(engine) -> str:
    """The bundled personal charter's load curves of two households."""
    run = publish(
        Batch(
            dataset_id="household-load-curves",
            title="Household load curves",
            publisher=Publisher("grid-demo", "Grid Demo"),
            theme="energy",
            schema="energy-consumption",
            charter="grid-demo-load-curves",
            chunks=[load_curve_rows([ALICE, BOB])],
            description="Load curves, each household's for itself.",
            source_url="https://example.org/curves.csv",
        ),
        engine=engine,
    )
    assert run.status == "succeeded"
    return "household-load-curves"


def keyed(key: str) -> str:
    """The pseudonym the gate stores for a household's key (hub.pseudonyms)."""
    return pseudonym("grid-demo", key)


@pytest.fixture
def subjects(engine, published) -> dict[str, dict[str, str]]:
    """Load curves, and subject tokens linked to their own household's rows, as the operator's
    matching service links them (hub.selfdata.links keeps only the key's pseudonym)."""
    publish_load_curves(engine)
    headers = {}
    with Session(engine) as session:
        for who, key in (("alice", ALICE), ("bob", BOB)):
            issued = tokens.issue(session, "subject", [], who)
            session.add(
                SubjectLink(
                    id=f"ln-{who}",
                    account=issued.row.account or "",
                    producer="grid-demo",
                    dataset_id="household-load-curves",
                    pseudonym=keyed(key),
                )
            )
            session.commit()
            headers[who] = {"Authorization": f"Bearer {issued.token}"}
    return headers


def test_a_subject_reads_only_their_rows_whatever_they_filter_on(client, subjects, engine):
    alice = subjects["alice"]
    own = walk_as(client, f"{CURVES}/records?limit=2", alice)
    assert len(own) == 6 and {r["subject_key"] for r in own} == {keyed(ALICE)}
    attempts = [
        f"subject_key={keyed(BOB)}",
        f"subject_key={keyed(ALICE)},{keyed(BOB)}",
        f"subject_key={keyed(BOB)}&subject_key={keyed(ALICE)}",
        f"subject_key__ne={keyed(ALICE)}",
        f"subject_key__gte={keyed(BOB)}",
        "subject_key__gt=",
        "subject_key__null=false",
        "sort=-subject_key",
        f"subject_key__lt={keyed(BOB)}&sort=subject_key",
        "circuit=main&quantity=energy",
        f"q={keyed(BOB)[3:]}",
        f"subject_key__contains={keyed(BOB)[3:]}",
        "q=ps-",
    ]
    for query in attempts:
        response = client.get(f"{CURVES}/records?{query}&total=true&limit=100", headers=alice)
        if response.status_code == 400:
            continue  # a malformed attempt: refused, nothing read
        body = response.json()
        assert {r["subject_key"] for r in body["records"]} <= {keyed(ALICE)}, query
        assert body["total"] == len(body["records"]) <= 6, query
    # a cursor forged with the other subject's position places nothing of theirs
    forged = base64.urlsafe_b64encode(
        json.dumps(["subject_key", [keyed(BOB)], 0]).encode()
    ).decode()
    body = client.get(
        f"{CURVES}/records", params={"sort": "subject_key", "cursor": forged}, headers=alice
    ).json()
    assert {r["subject_key"] for r in body["records"]} <= {keyed(ALICE)}
    # the same filter gives the other subject their own rows, and nobody else's
    bob_rows = walk_as(
        client, f"{CURVES}/records?subject_key={keyed(BOB)}&limit=4", subjects["bob"]
    )
    assert len(bob_rows) == 6 and {r["subject_key"] for r in bob_rows} == {keyed(BOB)}
    assert walk_as(client, f"{CURVES}/records?subject_key={keyed(ALICE)}", subjects["bob"]) == []


def test_anonymous_callers_of_personal_rows_get_401_whatever_they_ask(client, subjects):
    for query in (
        "",
        f"?subject_key={keyed(ALICE)}",
        "?total=true",
        "?sort=value&format=csv",
        f"?subject_key__ne={keyed(ALICE)}&format=geojson",
        "?nonsense=1",
    ):
        response = client.get(f"{CURVES}/records{query}")
        assert response.status_code == 401, query
        assert "WWW-Authenticate" in response.headers
        for key in (ALICE, BOB, keyed(ALICE), keyed(BOB)):
            assert key not in response.text


def walk_as(client, url: str, headers: dict[str, str]) -> list[dict]:
    found = []
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        found += response.json()["records"]
        url = response.json()["next"]
    return found


# --- ETags ---------------------------------------------------------------------------------------


def test_records_carry_a_weak_etag_and_answer_304_when_it_matches(client):
    first = client.get(URL, params={"station_id": "st-a", "limit": 5})
    tag = first.headers["ETag"]
    assert (
        tag.startswith('W/"')
        and first.headers["Vary"] == "Authorization, Origin, Accept-Encoding, Cookie"
    )
    again = client.get(
        URL, params={"station_id": "st-a", "limit": 5}, headers={"If-None-Match": tag}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == tag and again.headers["Vary"] == "Authorization, Origin, Cookie"
    # strong or weak, listed among others: compared weakly
    listed = client.get(
        URL,
        params={"station_id": "st-a", "limit": 5},
        headers={"If-None-Match": f'"other", {tag.removeprefix("W/")}'},
    )
    assert listed.status_code == 304
    other = client.get(
        URL, params={"station_id": "st-b", "limit": 5}, headers={"If-None-Match": tag}
    )
    assert other.status_code == 200 and other.headers["ETag"] != tag
    geo = client.get(URL, params={"station_id": "st-a", "limit": 5, "format": "geojson"})
    assert geo.headers["ETag"] not in (tag, other.headers["ETag"])
    assert (
        client.get(
            URL,
            params={"station_id": "st-a", "limit": 5, "format": "geojson"},
            headers={"If-None-Match": geo.headers["ETag"]},
        ).status_code
        == 304
    )


def test_csv_downloads_carry_an_etag_too(client):
    first = client.get(URL, params={"format": "csv"})
    tag = first.headers["ETag"]
    again = client.get(URL, params={"format": "csv"}, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""


def test_a_new_batch_changes_the_etag(client, engine):
    tag = client.get(URL).headers["ETag"]
    rows = observation_rows().drop("_row").head(1).to_dicts()
    rows[0]["value"] = "99.5"  # a corrected value replaces the old one
    publish(
        air_batch(
            "atmo-demo-air", "atmo-demo-open", "Air quality, Rennes (Atmo Démo)", frame_of(rows)
        ),
        engine=engine,
    )
    changed = client.get(URL, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert changed.json()["records"][0]["value"] == 99.5


def test_callers_with_other_grants_never_share_an_etag(client, subjects, engine, published):
    alice, bob = subjects["alice"], subjects["bob"]
    url = f"{CURVES}/records"
    alice_tag = client.get(url, headers=alice).headers["ETag"]
    bob_answer = client.get(url, headers={**bob, "If-None-Match": alice_tag})
    assert bob_answer.status_code == 200 and bob_answer.headers["ETag"] != alice_tag
    assert {r["subject_key"] for r in bob_answer.json()["records"]} == {keyed(BOB)}
    assert bob_answer.headers["Cache-Control"] == "private, no-store"
    # no token, no 304: the grant comes first
    assert client.get(url, headers={"If-None-Match": alice_tag}).status_code == 401
    assert client.get(url, headers={"If-None-Match": "*"}).status_code == 401
    # a 304 of personal rows is a read, and logged as one
    assert client.get(url, headers={**alice, "If-None-Match": alice_tag}).status_code == 304
    with Session(engine) as session:
        last = session.exec(
            select(AccessEvent)
            .where(AccessEvent.dataset_id == "household-load-curves")
            .order_by(AccessEvent.id.desc())
        ).first()
    assert last.outcome == "granted" and last.rows == 0 and "304" in last.reason


def test_a_restricted_etag_is_no_key_for_outsiders(client, engine, published):
    restricted = f"/api/v1/datasets/{published.closed['restricted']}/records"
    member = bearer(engine, "agency", "metropole-civil-protection")
    tag = client.get(restricted, headers=member).headers["ETag"]
    assert client.get(restricted, headers={**member, "If-None-Match": tag}).status_code == 304
    outsider = bearer(engine, "agency", "elsewhere")
    assert client.get(restricted, headers={**outsider, "If-None-Match": tag}).status_code == 403
    assert client.get(restricted, headers={"If-None-Match": tag}).status_code == 401


def test_the_dataset_detail_has_an_etag_per_view(client, engine, published):
    url = f"/api/v1/datasets/{published.closed['restricted']}"
    public = client.get(url)
    tag = public.headers["ETag"]
    assert public.headers["Vary"] == "Authorization, Origin, Accept-Encoding, Cookie"
    assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
    operator = bearer(engine, "operator", "atmo-demo")
    full = client.get(url, headers={**operator, "If-None-Match": tag})
    # the producer sees the counts the public view withholds: another representation
    assert full.status_code == 200 and full.headers["ETag"] != tag
    assert full.json()["record_count"] == published.valid_rows
    assert public.json()["record_count"] is None
    open_url = f"/api/v1/datasets/{published.open_id}"
    open_tag = client.get(open_url).headers["ETag"]
    assert client.get(open_url, headers={"If-None-Match": open_tag}).status_code == 304
    assert client.get(open_url, headers={"If-None-Match": '"stale"'}).status_code == 200


# --- a real feed with integer, boolean and number fields -------------------------------------


@pytest.fixture
def quakes(engine) -> str:
    """USGS's real "All Earthquakes, Past Day" feed, harvested by its bundled source file."""
    source = PROJECT_ROOT / "pipelines" / "sources" / "usgs-earthquakes-2019-01-30.yaml"
    outcome = harvest_source(load_source(source))
    assert outcome.status == "succeeded" and outcome.published == 233, outcome
    return "usgs-earthquakes-2019-01-30"


def test_typed_filters_on_a_real_feed(client, quakes):
    url = f"/api/v1/datasets/{quakes}/records"
    every = walk(client, f"{url}?limit=10000")
    assert len(every) == 233
    checks = {
        "tsunami=0&magnitude__gte=4": lambda r: r["tsunami"] is False and r["magnitude"] >= 4,
        "felt__gte=2": lambda r: r["felt"] is not None and r["felt"] >= 2,
        "significance__gt=300&magnitude__lt=5": lambda r: (
            r["significance"] > 300 and r["magnitude"] < 5
        ),
        "event_type__ne=earthquake": lambda r: r["event_type"] != "earthquake",
        "felt__null=true": lambda r: r["felt"] is None,
    }
    for query, wanted in checks.items():
        found = walk(client, f"{url}?{query}&limit=50")
        assert found == [r for r in every if wanted(r)], query
        assert 0 < len(found) < len(every), query
        assert client.get(f"{url}?{query}&total=true").json()["total"] == len(found), query
    assert walk(client, f"{url}?tsunami=true") == []  # no tsunami that day
    assert len(walk(client, f"{url}?tsunami=false,true&limit=10000")) == len(every)
    for query, words in (
        ("felt=1.5", "felt='1.5' is not an integer"),
        ("felt__gte=99999999999999999999", "is not an integer"),
        ("tsunami=yes", "tsunami='yes' is not a boolean"),
    ):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400 and words in response.json()["detail"], query


def test_sorting_a_real_feed_by_magnitude_pages_through_its_ties(client, quakes):
    url = f"/api/v1/datasets/{quakes}/records"
    down = walk(client, f"{url}?sort=-magnitude,event_type&limit=7")
    assert len(down) == 233 == len({r["event_id"] for r in down})
    magnitudes = [r["magnitude"] for r in down]
    filled = [m for m in magnitudes if m is not None]
    assert filled == sorted(filled, reverse=True) and len(set(filled)) < len(filled)  # ties
    up = walk(client, f"{url}?sort=felt&limit=9")
    assert [r["event_id"] for r in up] != [] and len(up) == 233
    felt = [r["felt"] for r in up]
    nulls = felt.count(None)
    assert felt[:nulls] == [None] * nulls and felt[nulls:] == sorted(felt[nulls:])


def test_geojson_without_limit_is_the_whole_collection_streamed(client, published, monkeypatch):
    """GDAL, QGIS and Leaflet read one FeatureCollection and follow no `next`: without `limit`,
    GeoJSON is a download of every matching row, as the CSV is, streamed page by page."""
    monkeypatch.setattr(reading, "STREAM_PAGE", 7)  # several pages from few rows
    whole = client.get(URL, params={"format": "geojson", "total": "true"})
    assert whole.status_code == 200
    assert whole.headers["content-type"].startswith("application/geo+json")
    assert "atmo-demo-air.geojson" in whole.headers["content-disposition"]
    body = whole.json()
    assert body["type"] == "FeatureCollection" and "next" not in body
    assert len(body["features"]) == published.valid_rows == body["total"]
    assert whole.headers["X-Total-Count"] == str(published.valid_rows)
    keys = [key(f["properties"]) for f in body["features"]]
    assert keys == [key(r) for r in walk(client, f"{URL}?limit=50")]
    paged = client.get(URL, params={"format": "geojson", "limit": 5}).json()
    assert len(paged["features"]) == 5 and paged["next"]  # with limit, a page as before
    monkeypatch.setenv("HUB_MAX_EXPORT_ROWS", str(published.valid_rows - 1))
    get_settings.cache_clear()
    too_many = client.get(URL, params={"format": "geojson"})
    assert too_many.status_code == 400 and "HUB_MAX_EXPORT_ROWS" in too_many.json()["detail"]
