"""The UI under its Content-Security-Policy, in headless Chromium: styled, its scripts run, and
nothing refused; the policy lets scripts, styles and requests come from the hub alone."""

from __future__ import annotations

import pytest
from api.support import live_server
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture

from hub.api.headers import SITE_POLICY


@pytest.mark.browser
def test_pages_render_styled_with_no_csp_violation(engine, published, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    refused: list[str] = []
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page()
            page.on(
                "console",
                lambda message: (
                    refused.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            for path in (
                "/",
                "/?theme=air-quality",
                f"/datasets/{published.open_id}",
                f"/datasets/{published.closed['crisis']}",
                "/datasets/nothing",
            ):
                response = page.goto(f"{url}{path}")
                assert response is not None
                policy = response.headers["content-security-policy"]
                assert policy == SITE_POLICY, path  # no tiles configured: nothing from elsewhere
                bar = page.eval_on_selector(
                    "header.bar", "e => getComputedStyle(e).backgroundColor"
                )
                assert bar == "rgb(31, 58, 92)", path  # hub.css's --bar: the stylesheet applied
        finally:
            browser.close()
    assert refused == []


def test_the_site_policy_runs_the_hubs_own_scripts_and_nothing_inline():
    directives = dict(d.strip().split(" ", 1) for d in SITE_POLICY.split(";"))
    assert directives == {
        "default-src": "'self'",
        "script-src": "'self'",  # /static/*.js and /static/vendor/*.js; no inline, no eval
        "style-src": "'self'",  # Leaflet and uPlot style through the CSSOM, which this allows
        "img-src": "'self' data:",  # HUB_TILES_URL's origin is added when set (test_territory)
        "connect-src": "'self'",  # maps fetch GeoJSON from the hub only
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
