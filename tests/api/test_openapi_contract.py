"""The OpenAPI document is a contract a generated client can keep: what the routes read by hand
(purpose, record filters), how callers authenticate, every status and header they answer with,
typed arrays and closed vocabularies, stable operation ids, and every route the README names."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from api.support import STATIONS, Published, bearer
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub import crises
from hub.app import create_app
from hub.models import utcnow

RECORDS = "/api/v1/datasets/{dataset_id}/records"
AROUND_RENNES = {
    "type": "Polygon",
    "coordinates": [[[-1.8, 48.0], [-1.5, 48.0], [-1.5, 48.2], [-1.8, 48.2], [-1.8, 48.0]]],
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def request_of(operation: dict[str, Any], values: dict[str, Any]) -> tuple[dict, dict]:
    """The query and headers a generated client sends for `values`, as the document says."""
    query: dict[str, Any] = {}
    headers: dict[str, str] = {}
    for parameter in operation["parameters"]:
        if parameter["name"] not in values:
            continue
        value = values[parameter["name"]]
        if parameter["in"] == "header":
            headers[parameter["name"]] = value
        elif parameter["in"] == "query" and parameter["schema"].get("type") == "object":
            assert (parameter.get("style"), parameter.get("explode")) == ("form", True)
            query.update(value)  # each property its own parameter
        elif parameter["in"] == "query":
            query[parameter["name"]] = value
    return query, headers


def test_filters_sent_as_the_document_says_filter_the_records(
    document: dict[str, Any], client: TestClient, published: Published
) -> None:
    operation = document["paths"][RECORDS]["get"]
    query, headers = request_of(
        operation, {"filters": {"station_id": "st-a", "value__gte": "15"}, "q": "Rennes"}
    )
    assert query == {"station_id": "st-a", "value__gte": "15", "q": "Rennes"}
    rows = client.get(
        f"/api/v1/datasets/{published.open_id}/records", params={**query, "limit": 1000}
    ).json()["records"]
    assert rows and {row["station_id"] for row in rows} == {"st-a"} <= set(STATIONS)
    assert min(row["value"] for row in rows) >= 15


@pytest.mark.parametrize(
    "path",
    [
        RECORDS,
        "/api/v1/datasets/{dataset_id}/datapackage.zip",
        "/api/v1/datasets/{dataset_id}/grid",
        "/api/3/action/datastore_search",
    ],
)
def test_every_personal_read_documents_its_purpose(document: dict[str, Any], path: str) -> None:
    places = {(p["name"], p["in"]) for p in document["paths"][path]["get"]["parameters"]}
    assert ("purpose", "query") in places
    if not path.startswith("/api/3/"):  # CKAN's actions read `purpose` from the query or body
        assert ("X-Purpose", "header") in places
    post = document["paths"][path].get("post")
    if post:
        assert (
            "purpose" in post["requestBody"]["content"]["application/json"]["schema"]["properties"]
        )


def test_a_purpose_sent_as_the_document_says_is_the_one_read(
    document: dict[str, Any], client: TestClient, engine: Engine, published: Published
) -> None:
    """A purpose its charter does not list is refused: proof that the route read it."""
    dataset = published.closed["crisis"]
    crises.declare(
        engine,
        name="Smog",
        area=AROUND_RENNES,
        start=utcnow() - timedelta(hours=1),
        end=utcnow() + timedelta(days=1),
        cells=["cell-35"],
        by="test",
    )
    token = bearer(engine, "crisis-cell", "cell-35")
    for path in (RECORDS, "/api/v1/datasets/{dataset_id}/datapackage.zip"):
        operation = document["paths"][path]["get"]
        for values in ({"purpose": "marketing"}, {"X-Purpose": "marketing"}):
            query, headers = request_of(operation, values)
            answer = client.get(
                path.format(dataset_id=dataset), params=query, headers={**token, **headers}
            )
            assert answer.status_code == 403, (path, values)
            assert "purpose 'marketing'" in answer.json()["detail"]
