"""/docs and /redoc work offline: their assets come from the hub, their scripts run under a nonce.

The browser test drives headless Chromium against the live hub and records every request the
pages make: none may leave the hub (a request elsewhere is aborted and fails the test), and no
Content-Security-Policy violation may be reported.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from api.support import live_server
from fastapi.testclient import TestClient
from ui import test_ui_browser

from hub.api.docs import ASSETS_DIR
from hub.api.headers import SITE_POLICY

NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]+)'")
ARGS = test_ui_browser.ARGS
chromium = test_ui_browser.chromium  # the fixture: Debian's Chromium, or a skip (a CI failure)
REDOCLY_LOGO = "'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"


def test_the_docs_pages_load_their_assets_from_the_hub(client: TestClient) -> None:
    for path, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        links = re.findall(r'(?:src|href)="([^"]*)"', page.text)
        assert f"/docs-assets/{asset}" in links
        assert all(link.startswith("/") for link in links), links
        assert "cdn.jsdelivr" not in page.text and "fonts.googleapis" not in page.text
        served = client.get(f"/docs-assets/{asset}")
        assert served.status_code == 200
        assert served.headers["content-type"].startswith("text/javascript")
        assert served.content == (ASSETS_DIR / asset).read_bytes()
    assert client.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert client.get("/docs-assets/../pyproject.toml").status_code == 404


def test_only_the_pages_own_scripts_run_and_no_other_page_gets_inline_scripts(
    client: TestClient,
) -> None:
    first, second = client.get("/docs"), client.get("/docs")
    policies = [r.headers["content-security-policy"] for r in (first, second)]
    nonces = [NONCE.findall(p) for p in policies]
    assert all(len(n) == 1 for n in nonces) and nonces[0] != nonces[1]  # one per response
    for response, (nonce,) in zip((first, second), nonces, strict=True):
        scripts = re.findall(r"<script([^>]*)>", response.text)
        assert len(scripts) == 2 and all(f'nonce="{nonce}"' in s for s in scripts)
    for policy in policies:
        assert "unsafe-inline' http" not in policy and "http" not in policy
        assert "script-src 'self' 'nonce-" in policy and "unsafe-eval" not in policy
        assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    redoc = client.get("/redoc")
    assert "script-src 'self' 'nonce-" in redoc.headers["content-security-policy"]
    for path in ("/", "/api/v1/datasets", "/docs-assets/swagger-ui-bundle.js", "/openapi.json"):
        assert client.get(path).headers["content-security-policy"] == SITE_POLICY, path
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


@pytest.mark.browser
def test_swagger_ui_and_redoc_render_offline_in_chromium(
    engine, published, chromium: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    outside: list[str] = []
    violations: list[str] = []
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})

            def keep_home(route, request) -> None:  # noqa: ANN001 — playwright's objects
                requested.append(request.url)
                if request.url.startswith(f"{url}/") or request.url.startswith("data:"):
                    route.continue_()
                else:
                    outside.append(request.url)
                    route.abort()

            context.route("**/*", keep_home)
            page = context.new_page()

            def note_violation(message) -> None:  # noqa: ANN001 — playwright's object
                if "Content Security Policy" in message.text:
                    violations.append(message.text)

            page.on("console", note_violation)
            page.on("pageerror", lambda e: violations.append(f"error: {e}"))

            page.goto(f"{url}/docs")
            page.wait_for_selector(".opblock-summary", timeout=30_000)
            operations = page.locator(".opblock-summary-path").all_inner_texts()
            paths = {p.replace("\u200b", "").strip() for p in operations}
            assert "/api/v1/datasets" in paths and "/api/v1/datasets/{dataset_id}/records" in paths
            assert len(operations) >= 8
            # The document's security schemes give Swagger UI its Authorize dialog.
            page.locator("button.authorize").first.click()
            page.wait_for_selector(".auth-container", timeout=30_000)
            dialog = page.locator(".modal-ux").inner_text()
            assert "bearer" in dialog and "X-CKAN-API-Key" in dialog
            page.locator("button.close-modal").first.click()
            page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)

            page.goto(f"{url}/redoc")
            page.wait_for_selector("[data-section-id]", timeout=30_000)
            page.get_by_text("Search the catalogue", exact=False).first.wait_for(timeout=30_000)
            assert page.locator(".menu-content").count() == 1
            page.screenshot(path=str(tmp_path / "redoc.png"), full_page=False)
        finally:
            browser.close()
    assert not outside, f"requests leaving the hub: {outside}"
    # ReDoc always shows Redocly's logo from its CDN: the policy blocks it before any request
    # is made (it is in no list above), and ReDoc then leaves the image out.
    assert [v for v in violations if REDOCLY_LOGO not in v] == [], violations
    assert not any("redoc.ly" in u for u in requested)
    assert any(u.endswith("/docs-assets/swagger-ui-bundle.js") for u in requested)
    assert any(u.endswith("/docs-assets/redoc.standalone.js") for u in requested)
    assert sum(u.endswith("/openapi.json") for u in requested) == 2
    for name in ("docs.png", "redoc.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_the_docs_pages_say_their_language_and_lead_back_to_the_catalogue(
    client: TestClient,
) -> None:
    for path, other in (("/docs", "/redoc"), ("/redoc", "/docs")):
        page = client.get(path).text
        assert re.search(r'<html lang="en">', page), path
        assert "/static/api-docs.css" in page  # the hub's fixes to the viewers' styles
        links = re.findall(r'<a href="([^"]*)"', page.split("<main", 1)[0])
        assert links == ["/", "/openapi.json", other], (path, links)
        assert page.count("<main") == 1 and page.count("</main>") == 1
    assert client.get("/static/api-docs.css").headers["content-type"].startswith("text/css")


# What the viewers' own markup does and neither configuration nor CSS can undo (README,
# "Accessibility"): Swagger UI nests the buttons of an operation in its summary button, and ReDoc's
# media-type menus are unlabelled <select>s.
VIEWERS_OWN = {"/docs": {"nested-interactive"}, "/redoc": {"select-name"}}


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_pass_axe_but_for_the_viewers_markup(
    engine, published, chromium: Path, path: str
) -> None:
    from playwright.sync_api import sync_playwright
    from ui.test_accessibility import audit

    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            # axe is injected as an inline script, which the page's policy rightly refuses.
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page = context.new_page()
            page.goto(f"{url}{path}", wait_until="networkidle")
            page.wait_for_selector(".opblock-summary, [data-section-id]", timeout=30_000)
            found = audit(page)
        finally:
            browser.close()
    rules = {re.match(r"\[\w+\] ([\w-]+):", v).group(1) for v in found}  # type: ignore[union-attr]
    assert rules <= VIEWERS_OWN[path], f"axe-core on {path}:\n" + "\n".join(found)
