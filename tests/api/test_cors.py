"""Cross-origin reads (hub.api.cors): the APIs and DCAT documents answer every origin, preflights
included, never with credentials; the catalogue's HTML pages are not shared. In Chromium, a
page of another origin reads open data, a token's reads and the headers it needs."""

from __future__ import annotations

import http.server
import threading
from functools import partial
from pathlib import Path

import pytest
from api.support import bearer, live_server
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture

ELSEWHERE = "http://dashboard.example"


def test_a_preflight_for_a_token_read_is_answered_without_credentials(client, published):
    url = f"/api/v1/datasets/{published.open_id}/records"
    answer = client.options(
        url,
        headers={
            "Origin": ELSEWHERE,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, x-purpose",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == "*"
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "x-purpose" in allowed
    assert "access-control-allow-credentials" not in answer.headers
    assert answer.headers["x-content-type-options"] == "nosniff"  # security headers too
    ckan = client.options(
        "/api/3/action/package_search",
        headers={
            "Origin": ELSEWHERE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert ckan.status_code == 200 and "POST" in ckan.headers["access-control-allow-methods"]


def test_answers_expose_the_paging_and_caching_headers(client, engine, published):
    url = f"/api/v1/datasets/{published.open_id}/records"
    page = client.get(url, params={"limit": 2, "format": "csv"}, headers={"Origin": ELSEWHERE})
    assert page.status_code == 200 and page.headers["access-control-allow-origin"] == "*"
    exposed = page.headers["access-control-expose-headers"]
    for name in ("ETag", "Link", "X-Total-Count", "Retry-After", "Content-Disposition"):
        assert name in exposed
    refused = client.get(url, headers={"Origin": ELSEWHERE, "Authorization": "Bearer forged"})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "*"
    dcat = client.get("/catalog.ttl", headers={"Origin": ELSEWHERE})
    assert dcat.headers["access-control-allow-origin"] == "*"
    token = bearer(engine, "admin")
    known = client.get("/api/v1/datasets", headers={"Origin": ELSEWHERE, **token})
    assert "access-control-allow-credentials" not in known.headers


def test_the_catalogue_pages_are_not_shared(client, published):
    home = client.get("/", headers={"Origin": ELSEWHERE, "Accept": "text/html"})
    assert home.status_code == 200 and "access-control-allow-origin" not in home.headers
    preflight = client.options(
        "/signin", headers={"Origin": ELSEWHERE, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


PAGE = """<!doctype html><meta charset="utf-8"><title>dashboard</title>
<script>
async function run(hub, dataset, token) {
  const open = await fetch(hub + "/api/v1/datasets/" + dataset + "/records?limit=1&total=true");
  const ckan = await fetch(hub + "/api/3/action/package_search", {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({rows: 1})});
  const mine = await fetch(hub + "/api/v1/datasets", {headers: {Authorization: "Bearer " + token}});
  const withCookies = await fetch(hub + "/api/v1/datasets", {credentials: "include"})
    .then(() => "read", () => "blocked");
  return {open: open.status, etag: open.headers.get("ETag"), total: (await open.json()).total,
          ckan: (await ckan.json()).success, mine: mine.status, withCookies};
}
</script>"""


@pytest.mark.browser
def test_a_dashboard_on_another_origin_reads_in_chromium(
    engine,
    published,
    tmp_path: Path,
    chromium: Path,  # noqa: F811
):
    from playwright.sync_api import sync_playwright

    (tmp_path / "index.html").write_text(PAGE)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    token = bearer(engine, "admin")["Authorization"].removeprefix("Bearer ")
    try:
        with live_server() as hub, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
            try:
                page = browser.new_page()
                page.goto(f"http://localhost:{site.server_address[1]}/index.html")
                seen = page.evaluate(
                    "([hub, dataset, token]) => run(hub, dataset, token)",
                    [hub, published.open_id, token],
                )
            finally:
                browser.close()
    finally:
        site.shutdown()
        site.server_close()
        thread.join(timeout=10)
    assert seen["open"] == 200 and seen["etag"] and seen["total"] == published.valid_rows
    assert seen["ckan"] is True and seen["mine"] == 200
    assert seen["withCookies"] == "blocked"  # no credentials across origins
