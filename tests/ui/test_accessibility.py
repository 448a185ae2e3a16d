"""WCAG 2.1 AA in headless Chromium: axe-core on every page type, and the charts and maps drawn
from their markup (a chart from its table, a map from the hub's GeoJSON, the area picker)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from api.support import live_server
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture

from hub.api.headers import policy_for
from hub.config import get_settings

# The tests' own copy (make install keeps it in node_modules): the hub never serves it.
AXE = Path(__file__).resolve().parents[2] / "hub/ui/assets/node_modules/axe-core/axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
# One path per page type; a new page type adds its path here.
PAGES = [
    "/",
    "/?q=air",
    "/?q=air&bbox=1,2,3",  # a search with a wrong area: the error summary
    "/datasets/atmo-demo-air",
    "/datasets/atmo-demo-restricted-air",  # records refused: the notice in their place
    "/datasets/nothing",
    "/nowhere",  # an address that names no page: the 404 page
    "/organizations",
    "/organizations/atmo-demo",
    "/charters",
    "/charters/atmo-demo-personal",
    "/signin",
    "/situation",  # no crisis here; the crisis's map and lists: test_ui_journeys
]
# A page of the hub's own origin (Playwright answers it) holding the chart, map and picker
# markup the templates write: the scripts under test come from the live hub's /static.
FIXTURE_PATH = "/test-only/viz"
FIXTURE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Charts and maps</title>
<link rel="stylesheet" href="/static/vendor/uPlot.min.css">
<link rel="stylesheet" href="/static/vendor/leaflet.css">
<link rel="stylesheet" href="/static/hub.css">
<link rel="stylesheet" href="/static/viz.css">
</head><body><main id="main"><h1>Charts and maps</h1>
<figure class="chart" data-chart>
  <figcaption>Nitrogen dioxide and PM2.5, Rennes</figcaption>
  <details><summary>The values as a table</summary>
  <table><thead><tr><th scope="col">Time</th><th scope="col">NO2 (µg/m³)</th>
  <th scope="col">PM2.5 (µg/m³)</th></tr></thead><tbody>
  <tr><th scope="row"><time datetime="2026-03-01T00:00:00Z">1 Mar 00:00</time></th>
    <td>21.5</td><td data-value="8.25">8,25</td></tr>
  <tr><th scope="row"><time datetime="2026-03-01T01:00:00Z">1 Mar 01:00</time></th>
    <td></td><td>9</td></tr>
  <tr><th scope="row"><time datetime="2026-03-01T02:00:00Z">1 Mar 02:00</time></th>
    <td>19</td><td>n/a</td></tr>
  <tr><th scope="row"><time datetime="2026-03-01T03:00:00Z">1 Mar 03:00</time></th>
    <td>24</td><td>11.5</td></tr>
  </tbody></table></details>
</figure>
<div class="map" id="rows" role="region" aria-label="Map of the records"
  data-geojson="/api/v1/datasets/atmo-demo-air/records?format=geojson&amp;limit=50"
  data-bbox="-1.75,48.05,-1.6,48.15" data-tiles="" data-attribution=""
  data-outline="/territory.geojson"></div>
<div class="map" id="extent" role="region" aria-label="Map of the extent"
  data-geojson="" data-bbox="-1.75,48.05,-1.6,48.15" data-tiles="" data-attribution=""
  data-outline="/territory.geojson"></div>
<form action="/" method="get"><label for="area">Area (west,south,east,north)</label>
<input id="area" name="bbox" value="-1.7,48.08,-1.65,48.12" inputmode="decimal">
<div class="map" id="picker" role="region" aria-label="Choose an area on the map"
  data-pick="area" data-tiles="" data-attribution="" data-outline="/territory.geojson"></div>
<button>Search</button></form>
<script src="/static/vendor/uPlot.iife.min.js"></script>
<script src="/static/vendor/leaflet.js"></script>
<script src="/static/chart.js"></script>
<script src="/static/map.js"></script>
</main></body></html>
"""


def _need_axe() -> None:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `make install` (it vendors the npm packages)")


TILES = "https://{s}.tiles.test/{z}/{x}/{y}.png"
TILED = FIXTURE.split("<figure")[0] + (
    '<div class="map" id="tiled" role="region" aria-label="Map with tiles" data-geojson="" '
    f'data-bbox="-1.75,48.05,-1.6,48.15" data-tiles="{TILES}" '
    'data-attribution="© Test &lt;b&gt;tiles&lt;/b&gt;" data-outline="/territory.geojson"></div>'
    '<script src="/static/vendor/leaflet.js"></script><script src="/static/map.js"></script>'
    "</main></body></html>"
)
PNG = base64.b64decode(  # one pixel
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def blocking(results: dict[str, Any]) -> list[str]:
    """axe's serious and critical violations, one readable paragraph each."""
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in BLOCKING:
            continue
        nodes = "\n".join(
            f"    at {' '.join(node['target'])}: {node.get('failureSummary', '').strip()}"
            for node in violation["nodes"]
        )
        found.append(
            f"[{violation['impact']}] {violation['id']}: {violation['help']} "
            f"({violation['helpUrl']})\n{nodes}"
        )
    return found


def audit(page: Any) -> list[str]:
    """Run axe-core in the page with the WCAG 2.1 A and AA rules; its blocking violations."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
    )
    return blocking(results)


@pytest.mark.browser
@pytest.mark.parametrize("path", PAGES)
def test_no_serious_accessibility_violation(engine, published, chromium, tmp_path, path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    _need_axe()
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            # axe is injected as an inline script, which the hub's policy rightly refuses.
            context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            page = context.new_page()
            page.goto(f"{url}{path}", wait_until="networkidle")
            page.screenshot(path=str(tmp_path / f"{_slug(path)}.png"), full_page=True)
            found = audit(page)
        finally:
            browser.close()
    assert not found, f"axe-core on {path}:\n" + "\n".join(found)


@pytest.mark.browser
def test_charts_and_maps_are_drawn_from_their_markup(engine, published, chromium, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    _need_axe()
    problems: list[str] = []
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 1400})
            page = context.new_page()
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            _serve_fixture(page, url)
            page.goto(f"{url}{FIXTURE_PATH}", wait_until="networkidle")
            page.wait_for_selector("#rows.map-drawn, #extent.map-drawn, #picker.map-drawn")

            # the chart: a canvas with ink on it, two series in the legend, the table kept
            assert page.locator("figure.chart.chart-drawn canvas").count() == 1
            assert page.evaluate(INKED, "figure.chart canvas") > 500
            legend = page.locator("figure.chart .u-legend .u-series").all_inner_texts()
            assert [re.sub(r"\s+", " ", t).split(" ")[0] for t in legend[1:]] == [
                "NO2",
                "PM2.5",
            ]
            assert page.locator("figure.chart details table tbody tr").count() == 4

            # the records' map: one circle per station row, over the territory's outline
            page.wait_for_selector("#rows.map-drawn")
            assert page.locator("#rows .leaflet-overlay-pane path").count() == 50
            assert page.locator("#rows .leaflet-pane.leaflet-outline-pane path").count() == 1
            assert page.locator("#rows .leaflet-tile").count() == 0  # no tiles configured
            page.locator("#rows .leaflet-overlay-pane path").first.click(force=True)
            popup = page.locator("#rows .leaflet-popup-content table.map-properties")
            assert "station_id" in popup.inner_text()

            # the extent's map: the bbox as a rectangle
            page.wait_for_selector("#extent.map-drawn")
            assert page.locator("#extent .leaflet-overlay-pane path").count() == 1

            # the picker: the input's area drawn; two clicks choose another one
            page.wait_for_selector("#picker.map-drawn")
            assert page.locator("#picker .leaflet-overlay-pane path").count() == 1
            page.locator("#picker").scroll_into_view_if_needed()
            box = page.locator("#picker").bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7)
            page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
            value = page.input_value("#area")
            assert re.fullmatch(r"(-?\d+(\.\d{1,4})?,){3}-?\d+(\.\d{1,4})?", value), value
            west, south, east, north = map(float, value.split(","))
            assert west < east and south < north and value != "-1.7,48.08,-1.65,48.12"
            # typing an area (as keyboard users do) moves the drawn one
            page.fill("#area", "-1.69,48.09,-1.66,48.11")
            page.dispatch_event("#area", "change")
            assert page.locator("#picker .leaflet-overlay-pane path").count() == 1
            page.wait_for_function(INSIDE, arg="#picker")  # the map moved to show it
            page.screenshot(path=str(tmp_path / "viz.png"), full_page=True)

            # and the drawn chart and maps pass axe too (axe injected past the policy, as above)
            audited = browser.new_context(viewport={"width": 1100, "height": 1400}, bypass_csp=True)
            page = audited.new_page()
            _serve_fixture(page, url)
            page.goto(f"{url}{FIXTURE_PATH}", wait_until="networkidle")
            page.wait_for_selector("#rows.map-drawn")
            found = audit(page)
        finally:
            browser.close()
    assert problems == []
    assert not found, "axe-core on the charts and maps:\n" + "\n".join(found)
    assert (tmp_path / "viz.png").stat().st_size > 10_000


@pytest.mark.browser
def test_tiles_load_from_the_configured_origin_only(engine, published, chromium, monkeypatch):  # noqa: F811
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("HUB_TILES_URL", TILES)
    monkeypatch.setenv("HUB_TILES_ATTRIBUTION", "© Test <b>tiles</b>")
    get_settings.cache_clear()
    problems: list[str] = []
    tiles: list[str] = []
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
            )
            page.route(
                f"{url}{FIXTURE_PATH}",
                lambda route: route.fulfill(
                    body=TILED,
                    content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": policy_for(FIXTURE_PATH)},
                ),
            )
            # The tile server is Playwright: nothing leaves the machine.
            page.route(
                "https://*.tiles.test/**",
                lambda route: (
                    tiles.append(route.request.url),
                    route.fulfill(body=PNG, content_type="image/png"),
                ),
            )
            page.goto(f"{url}{FIXTURE_PATH}", wait_until="networkidle")
            page.wait_for_selector("#tiled.map-drawn")
            assert page.locator("#tiled .leaflet-tile-loaded").count() > 0
            # decoded, not refused by the policy: the image has its pixel
            assert page.eval_on_selector("#tiled .leaflet-tile-loaded", "i => i.naturalWidth") == 1
            credit = page.inner_text("#tiled .leaflet-control-attribution")
            assert "© Test <b>tiles</b>" in credit  # shown as text, never read as HTML
            assert page.locator("#tiled .leaflet-outline-pane").count() == 0
        finally:
            browser.close()
    assert tiles and all(
        re.match(r"https://[abc]\.tiles\.test/\d+/\d+/\d+\.png$", t) for t in tiles
    )
    assert problems == []


# Whether a map's drawn area lies within the map's box (its view moved to show it).
INSIDE = """selector => {
  const map = document.querySelector(selector).getBoundingClientRect();
  const path = document.querySelector(selector + ' .leaflet-overlay-pane path');
  const area = path && path.getBoundingClientRect();
  return !!area && area.width > 10 && area.left >= map.left && area.right <= map.right &&
    area.top >= map.top && area.bottom <= map.bottom;
}"""
# How many pixels of a canvas are not blank.
INKED = """selector => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) inked++; }
  return inked;
}"""


def _serve_fixture(page: Any, url: str) -> None:
    """Answer FIXTURE_PATH on the hub's origin with the fixture, under the hub's policy."""
    page.route(
        f"{url}{FIXTURE_PATH}",
        lambda route: route.fulfill(
            body=FIXTURE,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": policy_for(FIXTURE_PATH)},
        ),
    )


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "home"


# The focused element's indicator colours (outline, then box-shadow) and the ground around it: the
# first opaque background among its ancestors.
FOCUS_COLOURS = """() => {
  const focused = document.activeElement;
  const style = getComputedStyle(focused);
  const colours = [];
  if (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) {
    colours.push(style.outlineColor);
  }
  colours.push(...(style.boxShadow.match(/rgba?\\([^)]*\\)/g) || []));
  let ground = 'rgb(255, 255, 255)';
  for (let node = focused.parentElement; node; node = node.parentElement) {
    const background = getComputedStyle(node).backgroundColor;
    if (!/rgba\\(.*, 0\\)$|transparent/.test(background)) { ground = background; break; }
  }
  return {inHeader: !!focused.closest('header'), inMain: !!focused.closest('main'),
          colours, ground, tag: focused.outerHTML.slice(0, 80)};
}"""


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two CSS rgb() colours."""

    def luminance(colour: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.browser
def test_the_focus_indicator_contrasts_3_to_1_in_the_header_and_in_main(
    engine,
    published,
    chromium,  # noqa: F811
):
    from playwright.sync_api import sync_playwright

    seen: dict[str, dict[str, Any]] = {}
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/datasets/atmo-demo-air")
            for _ in range(40):  # Tab from the skip link through the header into the content
                page.keyboard.press("Tab")
                focus = page.evaluate(FOCUS_COLOURS)
                place = "header" if focus["inHeader"] else "main" if focus["inMain"] else ""
                if place:
                    seen.setdefault(place, focus)
                if len(seen) == 2:
                    break
        finally:
            browser.close()
    assert set(seen) == {"header", "main"}, seen
    for place, focus in seen.items():
        colours, ground = focus["colours"], focus["ground"]
        # One colour of the indicator stands out from the ground, and a second colour, when
        # there is one, stands out from the first (so the pair reads as one ring on any ground).
        assert max(contrast(c, ground) for c in colours) >= 3, (place, focus)
        if len(colours) > 1:
            assert contrast(colours[0], colours[1]) >= 3, (place, focus)


# Each series' legend marker (the time's row first has none): its border style and colour.
MARKERS = """() => [...document.querySelectorAll(
  'figure.chart .u-legend .u-series + .u-series .u-marker')]
  .map(m => [getComputedStyle(m).borderTopStyle, getComputedStyle(m).borderTopColor])"""


@pytest.mark.browser
def test_the_chart_legend_tells_series_apart_without_colour(engine, published, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    drawn: dict[str, list[list[str]]] = {}
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            for forced in ("none", "active"):
                context = browser.new_context(forced_colors=forced)  # type: ignore[arg-type]
                page = context.new_page()
                _serve_fixture(page, url)
                page.goto(f"{url}{FIXTURE_PATH}", wait_until="networkidle")
                page.wait_for_selector("figure.chart.chart-drawn")
                drawn[forced] = page.evaluate(MARKERS)
                context.close()
            # a French page's chart name joins caption and series with French's " : "
            page = browser.new_page()
            page.route(
                f"{url}{FIXTURE_PATH}",
                lambda route: route.fulfill(
                    body=FIXTURE.replace('<html lang="en">', '<html lang="fr">'),
                    content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": policy_for(FIXTURE_PATH)},
                ),
            )
            page.goto(f"{url}{FIXTURE_PATH}", wait_until="networkidle")
            named = page.get_attribute("figure.chart .chart-plot", "aria-label")
        finally:
            browser.close()
    assert named == "Nitrogen dioxide and PM2.5, Rennes\u00a0: NO2 (µg/m³), PM2.5 (µg/m³)"
    for forced, markers in drawn.items():
        # the first series' line is solid and the second's dashed (chart.js's DASHES): so are
        # their markers, whatever colours the system imposes
        assert [style for style, _ in markers] == ["solid", "dashed"], (forced, markers)
    assert len({colour for _, colour in drawn["none"]}) == 2


@pytest.mark.browser
def test_the_chart_draws_in_the_pages_zone_whatever_the_readers(engine, published, chromium):  # noqa: F811
    from playwright.sync_api import sync_playwright

    zoned = FIXTURE.replace(
        '<figure class="chart" data-chart>',
        '<figure class="chart" data-chart data-timezone="Europe/Paris">',
    )
    assert zoned != FIXTURE
    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            # a reader in New York: the chart still says Paris's hour, as the page's table does
            context = browser.new_context(timezone_id="America/New_York", locale="en-US")
            page = context.new_page()
            page.route(
                f"{url}{FIXTURE_PATH}",
                lambda route: route.fulfill(
                    body=zoned,
                    content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": policy_for(FIXTURE_PATH)},
                ),
            )
            page.goto(f"{url}{FIXTURE_PATH}", wait_until="networkidle")
            page.wait_for_selector("figure.chart.chart-drawn")
            over = page.locator("figure.chart .u-over").bounding_box()
            assert over is not None
            # the first point, 2026-03-01T00:00:00Z, is 01:00 in Paris (19:00 in New York)
            page.mouse.move(over["x"] + 2, over["y"] + over["height"] / 2)
            shown = page.locator("figure.chart .u-legend .u-series").first.inner_text()
        finally:
            browser.close()
    assert "01:00" in shown and "GMT+1" in shown, shown
