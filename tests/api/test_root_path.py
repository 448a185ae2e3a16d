"""Under a root path (`uvicorn --root-path /hub`, the proxy stripping /hub), routes are told
apart by the path without it: CKAN's routes keep CKAN's shapes and its raw token."""

from __future__ import annotations

import asyncio
import json

from api.support import bearer
from api.test_ckan_writes import new_package
from fastapi.testclient import TestClient
from starlette.requests import Request

from hub.api.outages import answer_unavailable
from hub.app import create_app
from hub.db import DatabaseLocked


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
