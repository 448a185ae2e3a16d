"""Defaults a careful operator expects: security headers, links from HUB_PUBLIC_URL, safe JSONP."""

from __future__ import annotations

import http.client
import json

import pytest
from api.support import bearer, client_for, live_server
from api.test_ckan_actions import ok
from fastapi.testclient import TestClient

from hub.api.origin import PublicUrlError
from hub.app import create_app
from hub.config import get_settings

EVIL = {
    "Host": "evil.example",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "Forwarded": "host=evil.example;proto=https",
}


def check_headers(response) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


ROUTES = [
    ("GET", "/healthz", 200),
    ("GET", "/api/v1/datasets", 200),
    ("GET", "/", 200),
    ("GET", "/datasets/atmo-demo-air", 200),
    ("GET", "/datasets/nothing", 404),
    ("GET", "/static/hub.css", 200),
    ("GET", "/static/nothing.css", 404),
    ("GET", "/api/action/package_list", 200),
    ("GET", "/api/action/nothing", 400),
    ("GET", "/api/3/nothing", 404),
    ("GET", "/api/v1/nothing", 404),
    ("GET", "/api/v1/datasets?offset=-1", 400),
    ("GET", "/openapi.json", 200),
    ("GET", "/docs", 200),
    ("GET", "/redoc", 200),
    ("PUT", "/healthz", 405),
    ("GET", "/api/v1/datasets/atmo-demo-restricted-air/records", 401),
]


def test_every_response_carries_the_security_headers(client):
    for method, path, status in ROUTES:
        response = client.request(method, path)
        assert response.status_code == status, path
        check_headers(response)


def test_413s_and_500s_carry_them_too(engine, published):
    app = create_app()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        crashed = client.get("/boom")
        assert crashed.status_code == 500
        check_headers(crashed)
        too_big = client.post("/api/action/package_search", content=b"x" * 2_000_000)
        assert too_big.status_code == 413
        check_headers(too_big)


def test_pages_get_a_policy_without_outside_sources_and_docs_one_that_lets_swagger_run(client):
    site = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in site and "http" not in site and "unsafe" not in site
    assert "script-src 'self';" in site  # the hub's own scripts only: no inline script runs
    docs = client.get("/docs")
    policy = docs.headers["content-security-policy"]
    assert "https://" not in docs.text and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "script-src 'self' 'nonce-" in policy and "http" not in policy  # tests/ui/test_api_docs


def test_resource_show_ignores_a_forged_host(client, published):
    for path in ("/api/3/action/resource_show", "/api/action/resource_show"):
        response = client.get(path, params={"id": f"{published.open_id}-records"}, headers=EVIL)
        resource = ok(response)
        assert resource["url"] == (
            f"http://testserver/api/v1/datasets/{published.open_id}/records?format=csv"
        )
        assert "evil" not in response.text


def test_no_link_anywhere_follows_a_forged_host(client, published):
    for url in (
        f"/api/action/package_show?id={published.open_id}",
        "/api/action/package_search",
        "/api/action/status_show",
        "/api/action/organization_show?id=atmo-demo&include_datasets=true",
        "/api/v1/datasets?limit=1",
        f"/api/v1/datasets/{published.open_id}",
        f"/api/v1/datasets/{published.open_id}/records?limit=1",
        f"/api/v1/datasets/{published.open_id}/quarantine?limit=1",
        "/",
        f"/datasets/{published.open_id}",
        "/api/3/nothing",
    ):
        response = client.get(url, headers=EVIL)
        assert response.status_code in (200, 404), url
        assert "evil" not in response.text, url
        assert "http://testserver/" in response.text, url


@pytest.fixture
def public(monkeypatch) -> str:
    """The hub published behind a proxy at https://data.example.org/hub/."""
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://data.example.org/hub")
    get_settings.cache_clear()
    return "https://data.example.org/hub/"


def test_links_come_from_hub_public_url(engine, published, public):
    with client_for(engine) as client:
        resource = ok_public(
            client.get(
                "/api/action/resource_show",
                params={"id": f"{published.open_id}-records"},
                headers=EVIL,
            ),
            public,
        )
        assert resource["url"] == f"{public}api/v1/datasets/{published.open_id}/records?format=csv"
        status = ok_public(client.get("/api/action/status_show", headers=EVIL), public)
        assert status["site_url"] == "https://data.example.org/hub"
        page = client.get("/api/v1/datasets", params={"limit": 1}, headers=EVIL).json()
        assert page["datasets"][0]["url"].startswith(f"{public}api/v1/datasets/")
        assert page["next"].startswith("https://data.example.org/")
        records = client.get(
            f"/api/v1/datasets/{published.open_id}/records", params={"limit": 1}, headers=EVIL
        ).json()
        assert records["next"].startswith(f"{public}api/v1/datasets/{published.open_id}/records?")
        home = client.get("/", headers=EVIL).text
        assert "https://data.example.org/" in home and "evil" not in home
        assert "testserver" not in home


def test_https_public_url_sends_hsts_on_every_response(engine, published, public):
    with client_for(engine) as client:
        for method, path, status in ROUTES:
            response = client.request(method, path)
            assert response.status_code == status, path
            assert response.headers["strict-transport-security"] == "max-age=31536000", path


@pytest.mark.parametrize("public_url", ["", "http://data.example.org/hub/"])
def test_no_hsts_unless_the_public_url_is_https(engine, published, monkeypatch, public_url):
    monkeypatch.setenv("HUB_PUBLIC_URL", public_url)
    get_settings.cache_clear()
    with client_for(engine) as client:
        # A client's X-Forwarded-Proto says nothing of how the hub is published.
        for response in (client.get("/"), client.get("/api/v1/datasets", headers=EVIL)):
            assert "strict-transport-security" not in response.headers


def ok_public(response, root: str) -> dict:
    body = response.json()
    assert response.status_code == 200 and body["success"] is True, response.text
    assert body["help"].startswith(f"{root}api/3/action/help_show?name=")
    return body["result"]


def test_a_bad_hub_public_url_stops_the_start(engine, monkeypatch):
    for value in (
        "data.example.org",
        "ftp://data.example.org/",
        "https://x/?a=1",
        "https://user:pw@data.example.org/",
        "https://x:port/",
        "http:///path",
    ):
        monkeypatch.setenv("HUB_PUBLIC_URL", value)
        get_settings.cache_clear()
        with pytest.raises(PublicUrlError, match="HUB_PUBLIC_URL"), TestClient(create_app()):
            pass


def test_unset_the_live_hub_links_to_the_address_it_serves_on(engine, published):
    with live_server() as url:
        host, port = url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("GET", "/api/action/status_show", headers={"Host": "evil.example"})
        body = json.loads(connection.getresponse().read())
        connection.close()
    assert body["result"]["site_url"] == url
    assert body["help"].startswith(f"{url}/api/3/action/help_show")


JSONP = "/api/action/status_show"


def is_jsonp(response) -> bool:
    """Whether an answer is JSONP (a script) rather than plain JSON."""
    if response.headers["content-type"].startswith("application/javascript"):
        assert response.text.startswith("cb(") and response.text.endswith(");")
        return True
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    json.loads(response.text)
    return False


def test_jsonp_for_anonymous_readers_of_open_data(client, published):
    assert is_jsonp(client.get(JSONP, params={"callback": "cb"}))
    assert is_jsonp(
        client.get("/api/action/package_show", params={"id": published.open_id, "callback": "cb"})
    )
    assert is_jsonp(
        client.get("/api/action/package_search", params={"fq": "access:open", "callback": "cb"})
    )
    assert is_jsonp(client.get("/api/action/package_list", params={"callback": "cb"}))


def test_jsonp_answers_as_anonymous_so_closed_datasets_show_their_public_metadata_only(
    client, published
):
    for level, dataset_id in published.closed.items():
        plain = client.get("/api/action/package_show", params={"id": dataset_id})
        wrapped = client.get(
            "/api/action/package_show", params={"id": dataset_id, "callback": "cb"}
        )
        assert wrapped.status_code == 200 and is_jsonp(wrapped), level
        assert json.loads(wrapped.text[3:-2]) == plain.json()  # the anonymous answer, no more
        resource = client.get(
            "/api/action/resource_show", params={"id": f"{dataset_id}-records", "callback": "cb"}
        )
        assert is_jsonp(resource), level
        rows = client.get(
            "/api/action/datastore_search",
            params={"resource_id": f"{dataset_id}-records", "callback": "cb"},
        )
        assert is_jsonp(rows) and '"success":false' in rows.text, level  # refused, as plain
    assert is_jsonp(client.get("/api/action/package_search", params={"callback": "cb"}))


def test_no_jsonp_with_credentials(client, engine, published):
    token = bearer(engine, "admin")
    raw = token["Authorization"].removeprefix("Bearer ")
    for headers in (
        token,
        {"Authorization": raw},
        {"X-CKAN-API-Key": raw},
        {"Cookie": "session=abc"},
    ):
        response = client.get(JSONP, params={"callback": "cb"}, headers=headers)
        assert response.status_code == 200 and not is_jsonp(response), headers


def test_jsonp_errors_come_with_200_and_no_jsonp_for_posts_or_unsafe_callbacks(client):
    missing = client.get("/api/action/package_show", params={"id": "nope", "callback": "cb"})
    # CKAN wraps errors too, with 200: a script tag sees no status, `success` tells
    assert missing.status_code == 200 and is_jsonp(missing)
    assert json.loads(missing.text[3:-2])["error"]["__type"] == "Not Found Error"
    refused = client.get(
        JSONP, params={"callback": "cb"}, headers={"Authorization": "Bearer forged"}
    )
    assert refused.status_code == 401 and not is_jsonp(refused)
    posted = client.post(f"{JSONP}?callback=cb", json={})
    assert not is_jsonp(posted)
    for hostile in ("alert(1)//", "a b", "<script>", "x" * 200, "cb\n", "cé"):
        response = client.get(JSONP, params={"callback": hostile})
        assert not is_jsonp(response), hostile
