"""Under a root path (HUB_PUBLIC_URL=https://data.example.org/hub/, the proxy stripping /hub),
routes are told apart by the path without it: CKAN's routes keep CKAN's shapes and its raw token.
tests/ui/test_ui_prefix.py runs the whole hub behind a real proxy."""

from __future__ import annotations

import asyncio
import json

import pytest
from api.support import bearer, client_for
from api.test_ckan_writes import new_package
from fastapi.testclient import TestClient
from starlette.requests import Request

from hub.api.origin import rooted, route_path, site_path
from hub.api.outages import answer_unavailable
from hub.app import create_app
from hub.config import get_settings
from hub.db import DatabaseLocked

PUBLIC = "https://data.example.org/hub/"


@pytest.fixture
def under_hub(monkeypatch) -> None:
    monkeypatch.setenv("HUB_PUBLIC_URL", PUBLIC)
    get_settings.cache_clear()


def test_the_public_urls_path_is_the_root_path_unless_the_server_set_one():
    scope = {"type": "http", "path": "/api/3/action/status_show", "raw_path": b"/api/3/action/x"}
    under = rooted(scope, "/hub")
    assert under["root_path"] == "/hub" and under["path"] == "/hub/api/3/action/status_show"
    assert under["raw_path"] == b"/hub/api/3/action/x"
    assert route_path(under) == "/api/3/action/status_show"
    assert site_path(under, "/datasets/x") == "/hub/datasets/x"
    assert rooted(scope, "") is scope
    served = {**scope, "root_path": "/hub", "path": "/hub/api/3/action/status_show"}
    assert rooted(served, "/hub") is served  # uvicorn --root-path did it already


def test_a_database_outage_on_ckans_routes_under_a_root_path_is_ckans_envelope():
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "https",
        "server": ("data.example.org", 443),
        "root_path": "/hub",
        "path": "/hub/api/3/action/package_create",
        "query_string": b"",
        "headers": [],
    }
    answer = asyncio.run(answer_unavailable(Request(scope), DatabaseLocked(30)))
    body = json.loads(bytes(answer.body))
    assert answer.status_code == 503 and body["success"] is False
    assert body["error"]["__type"] == "Service Unavailable"


def test_ckan_writes_take_the_raw_token_under_a_root_path(engine, published):
    """As `uvicorn --root-path /hub` serves it: the path keeps the root path in front."""
    raw = bearer(engine, "operator", "atmo-demo")["Authorization"].split()[1]
    with TestClient(create_app(), root_path="/hub") as client:
        answer = client.post(
            "/hub/api/action/package_create", json=new_package(), headers={"Authorization": raw}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["name"] == "push-air-rennes"


def test_ckan_writes_take_the_raw_token_under_hub_public_urls_path(engine, published, under_hub):
    raw = bearer(engine, "operator", "atmo-demo")["Authorization"].split()[1]
    with client_for(engine) as client:
        answer = client.post(
            "/api/action/package_create", json=new_package(), headers={"Authorization": raw}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["help"].startswith(f"{PUBLIC}api/3/action/help_show")


def test_datastore_links_are_under_the_root_path(engine, published, under_hub):
    with client_for(engine) as client:
        found = client.get(
            "/api/3/action/datastore_search",
            params={"resource_id": f"{published.open_id}-records", "limit": 1},
        ).json()["result"]
    assert found["_links"]["next"].startswith("/hub/api/3/action/datastore_search?")
