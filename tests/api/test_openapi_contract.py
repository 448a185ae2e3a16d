"""The OpenAPI document is a contract a generated client can keep: what the routes read by hand
(purpose, record filters), how callers authenticate, every status and header they answer with,
typed arrays and closed vocabularies, stable operation ids, and every route the README names."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from api.support import STATIONS, Published, bearer
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hub import crises
from hub.app import create_app
from hub.config import get_settings
from hub.models import utcnow

RECORDS = "/api/v1/datasets/{dataset_id}/records"
JSON_BODY = {"Content-Type": "application/json"}
TOKENLESS = ("/withdrawn", "/schema", "/charter")  # public routes that read no token
REGISTRY = "/api/v1/schemas"  # the schema registry: public, reads no token
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


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_api_operation_says_how_it_authenticates(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["ckanKey"]["name"] == "X-CKAN-API-Key"
    for path, method, operation in operations(document):
        if (
            not path.startswith("/api/")
            or path.endswith(TOKENLESS)
            or path.startswith(REGISTRY)
            or path == "/api/3"
        ):
            continue
        security = operation.get("security")
        assert security, (method, path)
        anonymous = {} in security
        needs_token = path.startswith(("/api/v1/me", "/api/v1/org/", "/api/v1/access-log")) or (
            path.startswith("/api/v1/crises") and method == "post"
        )
        assert anonymous is not needs_token, (method, path)
        if path.startswith("/api/3/"):
            assert {"ckanKey": []} in security and {"ckanToken": []} in security


def test_tokens_are_required_where_the_document_says(
    document: dict[str, Any], client: TestClient
) -> None:
    """Each operation documented without an anonymous option refuses an anonymous caller with
    the challenge its 401 declares (those without a body: a bad body is a 400 first)."""
    for path, method, operation in operations(document):
        if {} in operation.get("security", [{}]) or "requestBody" in operation:
            continue
        url = path.replace("{token_id}", "1").replace("{link_id}", "1")
        url = url.replace("{consent_id}", "1").replace("{crisis_id}", "1")
        answer = client.request(method, url)
        assert answer.status_code == 401, (method, path)
        assert set(operation["responses"]["401"]["headers"]) == {"WWW-Authenticate"}
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_headers_read_and_sent_are_declared(
    document: dict[str, Any], client: TestClient, published: Published
) -> None:
    operation = document["paths"][RECORDS]["get"]
    assert ("If-None-Match", "header") in {(p["name"], p["in"]) for p in operation["parameters"]}
    declared = operation["responses"]["200"]["headers"]
    answer = client.get(
        f"/api/v1/datasets/{published.open_id}/records",
        params={"format": "csv", "limit": 2, "total": "true"},
    )
    assert answer.status_code == 200
    sent = {"ETag", "Link", "X-Total-Count"}
    assert all(name in answer.headers for name in sent) and sent <= set(declared)
    again = client.get(answer.url, headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304
    for path, _method, operation in operations(document):
        for status in ("429", "503"):
            if status in operation["responses"]:
                assert "Retry-After" in operation["responses"][status]["headers"], (path, status)


def concrete(path: str) -> str:
    """A path of the document with each parameter given a value."""
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_dataset_route_documents_its_404(
    document: dict[str, Any], client: TestClient
) -> None:
    for path, method, operation in operations(document):
        if path.startswith("/api/v1/datasets/{dataset_id}"):
            url = path.replace("{dataset_id}", "no-such-dataset").replace("{suffix}", "ttl")
            answer = client.request(method, url)
            assert answer.status_code == 404, (method, path)
            assert "404" in operation["responses"], (method, path)


def test_refused_tokens_and_large_bodies_are_documented(
    document: dict[str, Any], client: TestClient
) -> None:
    bad = {"Authorization": "Bearer not-a-token"}
    while client.get("/api/v1/datasets", headers=bad).status_code != 429:
        pass  # the limiter's allowance of bad tokens, used up
    limit = get_settings().max_body_bytes
    for path, method, operation in operations(document):
        if not path.startswith("/api/v1/") or "security" not in operation:
            continue
        url = concrete(path).replace("/dcat.x", "/dcat.ttl")
        body = {"json": {}} if method == "post" else {}
        answer = client.request(method, url, headers=bad, params={"limit": 1}, **body)
        assert answer.status_code == 429 and "429" in operation["responses"], (method, path)
        assert "Retry-After" in answer.headers
        if method != "get":
            big = client.request(method, url, content=b"{" + b" " * limit + b"}", headers=JSON_BODY)
            assert big.status_code == 413 and "413" in operation["responses"], (method, path)


def test_a_405_allows_every_method_the_path_serves(
    document: dict[str, Any], client: TestClient
) -> None:
    for path, methods in document["paths"].items():
        served = {method.upper() for method in methods}
        served |= {"HEAD"} if "GET" in served else set()
        answer = client.request("PUT", concrete(path))
        assert answer.status_code == 405, path
        assert set(answer.headers["Allow"].split(", ")) == served, path


def arrays_without_items(node: Any, where: str = "") -> list[str]:
    """Where in `node` an array schema leaves its items undescribed."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "array" and "items" not in node and "prefixItems" not in node:
            found.append(where)
        for key, value in node.items():
            found += arrays_without_items(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += arrays_without_items(value, f"{where}/{index}")
    return found


def test_a_generated_client_has_typed_answers(document: dict[str, Any]) -> None:
    assert arrays_without_items(document) == []
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i) and len(i) <= 40 for i in ids), ids
    assert {"read_records", "list_datasets", "list_my_tokens", "list_organization_tokens"} <= set(
        ids
    )
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            for media, described in response.get("content", {}).items():
                assert described.get("schema"), (method, path, status, media)
    content = document["paths"][RECORDS]["get"]["responses"]["200"]["content"]
    assert content["text/csv"]["schema"] == {"type": "string"}
    assert content["application/geo+json"]["schema"]["properties"]["type"] == {
        "const": "FeatureCollection"
    }


def test_closed_vocabularies_are_enums(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["DatasetSummary"]["properties"]["access"]["enum"] == [
        "open",
        "restricted",
        "personal",
        "crisis",
    ]
    assert "air-quality" in schemas["DatasetSummary"]["properties"]["theme"]["enum"]
    assert "refused" in schemas["RunOut"]["properties"]["status"]["enum"]
    assert "closed" in schemas["CrisisOut"]["properties"]["status"]["enum"]
    assert "suspended" in schemas["ConsentOut"]["properties"]["status"]["enum"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/action/{name}", "get"),
        ("/api/action/{name}", "post"),
        ("/api/v1/datasets/{dataset_id}/export.zip", "get"),
        ("/api", "get"),
        ("/api/3", "get"),
        ("/territory.geojson", "get"),
    ],
)
def test_every_route_the_readme_names_is_documented(
    document: dict[str, Any], client: TestClient, published: Published, path: str, method: str
) -> None:
    assert method in document["paths"][path]
    url = path.replace("{name}", "package_list").replace("{dataset_id}", published.open_id)
    assert client.request(method, url).status_code == 200
