"""The CKAN Action API: paths, methods, encodings, envelopes, errors and the read actions."""

from __future__ import annotations

import csv
import io
import json

import pytest

PATHS = ["/api/3/action", "/api/action"]


def ok(response) -> object:
    """The result of a successful envelope, after checking the envelope itself."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    body = response.json()
    assert set(body) == {"help", "success", "result"} and body["success"] is True
    assert body["help"].startswith("http://testserver/api/3/action/help_show?name=")
    return body["result"]


def failed(response, status: int, kind: str) -> dict:
    """The error object of a failed envelope."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and "result" not in body and body["help"]
    assert body["error"]["__type"] == kind
    return body["error"]


@pytest.mark.parametrize("path", PATHS)
def test_both_paths_answer_get_and_post_without_redirects(client, published, path):
    by_get = ok(client.get(f"{path}/package_list", follow_redirects=False))
    by_post = ok(client.post(f"{path}/package_list", json={}, follow_redirects=False))
    assert by_get == by_post == sorted([published.open_id, *published.closed.values()])


def test_parameters_arrive_as_json_form_legacy_form_or_query(client, published):
    url = "/api/action/package_show"
    expected = ok(client.get(url, params={"id": published.open_id}))
    assert ok(client.post(url, json={"id": published.open_id})) == expected
    assert ok(client.post(url, data={"id": published.open_id})) == expected
    legacy = json.dumps({"id": published.open_id})
    assert (
        ok(
            client.post(
                url,
                content=f"{legacy}=1",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
        )
        == expected
    )
    assert ok(client.post(f"{url}?id={published.open_id}")) == expected


def test_an_unknown_action_is_a_bare_string_400(client):
    for path in PATHS:
        for response in (
            client.get(f"{path}/no_such_action"),
            client.post(f"{path}/no_such_action", json={}),
        ):
            assert response.status_code == 400
            assert response.json() == "Bad request: Action name not known: no_such_action"


def test_bad_json_is_a_bare_string_400(client):
    for body in (b"{not json", b"[1, 2]"):
        response = client.post(
            "/api/action/package_show", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json().startswith("Bad request: JSON Error: ")


@pytest.mark.parametrize(
    "name",
    [
        "package_create",
        "package_update",
        "resource_delete",
        "organization_create",
        "datastore_upsert",
    ],
)
def test_writing_actions_are_known_but_not_authorized(client, name):
    error = failed(
        client.post(f"/api/action/{name}", json={"name": "x"}), 403, "Authorization Error"
    )
    assert error["message"].startswith("Access denied: ")
    response = client.get(f"/api/3/action/{name}")
    assert response.status_code == 400
    assert response.json() == (
        "Bad request: JSON Error: Invalid request. Please use POST method for your request"
    )


def test_package_show_builds_a_full_ckan_package(client, published):
    package = ok(
        client.get(
            "/api/3/action/package_show",
            params={
                "id": published.open_id,
                "include_users": "True",
                "include_datasets": "false",
                "use_default_schema": "1",
            },
        )
    )
    for key in (
        "id",
        "name",
        "title",
        "notes",
        "url",
        "version",
        "license_id",
        "license_title",
        "license_url",
        "isopen",
        "owner_org",
        "organization",
        "private",
        "state",
        "type",
        "metadata_created",
        "metadata_modified",
        "num_resources",
        "num_tags",
        "tags",
        "groups",
        "extras",
        "resources",
    ):
        assert key in package, key
    assert package["name"] == published.open_id and package["type"] == "dataset"
    assert package["license_id"] == "etalab-2.0" and package["isopen"] is True
    assert package["private"] is False and package["state"] == "active"
    assert package["organization"]["name"] == "atmo-demo"
    assert package["organization"]["title"] == "Atmo Démo"
    assert package["owner_org"] == "atmo-demo"
    assert sorted(t["name"] for t in package["tags"]) == ["no2", "pm25", "rennes"]
    assert package["num_tags"] == 3 and package["groups"][0]["name"] == "air-quality"
    extras = {e["key"]: e["value"] for e in package["extras"]}
    assert extras["theme"] == "air-quality" and extras["access"] == "open"
    assert extras["schema"] == "air-quality-observation" and extras["charter"] == "atmo-demo-open"
    assert extras["temporal_start"] == "2026-03-01T00:00:00"
    assert extras["bbox"] == "-1.68,48.08,-1.2,48.3"
    assert json.loads(extras["spatial"])["type"] == "Polygon"
    assert all(isinstance(e["value"], str) for e in package["extras"])
    (resource,) = package["resources"]
    assert package["num_resources"] == 1 and resource["package_id"] == published.open_id
    assert resource["format"] == "CSV" and resource["datastore_active"] is True
    assert resource["url"] == (
        f"http://testserver/api/v1/datasets/{published.open_id}/records?format=csv"
    )


def test_the_resource_url_downloads_the_records(client, published):
    package = ok(client.get("/api/action/package_show", params={"id": published.open_id}))
    download = client.get(package["resources"][0]["url"])
    assert download.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(download.text)))) == published.valid_rows


def test_a_closed_dataset_is_listed_as_not_open(client, published):
    package = ok(
        client.get("/api/action/package_show", params={"id": published.closed["restricted"]})
    )
    assert package["isopen"] is False and package["license_id"] == "custom"
    assert {e["key"]: e["value"] for e in package["extras"]}["access"] == "restricted"
    assert client.get(package["resources"][0]["url"]).status_code == 401


def test_package_show_errors(client):
    error = failed(
        client.get("/api/action/package_show", params={"id": "missing"}), 404, "Not Found Error"
    )
    assert error["message"].startswith("Not found: ") and "missing" in error["message"]
    missing = failed(client.post("/api/action/package_show", json={}), 409, "Validation Error")
    assert missing == {"name_or_id": ["Missing value"], "__type": "Validation Error"}


LONG = "x" * 100_000


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("package_show", {"id": LONG}),
        ("resource_show", {"id": LONG}),
        ("organization_show", {"id": LONG}),
        ("group_show", {"id": LONG}),
        ("datastore_search", {"resource_id": LONG}),
        ("package_search", {"q": "(" + "x" * 9_000}),
        ("package_search", {"sort": "x" * 9_000}),
        ("package_search", {"fl": "x" * 9_000 + "!"}),
        ("datastore_search", {"resource_id": "atmo-demo-air-records", "include_total": LONG}),
        ("datastore_search", {"resource_id": "atmo-demo-air-records", "fields": LONG}),
        ("datastore_search", {"resource_id": "atmo-demo-air-records", "sort": LONG}),
    ],
)
def test_an_error_quotes_a_long_value_cut_short(client, published, action, data):
    """A 100 kB id was answered back whole (a 100,174-byte 404): a quoted value is cut at
    100 characters, an ellipsis marking the cut."""
    response = client.post(f"/api/3/action/{action}", json=data)
    assert response.status_code in (400, 404, 409), response.text[:300]
    assert len(response.content) < 1_000, response.text[:300]
    assert "x" * 99 + "…" in response.text and "x" * 101 not in response.text


def test_an_unknown_action_with_a_long_name_is_cut_short(client):
    response = client.get(f"/api/3/action/{'y' * 5_000}")
    assert response.status_code == 400 and len(response.content) < 1_000
    assert response.json().endswith("y" * 100 + "…")


def test_a_missing_id_of_an_ids_length_is_quoted_whole(client):
    error = failed(
        client.post("/api/action/package_show", json={"id": "z" * 100}), 404, "Not Found Error"
    )
    assert error["message"] == f"Not found: Dataset {'z' * 100!r} was not found"


def test_resource_show_and_its_errors(client, published):
    package = ok(client.get("/api/action/package_show", params={"id": published.open_id}))
    resource_id = package["resources"][0]["id"]
    assert (
        ok(client.get("/api/action/resource_show", params={"id": resource_id}))
        == (package["resources"][0])
    )
    failed(client.get("/api/action/resource_show", params={"id": "nope"}), 404, "Not Found Error")


def test_package_list_pages(client, published):
    names = ok(client.get("/api/action/package_list"))
    assert ok(client.get("/api/action/package_list", params={"limit": 2})) == names[:2]
    assert (
        ok(client.get("/api/action/package_list", params={"limit": 2, "offset": 2})) == (names[2:4])
    )
    error = failed(
        client.get("/api/action/package_list", params={"limit": "x"}), 409, "Validation Error"
    )
    assert error["limit"] == ["Invalid integer"]
    assert failed(
        client.get("/api/action/package_list", params={"offset": -1}), 409, "Validation Error"
    )["offset"] == ["Must be a natural number"]


def test_organizations(client):
    assert ok(client.get("/api/action/organization_list")) == ["atmo-demo"]
    (org,) = ok(client.get("/api/action/organization_list", params={"all_fields": "true"}))
    assert org["name"] == "atmo-demo" and org["package_count"] == 4
    assert org["is_organization"] is True and org["display_name"] == "Atmo Démo"
    shown = ok(
        client.get(
            "/api/action/organization_show", params={"id": "atmo-demo", "include_datasets": "True"}
        )
    )
    assert shown["package_count"] == 4 and len(shown["packages"]) == 4
    failed(
        client.get("/api/action/organization_show", params={"id": "nope"}), 404, "Not Found Error"
    )
    assert ok(client.get("/api/action/organization_list", params={"offset": 1})) == []


def test_groups_are_themes_and_tags_are_keywords(client):
    assert "air-quality" in ok(client.get("/api/action/group_list"))
    group = ok(client.get("/api/action/group_show", params={"id": "air-quality"}))
    assert group["package_count"] == 4 and group["title"] == "Air quality"
    tags = ok(client.get("/api/action/tag_list"))
    assert {"no2", "pm25", "rennes", "crisis"} <= set(tags)
    assert ok(client.get("/api/action/tag_list", params={"query": "ren"})) == ["rennes"]
    (full,) = ok(client.get("/api/action/tag_list", params={"query": "ren", "all_fields": "1"}))
    assert full["name"] == "rennes" and full["vocabulary_id"] is None


def test_status_and_help(client):
    status = ok(client.get("/api/action/status_show"))
    assert status["site_url"] == "http://testserver" and status["ckan_version"]
    text = ok(client.get("/api/action/help_show", params={"name": "package_search"}))
    assert "Search datasets" in text
    failed(client.get("/api/action/help_show", params={"name": "nope"}), 404, "Not Found Error")


def test_jsonp_wraps_a_get_when_asked(client):
    response = client.get("/api/action/status_show", params={"callback": "handle"})
    assert response.status_code == 200
    assert response.text.startswith("handle({") and response.text.endswith(");")
    hostile = client.get("/api/action/status_show", params={"callback": "alert(1)//"})
    assert hostile.headers["content-type"] == "application/json;charset=utf-8"


def test_api_version_probes(client):
    assert client.get("/api/3").json() == {"version": 3}
    assert client.get("/api").json() == {"version": 1}
