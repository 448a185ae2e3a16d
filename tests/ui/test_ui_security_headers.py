"""The UI under its Content-Security-Policy, in headless Chromium: styled, and nothing refused."""

from __future__ import annotations

import pytest
from api.support import live_server
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture


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
                assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
                bar = page.eval_on_selector(
                    "header.bar", "e => getComputedStyle(e).backgroundColor"
                )
                assert bar == "rgb(31, 58, 92)", path  # hub.css's --bar: the stylesheet applied
        finally:
            browser.close()
    assert refused == []
