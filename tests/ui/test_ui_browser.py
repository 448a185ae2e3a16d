"""Headless Chromium against the live hub: home, search, a dataset page and its preview."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from api.support import live_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> Path:
    """The system Chromium; missing, it fails the run on CI and skips elsewhere."""
    if not CHROMIUM.is_file():
        reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.mark.browser
def test_a_visitor_searches_opens_a_dataset_and_sees_the_preview(
    engine, published, chromium, tmp_path
):
    from playwright.sync_api import sync_playwright

    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/")
            assert page.title().startswith("Datasets")
            assert page.inner_text("#found").startswith("6 datasets")
            page.screenshot(path=str(tmp_path / "home.png"), full_page=True)

            page.fill("#q", "rennes")
            page.press("#q", "Enter")
            page.wait_for_url("**/?q=rennes**")
            assert page.inner_text("#found").startswith("1 dataset")

            page.get_by_role("link", name="Air quality, Rennes (Atmo Démo)").click()
            page.wait_for_url("**/datasets/atmo-demo-air")
            preview = page.locator("table.rows")
            assert preview.locator("tbody tr").count() == 20
            fields = preview.locator("thead th code").all_inner_texts()
            assert fields[:3] == ["station_id", "station_name", "pollutant"]
            assert preview.locator("thead th").first.inner_text().startswith("Station identifier")
            assert "Mandatory attribution" in page.inner_text(".mention")
            page.screenshot(path=str(tmp_path / "dataset.png"), full_page=True)

            page.goto(f"{url}/datasets/{published.closed['personal']}")
            assert "Records not shown." in page.inner_text(".notice")
            assert page.locator("table.rows").count() == 0
            page.screenshot(path=str(tmp_path / "closed.png"), full_page=True)
        finally:
            browser.close()
    for name in ("home.png", "dataset.png", "closed.png"):
        assert (tmp_path / name).stat().st_size > 10_000


@pytest.mark.browser
def test_a_date_fields_calendar_button_shows_where_focus_is(engine, published, chromium):
    from playwright.sync_api import sync_playwright

    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/")
            page.focus("#from")  # month, day, year, then the calendar button: 4th stop
            for _ in range(3):
                page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.id") == "from"
            assert not page.evaluate("document.querySelector('#from').matches(':focus')")
            style = page.evaluate("getComputedStyle(document.querySelector('#from')).outlineStyle")
            assert style == "solid"
        finally:
            browser.close()
