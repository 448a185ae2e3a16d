"""An address that names a page but for a trailing slash: a GET or HEAD is sent on to the page
(308), its query kept, under the public URL; a POST, and an address that names nothing, still
get the JSON 404."""

from __future__ import annotations

import pytest
from api.support import client_for

from hub.config import get_settings

OPEN = "atmo-demo-air"
PAGES = [
    "/api/v1/datasets/",
    f"/api/v1/datasets/{OPEN}/",
    "/catalog.ttl/",
    "/catalog.jsonld//",
    f"/api/3/action/package_show/?id={OPEN}",
    "/api/v1/datasets/?q=air&limit=5",
]


@pytest.mark.parametrize("url", PAGES)
def test_a_get_with_a_trailing_slash_is_sent_on_to_its_page(client, published, url):
    path, _, query = url.partition("?")
    canonical = "http://testserver" + path.rstrip("/") + (f"?{query}" if query else "")
    for method in ("GET", "HEAD"):
        moved = client.request(method, url, follow_redirects=False)
        assert moved.status_code == 308 and moved.headers["location"] == canonical
    assert client.get(url).status_code == 200  # followed


def test_a_post_with_a_trailing_slash_is_not_redirected(client, published):
    posted = client.post("/api/3/action/package_show/", json={"id": OPEN})
    assert posted.status_code == 404 and posted.json()["error"]["__type"] == "Not Found Error"
    pushed = client.post(f"/api/v1/datasets/{OPEN}/", json={})
    assert pushed.status_code in (404, 405) and "location" not in pushed.headers


@pytest.mark.parametrize(
    "url", ["/api/v1/nothing/", f"/api/v1/datasets/{OPEN}/nothing/", "/catalog.ttl/x/"]
)
def test_an_address_that_names_nothing_stays_a_json_404(client, published, url):
    missing = client.get(url, follow_redirects=False)
    assert missing.status_code == 404 and "location" not in missing.headers
    assert missing.headers["content-type"].startswith("application/json")


def test_the_redirect_stays_under_the_public_url(engine, published, monkeypatch):
    monkeypatch.setenv("HUB_PUBLIC_URL", "https://data.example.org/hub/")
    get_settings.cache_clear()
    with client_for(engine) as client:
        moved = client.get("/catalog.ttl/?page=1", follow_redirects=False)
    assert moved.status_code == 308
    assert moved.headers["location"] == "https://data.example.org/hub/catalog.ttl?page=1"
