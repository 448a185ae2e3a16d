"""package_search: q, fq sub-grammar, rows/start paging, sorts and both facet shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.api.ckan import datemath

ALL = {
    "atmo-demo-air",
    "atmo-demo-restricted-air",
    "atmo-demo-personal-air",
    "atmo-demo-crisis-air",
    "openaq-toronto-pm25",
    "sensor-community-aberdeen",
}

OPEN = {"atmo-demo-air", "openaq-toronto-pm25", "sensor-community-aberdeen"}


def search(client, **params) -> dict:
    response = client.get("/api/3/action/package_search", params=params)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def names(result: dict) -> set[str]:
    return {p["name"] for p in result["results"]}


def test_everything_by_default_ten_rows_and_both_facet_shapes(client, sampled):
    result = search(client)
    assert result["count"] == 6 and names(result) == ALL
    assert result["sort"] == "score desc, metadata_modified desc"
    assert result["facets"]["organization"] == {"atmo-demo": 4, "openaq": 1, "sensor-community": 1}
    assert result["facets"]["tags"]["pm25"] == 3
    assert result["facets"]["groups"] == {"air-quality": 6}
    assert result["facets"]["res_format"] == {"CSV": 6}
    assert result["facets"]["license_id"]["custom"] == 3
    orgs = result["search_facets"]["organization"]
    assert orgs["title"] == "organization"
    assert [i["display_name"] for i in orgs["items"]] == ["Sensor.Community", "OpenAQ", "Atmo Démo"]
    assert {i["name"]: i["count"] for i in orgs["items"]}["atmo-demo"] == 4
    groups = result["search_facets"]["groups"]["items"]
    assert groups == [{"name": "air-quality", "display_name": "Air quality", "count": 6}]


def test_rows_and_start_page_without_overlap(client, sampled):
    seen = []
    for start in range(0, 6, 4):
        page = search(client, rows=4, start=start, sort="name asc")
        assert page["count"] == 6
        seen += [p["name"] for p in page["results"]]
    assert seen == sorted(ALL)
    assert search(client, rows=4, start=6)["results"] == []
    assert search(client, rows=0)["results"] == [] and search(client, rows=0)["count"] == 6


def test_rows_is_silently_capped_at_1000(client, sampled):
    assert len(search(client, rows=5000)["results"]) == 6


@pytest.mark.parametrize(
    "fq, expected",
    [
        ("organization:openaq", {"openaq-toronto-pm25"}),
        ('organization:"sensor-community"', {"sensor-community-aberdeen"}),
        ("-organization:atmo-demo", {"openaq-toronto-pm25", "sensor-community-aberdeen"}),
        (
            "(organization:openaq OR organization:sensor-community)",
            {"openaq-toronto-pm25", "sensor-community-aberdeen"},
        ),
        (
            "organization:(openaq OR sensor-community)",
            {"openaq-toronto-pm25", "sensor-community-aberdeen"},
        ),
        ("tags:toronto", {"openaq-toronto-pm25"}),
        ("tags:pm25 tags:pm10", {"sensor-community-aberdeen"}),
        (
            "+tags:pm25 -organization:atmo-demo",
            {"openaq-toronto-pm25", "sensor-community-aberdeen"},
        ),
        ("theme:air-quality", ALL),
        ("groups:air-quality", ALL),
        ("groups:energy", set()),
        ("res_format:CSV", ALL),
        ("license_id:ODbL-1.0", {"sensor-community-aberdeen"}),
        ("license_id:CC-BY-4.0", {"openaq-toronto-pm25"}),
        ("access:crisis", {"atmo-demo-crisis-air"}),
        ("metadata_modified:[2020-01-01T00:00:00Z TO *]", ALL),
        ("metadata_modified:[* TO 2020-01-01T00:00:00Z]", set()),
        ("capacity:public", ALL),
        ("name:openaq*", {"openaq-toronto-pm25"}),
        # Solr's date math, as harvesters send it for "changed since".
        ("metadata_modified:[NOW-1DAY TO NOW]", ALL),
        ("metadata_modified:[NOW-7DAYS TO *]", ALL),
        ("metadata_created:[NOW/DAY-1YEAR TO NOW/DAY+1DAY]", ALL),
        ("metadata_modified:[NOW/YEAR-2YEARS TO NOW+1MINUTE/MINUTE]", ALL),
        ("metadata_modified:[NOW+1HOUR TO *]", set()),
        ("metadata_modified:[* TO NOW-1MONTH]", set()),
        ("metadata_modified:[2020-01-01T00:00:00Z+1DAY TO NOW+30SECONDS]", ALL),
        ('metadata_modified:["2020-01-01T00:00:00Z" TO *]', ALL),
        # Mixed brackets: exclusive lower, inclusive upper, and the other way round.
        ("metadata_modified:{NOW-1DAY TO *]", ALL),
        ("metadata_modified:[* TO NOW-1DAY}", set()),
        ("num_resources:{0 TO *]", ALL),
        ("num_resources:{1 TO *]", set()),
        ("num_resources:[1 TO 1}", set()),
        # CKAN's standard fields, one value for every dataset the hub lists.
        ("dataset_type:dataset", ALL),
        ("+dataset_type:dataset", ALL),
        ("dataset_type:harvest", set()),
        ("state:active", ALL),
        ("state:(active OR draft)", ALL),
        ("state:deleted", set()),
        ("site_id:default", ALL),
        ("site_id:elsewhere", set()),
        ("entity_type:package", ALL),
        ("entity_type:organization", set()),
        ("private:false", ALL),
        ("private:true", set()),
        ("-private:true", ALL),
        ("private:maybe", set()),
        ("type:dataset", ALL),
        ("type:harvest", set()),
        ("capacity:private", set()),
        ("dataset_type:data*", ALL),
        (
            "+capacity:public +state:active +dataset_type:dataset organization:openaq",
            {"openaq-toronto-pm25"},
        ),
        # isopen: open access under an open licence, as each package's `isopen` says.
        ("isopen:true", OPEN),
        ("isopen:false", ALL - OPEN),
        ("isopen:yes", set()),
    ],
)
def test_fq_sub_grammar(client, sampled, fq, expected):
    assert names(search(client, fq=fq, rows=100)) == expected


def test_isopen_and_private_match_what_each_package_says(client, sampled):
    every = search(client, rows=100)["results"]
    for value in ("true", "false"):
        found = names(search(client, fq=f"isopen:{value}", rows=100))
        assert found == {p["name"] for p in every if p["isopen"] == (value == "true")}
        found = names(search(client, fq=f"private:{value}", rows=100))
        assert found == {p["name"] for p in every if p["private"] == (value == "true")}


def test_fq_list_combines_with_fq(client, sampled):
    result = client.post(
        "/api/action/package_search",
        json={"fq": "tags:pm25", "fq_list": ["-organization:atmo-demo", "organization:openaq"]},
    ).json()
    assert names(result["result"]) == {"openaq-toronto-pm25"}


@pytest.mark.parametrize(
    "q, expected",
    [
        ("toronto", {"openaq-toronto-pm25"}),
        ("Aberdeen particulates", {"sensor-community-aberdeen"}),
        ("démo crisis", {"atmo-demo-crisis-air"}),
        ("organization:openaq", {"openaq-toronto-pm25"}),
        ("*:*", ALL),
        ("nothing-of-the-sort", set()),
    ],
)
def test_q_searches_words_and_fields(client, sampled, q, expected):
    assert names(search(client, q=q, rows=100)) == expected


def test_relevance_puts_title_matches_first(client, sampled):
    result = search(client, q="toronto OR pm25")
    assert result["results"][0]["name"] == "openaq-toronto-pm25"


@pytest.mark.parametrize(
    "sort, first",
    [
        ("name asc", "atmo-demo-air"),
        ("name desc", "sensor-community-aberdeen"),
        ("title asc", "atmo-demo-crisis-air"),
        ("metadata_modified desc", "sensor-community-aberdeen"),
        ("metadata_created asc", "atmo-demo-air"),
        ("id asc", "atmo-demo-air"),
    ],
)
def test_sorts(client, sampled, sort, first):
    assert search(client, sort=sort)["results"][0]["name"] == first


def test_facet_field_accepts_a_list_a_json_string_or_a_bare_name(client, sampled):
    as_json = search(client, **{"facet.field": '["tags"]'})
    assert set(as_json["facets"]) == {"tags"}
    bare = search(client, **{"facet.field": "organization"})
    assert set(bare["facets"]) == {"organization"}
    listed = client.post(
        "/api/action/package_search",
        json={"facet.field": ["license_id", "groups"], "facet.limit": 1},
    ).json()
    assert set(listed["result"]["facets"]) == {"license_id", "groups"}
    assert len(listed["result"]["facets"]["license_id"]) == 1


def test_fl_returns_partial_packages(client, sampled):
    result = search(client, fl="name,title", rows=2, sort="name asc")
    assert result["results"][0] == {
        "name": "atmo-demo-air",
        "title": "Air quality, Rennes (Atmo Démo)",
    }


def test_bad_queries_and_parameters(client, sampled):
    for params in (
        {"fq": "(organization:openaq"},
        {"sort": "colour asc"},
        {"fq": "metadata_modified:[2020 TO"},
    ):
        response = client.get("/api/action/package_search", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"]["__type"] == "Search Query Error"
        assert response.json()["error"]["message"].startswith("Search Query is invalid: ")
    for params, field in (({"rows": "ten"}, "rows"), ({"start": -3}, "start")):
        response = client.get("/api/action/package_search", params=params)
        assert response.status_code == 409
        assert field in response.json()["error"]


@pytest.mark.parametrize(
    "fq, bad",
    [
        ("metadata_modified:[garbage TO *]", "garbage"),
        ("metadata_created:[* TO tomorrow]", "tomorrow"),
        ("metadata_modified:[NOW-1FORTNIGHT TO NOW]", "NOW-1FORTNIGHT"),
        ("metadata_modified:[NOW/WEEK TO NOW]", "NOW/WEEK"),
        ("metadata_modified:[NOW-DAY TO NOW]", "NOW-DAY"),
        ("metadata_modified:[NOW+99999999YEARS TO *]", "NOW+99999999YEARS"),
        ("metadata_modified:[2024-13-01T00:00:00Z TO *]", "2024-13-01T00:00:00Z"),
        ("num_resources:[one TO *]", "one"),
    ],
)
def test_a_bad_range_bound_is_a_search_query_error_naming_it(client, sampled, fq, bad):
    response = client.get("/api/action/package_search", params={"fq": fq})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["__type"] == "Search Query Error"
    assert error["message"].startswith("Search Query is invalid: ")
    assert repr(bad)[1:-1] in error["message"]


def test_facet_false_counts_no_facets_but_keeps_both_keys(client, sampled):
    for params in ({"facet": "false"}, {"facet": "false", "facet.field": '["tags"]'}):
        result = search(client, **params)
        assert result["facets"] == {} and result["search_facets"] == {}
        assert result["count"] == 6 and len(result["results"]) == 6
    posted = client.post("/api/action/package_search", json={"q": "pm25", "facet": False}).json()[
        "result"
    ]
    assert posted["facets"] == {} and posted["search_facets"] == {} and posted["count"] == 3
    assert set(search(client, facet="true")["facets"]) == {
        "organization",
        "tags",
        "groups",
        "license_id",
        "res_format",
    }


NOW = datetime(2024, 3, 31, 14, 25, 36, 789_000, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("NOW", NOW),
        ("NOW-1DAY", datetime(2024, 3, 30, 14, 25, 36, 789_000, tzinfo=UTC)),
        ("NOW-7DAYS", datetime(2024, 3, 24, 14, 25, 36, 789_000, tzinfo=UTC)),
        ("NOW/DAY", datetime(2024, 3, 31, tzinfo=UTC)),
        ("NOW/DAY-1DAY", datetime(2024, 3, 30, tzinfo=UTC)),
        ("NOW-1DAY/DAY", datetime(2024, 3, 30, tzinfo=UTC)),
        ("NOW-1MONTH", datetime(2024, 2, 29, 14, 25, 36, 789_000, tzinfo=UTC)),
        ("NOW+11MONTHS/MONTH", datetime(2025, 2, 1, tzinfo=UTC)),
        ("NOW/YEAR+1YEAR", datetime(2025, 1, 1, tzinfo=UTC)),
        ("NOW-2HOURS/HOUR", datetime(2024, 3, 31, 12, tzinfo=UTC)),
        ("NOW+90MINUTES/MINUTE", datetime(2024, 3, 31, 15, 55, tzinfo=UTC)),
        ("NOW-30SECONDS/SECOND", datetime(2024, 3, 31, 14, 25, 6, tzinfo=UTC)),
        ("NOW+1DATE", datetime(2024, 4, 1, 14, 25, 36, 789_000, tzinfo=UTC)),
        ("2024-02-29T10:00:00Z+1YEAR", datetime(2025, 2, 28, 10, tzinfo=UTC)),
        ("2024-01-31T00:00:00Z+1MONTH/DAY", datetime(2024, 2, 29, tzinfo=UTC)),
        ("2024-01-01T01:00:00+01:00", datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_solr_date_math(text, expected):
    assert datemath.moment(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["garbage", "NOW-1", "NOW-DAY", "NOW/WEEK", "NOW+1DAY+", "NOW 1DAY", "NOW-99999YEARS"]
)
def test_solr_date_math_refuses_what_names_no_time(text):
    with pytest.raises(ValueError):
        datemath.moment(text, NOW)
