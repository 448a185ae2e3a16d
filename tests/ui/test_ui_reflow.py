"""Reflow (WCAG 1.4.10) in headless Chromium: at 375 px no page is wider than the screen, even
with the long unbreakable strings real sources bring (a JSON query in a description, a document
hash, purpose codes, an error code beside its words, a grid's units); nor is a citizen's My data
page, with its forms, at 320 px."""

from __future__ import annotations

import pytest
from api.subjects import ALICE, CURVES, World, link, world_fixture  # noqa: F401 - the fixture
from api.support import client_for, live_server
from api.test_api_grids import ECMWF, ERA, publish_grid
from sqlmodel import Session
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture

from hub.models import Dataset
from hub.selfdata import services

# GBIF's own description of an occurrence download: the query is one 60-character word.
QUERY = '{"type":"equals","key":"TAXON_KEY","value":"5213564"}'
DESCRIPTION = (
    f"A dataset containing all occurrences available in GBIF matching the query: {QUERY} "
    "The dataset includes records from the following constituent datasets."
)
MENTION = "MODIS active-fire data: NASA FIRMS (LANCE), doi:10.5067/FIRMS/MODIS/MCD14DL.NRT.0061"
PAGES = [
    "/",  # the description in the results, beside the facets and the area map
    "/datasets/atmo-demo-air",  # the interview, the mention, the errors by type
    "/datasets/era-winds",  # the grid's legend and units
    "/charters/grid-demo-load-curves",  # a sha256 document hash, purpose codes
    "/charters/metropole-risk-restricted",
    "/charters/nasa-firms-open",
    "/charters",
    "/organizations",
    "/organizations/atmo-demo",
    "/situation",
    "/signin",
    "/nowhere",  # the 404 page quotes the address
]
# What reaches past the screen's edge, outside any box of its own that scrolls.
WIDER = """() => {
  const width = document.documentElement.clientWidth;
  const boxed = e => {
    for (let p = e.parentElement; p; p = p.parentElement)
      if (/auto|scroll|hidden/.test(getComputedStyle(p).overflowX)) return true;
    return false;
  };
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && !boxed(e))
    .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.textContent.trim().slice(0, 40)}`)
    .slice(-3);
}"""


@pytest.fixture
def long_strings(engine, published, samples, monkeypatch):
    """The catalogue with a GBIF-like description and mention, and an ERA-Interim grid."""
    publish_grid("era-winds", samples / ERA, ECMWF, "energy", "ecmwf-era-interim")
    with Session(engine) as session:
        dataset = session.get(Dataset, "atmo-demo-air")
        assert dataset is not None
        dataset.description, dataset.mandatory_mention = DESCRIPTION, MENTION
        session.add(dataset)
        session.commit()


@pytest.mark.browser
def test_no_page_is_wider_than_a_375_px_screen(engine, long_strings, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    wider = {}
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 375, "height": 812}, locale="fr-FR")
            page = context.new_page()
            for path in PAGES:
                page.goto(f"{url}{path}", wait_until="load")
                scroll, screen = page.evaluate(
                    "[document.documentElement.scrollWidth, window.innerWidth]"
                )
                if scroll > screen:
                    wider[path] = (scroll, page.evaluate(WIDER))
            page.goto(f"{url}/datasets/atmo-demo-air")
            assert QUERY in page.inner_text(".interview")  # the case under test is on the page
        finally:
            browser.close()
    assert not wider, "\n".join(f"{p}: {w} px, past the edge: {e}" for p, (w, e) in wider.items())


@pytest.mark.browser
def test_a_citizens_my_data_page_fits_a_320_px_screen(engine, world: World, chromium):  # noqa: F811
    # A service's name and address make the consent form's longest option, which sized its grid.
    with Session(engine) as session:
        services.register(session, "Energy coach (demo)", "https://coach.demo.example.org")
    with client_for(engine) as client:
        assert link(client, world, "alice", CURVES, ALICE).status_code == 201
    from playwright.sync_api import sync_playwright

    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 320, "height": 640}, locale="fr-FR")
            page = context.new_page()
            page.goto(f"{url}/signin?next=/me")
            page.fill("#token", world.headers["alice"]["Authorization"].removeprefix("Bearer "))
            page.click("form.form button[type=submit]")
            page.wait_for_url("**/me")
            assert page.locator("#consent-service option").count() >= 2  # the case under test
            scroll, screen = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            past = page.evaluate(WIDER)
        finally:
            browser.close()
    assert scroll <= screen, f"/me: {scroll} px on a {screen} px screen, past the edge: {past}"
