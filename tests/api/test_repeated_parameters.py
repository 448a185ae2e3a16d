"""A single-valued parameter is taken once, and a `date-time` parameter is ISO 8601 text, on
every route: nothing is resolved silently (first value here, last there, a number as 1970)."""

from __future__ import annotations

import pytest

API = "/api/v1/datasets"
CKAN = "/api/3/action"


@pytest.mark.parametrize(
    "query",
    [
        "limit=1&limit=3",
        "from=2020-01-01&from=2021-01-01",
        "to=2030-01-01&to=2031-01-01",
        "cursor=a&cursor=b",
        "observed_at__gte=2020-01-01&observed_at__gte=2021-01-01",
        "value__lt=5&value__lt=9",
        "value__null=false&value__null=true",
        "purpose=a&purpose=b",
    ],
)
def test_a_repeated_single_valued_record_parameter_is_a_400_naming_it(client, published, query):
    answer = client.get(f"{API}/{published.open_id}/records?{query}")
    assert answer.status_code == 400, answer.text
    name = query.split("=")[0]
    assert f"'{name}' is given" in answer.json()["detail"]


def test_repeated_values_stay_open_where_the_contract_takes_several(client, published):
    url = f"{API}/{published.open_id}/records?station_id=FR-TEST-01&station_id=FR-TEST-02&limit=5"
    assert client.get(url).status_code == 200
    assert client.get(f"{API}?theme=air-quality&theme=energy").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"{API}?limit=1&limit=2",
        f"{API}?q=air&q=water",
        f"{API}?updated_since=2020-01-01&updated_since=2021-01-01",
        f"{API}/withdrawn?limit=1&limit=2",
        "/api/v1/alerts.atom?status=Actual&status=all",
    ],
)
def test_other_api_routes_refuse_a_repeat_too(client, published, path):
    answer = client.get(path)
    assert answer.status_code == 400, answer.text
    assert "is given 2 times: it takes one value" in answer.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        f"{API}?updated_since=0.5",
        f"{API}?from=1",
        f"{API}?to=1700000000",
        f"{API}/withdrawn?since=0.5",
        "/catalog.jsonld?modified_since=1",
    ],
)
def test_a_number_is_no_date_time_on_any_route(client, published, path):
    answer = client.get(path)
    assert answer.status_code == 400, answer.text
    assert "ISO 8601" in answer.text


def test_iso_8601_still_reads_with_or_without_a_zone(client, published):
    for moment in (
        "2020-01-01",
        "2020-01-01T00:00:00",
        "2020-01-01T00:00:00Z",
        "2020-01-01T01:00+01:00",
    ):
        assert client.get(API, params={"updated_since": moment}).status_code == 200
        assert client.get(f"{API}/withdrawn", params={"since": moment}).status_code == 200


@pytest.mark.parametrize(
    ("action", "query", "name"),
    [
        ("package_search", "rows=1&rows=2", "rows"),
        ("package_show", "id=a&id=b", "id"),
        ("package_search", "q=air&q=water", "q"),
        ("datastore_search", "resource_id=a&resource_id=b", "resource_id"),
    ],
)
def test_ckan_refuses_a_repeated_parameter_in_its_shape(client, published, action, query, name):
    answer = client.get(f"{CKAN}/{action}?{query}")
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["__type"] == "Validation Error"
    assert error[name] == ["Takes one value, not 2 (repeated, or a list)"]


def test_ckan_refuses_a_list_for_a_single_value_in_json_too(client, published):
    answer = client.post(f"{CKAN}/package_show", json={"id": [published.open_id]})
    assert answer.status_code == 409
    assert answer.json()["error"]["id"] == ["Takes one value, not 1 (repeated, or a list)"]
