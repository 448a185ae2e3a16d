"""On a phone the search results come first, right under the search box, with a link to the
filters below them; on a laptop the filters stay beside the results (tester_reuse #8)."""

from __future__ import annotations

import pytest
from api.support import live_server
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def top(page, selector: str) -> float:
    return page.evaluate(f"document.querySelector('{selector}').getBoundingClientRect().top")


def left(page, selector: str) -> float:
    return page.evaluate(f"document.querySelector('{selector}').getBoundingClientRect().left")


@pytest.mark.browser
@pytest.mark.parametrize(("locale", "filters"), [("en-GB", "Filters"), ("fr-FR", "Filtres")])
def test_a_phone_shows_results_first(engine, published, chromium, locale, filters):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(viewport=PHONE, locale=locale, java_script_enabled=False)
            page = context.new_page()
            page.goto(f"{url}/?q=air")
            assert top(page, "ol.hits > li") < PHONE["height"]  # no JavaScript needed
            # the filters follow the results; a link above the results leads to them
            assert top(page, "aside.facets") > top(page, "ol.hits > li")
            link = page.locator("a.to-filters")
            assert link.is_visible() and link.inner_text().startswith(filters)
            assert link.get_attribute("href") == "#filters-title"
            back = page.locator("a.to-results")
            assert back.get_attribute("href") == "#found"
            # on a laptop the filters stand beside the results, and the links are not shown
            wide = browser.new_context(viewport=LAPTOP, locale=locale).new_page()
            wide.goto(f"{url}/?q=air")
            assert left(wide, "aside.facets") < left(wide, "section.results")
            assert abs(top(wide, "aside.facets") - top(wide, "section.results")) < 5
            assert not wide.locator("a.to-filters").is_visible()
        finally:
            browser.close()
