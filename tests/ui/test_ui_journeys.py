"""What an agency's staff member and an operator do in the catalogue, in headless Chromium.

Search and narrow by a facet, open a dataset, see its chart and map drawn offline, switch the
language, sign in as an operator and open the dashboard, keyboard only where it matters. The
screenshots are kept as test artefacts in `HUB_TEST_ARTEFACTS` (default var/test-artefacts/ui).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from api.support import air_batch, frame_of, live_server
from sqlmodel import Session
from ui.test_accessibility import INKED, audit
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture
from ui.test_ui_situation import AIR, CELL, air_rows, situation  # noqa: F401 - the fixture

from hub import crises, runs, tokens
from hub.catalogue import publish
from hub.models import utcnow

ROOT = Path(__file__).resolve().parents[2]
FAILURE = "ReaderError: the feed answered 503 Service Unavailable"
LIVE = "() => document.querySelector('#situation-live').textContent.startsWith('En direct')"
CLOSED = "() => document.querySelector('#situation-live').classList.contains('live-closed')"
NEW_STATION = ("st-new", "Le Millénaire", 3.9080, 43.6110)  # inside the Lez perimeter


@pytest.fixture
def artefacts(request) -> Path:
    """Where this test keeps its screenshots (outside tmp_path, so CI can keep them)."""
    base = Path(os.environ.get("HUB_TEST_ARTEFACTS", ROOT / "var" / "test-artefacts"))
    folder = base / "ui" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.browser
def test_an_agency_finds_understands_and_downloads_a_dataset_in_french_then_english(
    engine,
    published,
    chromium,  # noqa: F811
    artefacts,
):
    from playwright.sync_api import sync_playwright

    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == "fr"

            # keyboard first: the skip link, then the search box
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.className") == "skip"
            page.get_by_role("searchbox").fill("air")
            page.keyboard.press("Enter")
            page.wait_for_url("**/?q=air**")
            everything = page.inner_text("#found")

            # narrow by a facet: the organization Atmo Démo
            page.locator("fieldset.facet label", has_text="Atmo Démo").first.click()
            page.get_by_role("button", name="Appliquer les filtres").click()
            page.wait_for_url("**organization=atmo-demo**")
            narrowed = page.inner_text("#found")
            assert narrowed != everything
            assert page.get_by_role("link", name="PM2.5, Toronto (OpenAQ)").count() == 0
            page.screenshot(path=str(artefacts / "search-fr.png"), full_page=True)

            # the dataset: its interview, charter, chart and map, drawn offline
            page.get_by_role("link", name="Air quality, Rennes (Atmo Démo)").click()
            page.wait_for_url("**/datasets/atmo-demo-air")
            page.wait_for_selector("figure.chart.chart-drawn canvas")
            assert page.evaluate(INKED, "figure.chart canvas") > 500
            page.wait_for_selector(".map .leaflet-overlay-pane path")
            assert page.locator(".map .leaflet-overlay-pane path").count() >= 1
            assert page.locator(".map .leaflet-tile").count() == 0  # offline: no tiles
            text = page.inner_text("main")
            assert "Atmo" in text and "Licence Ouverte" in text
            page.screenshot(path=str(artefacts / "dataset-fr.png"), full_page=True)

            # the download works from the page
            with page.expect_download() as download:
                page.locator("a[href*='format=csv']").first.click(modifiers=["Alt"])
            assert download.value.suggested_filename.endswith(".csv")

            # the language switch, remembered on the next page
            page.locator("header a[lang='en']").click()
            page.wait_for_url("**/datasets/atmo-demo-air")
            assert page.locator("html").get_attribute("lang") == "en"
            page.goto(f"{url}/organizations")
            assert page.locator("html").get_attribute("lang") == "en"
            page.screenshot(path=str(artefacts / "organizations-en.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()


@pytest.mark.browser
def test_an_operator_signs_in_and_sees_its_failed_run_and_quarantine(
    engine,
    published,
    chromium,  # noqa: F811
    artefacts,
):
    from playwright.sync_api import sync_playwright

    runs.record_failed(engine, published.open_id, None, FAILURE)
    with Session(engine) as session:
        token = tokens.issue(session, "operator", ["atmo-demo"], "Atmo harvester").token
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(f"{url}/dashboard")
            page.wait_for_url("**/signin?next=**")
            page.get_by_label("Token").fill(token)
            page.get_by_label("Token").press("Enter")
            page.wait_for_url("**/dashboard")
            cookies = {c["name"]: c for c in context.cookies()}
            assert (
                cookies["hub_session"]["httpOnly"] and token not in cookies["hub_session"]["value"]
            )
            board = page.inner_text("main")
            assert "503 Service Unavailable" in board
            quarantine = page.locator(f"a[href^='/dashboard/quarantine/{published.open_id}.csv']")
            assert quarantine.count() >= 1
            page.screenshot(path=str(artefacts / "dashboard-en.png"), full_page=True)
            context.set_extra_http_headers({})
            found = audit_without_csp(browser, context, page)
            assert not found, "\n".join(found)

            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{url}/")
            assert page.get_by_role("link", name="Sign in").count() == 1
        finally:
            browser.close()


def audit_without_csp(browser, context, page) -> list[str]:
    """axe-core on the signed-in dashboard: a context that lets the injected script run, with
    the same session cookie."""
    checking = browser.new_context(bypass_csp=True, locale="en-GB")
    checking.add_cookies(context.cookies())
    other = checking.new_page()
    other.goto(page.url, wait_until="networkidle")
    try:
        return audit(other)
    finally:
        checking.close()


@pytest.mark.browser
def test_a_crisis_cell_follows_the_situation_live(
    engine,
    situation,  # noqa: F811
    chromium,  # noqa: F811
    artefacts,
):
    from playwright.sync_api import sync_playwright

    with Session(engine) as session:
        token = tokens.issue(session, "crisis-cell", [CELL], "Préfecture COD").token
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            errors: list[str] = []
            page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{url}/situation")
            page.get_by_role(
                "link", name="Connectez-vous avec le jeton de votre cellule de crise"
            ).click()
            page.get_by_label("Jeton").fill(token)
            page.get_by_label("Jeton").press("Enter")
            page.wait_for_url("**/situation")

            # the perimeter, the alert and the observation drawn offline; the outage listed
            page.wait_for_selector(".situation-map.map-drawn .leaflet-overlay-pane path")
            drawn = page.locator(".situation-map .leaflet-overlay-pane path").count()
            assert drawn >= 4  # perimeter, alert, observation, outage
            assert page.locator(".situation-map .leaflet-tile").count() == 0
            assert "Antenna Port Marianne" in page.inner_text("#crisis-data ~ section")
            page.wait_for_function(LIVE)

            # a new observation inside the area, published while the page is open
            publish(
                air_batch(
                    AIR,
                    "atmo-demo-open",
                    "Air quality, Lez (test)",
                    frame_of(air_rows(utcnow(), [NEW_STATION], (0,))),
                ),
                engine=engine,
            )
            row = page.locator(f"#situation-observations tbody tr[data-key='{AIR}|st-new|no2']")
            row.wait_for()
            assert "Le Millénaire" in row.inner_text()
            assert (
                page.locator("#situation-observations tbody tr").first.get_attribute("data-key")
                == f"{AIR}|st-new|no2"
            )
            assert page.locator(".situation-map .leaflet-overlay-pane path").count() == drawn + 1
            # the snapshot's copy of a listed outage is not listed twice
            assert page.locator("table.situation-data tbody tr").count() == 1
            # written as the server writes it, by each field's type: no raw ISO moment
            outage = page.locator("table.situation-data tbody tr").first.inner_text()
            assert " UTC" in outage and not re.search(r"\d{4}-\d\d-\d\dT", outage)
            page.screenshot(path=str(artefacts / "situation-fr.png"), full_page=True)
            assert not errors, errors

            found = audit_without_csp(browser, context, page)
            assert not found, "\n".join(found)

            # the crisis closed while the page is open: the page says so
            crises.close(engine, situation.crisis.id, by="test")
            page.wait_for_function(CLOSED)
        finally:
            browser.close()
