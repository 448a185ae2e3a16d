"""The situation page followed live, in headless Chromium: the visitor pauses and resumes the
updates, keeps the keyboard focus when the row it is on is refreshed, and hears of an alert only
when it is new (the snapshot's replay of the alerts already listed says nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from api.support import air_batch, frame_of, live_server
from crisisdata import instant
from sqlalchemy import Engine
from ui.test_accessibility import audit
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture
from ui.test_ui_journeys import NEW_STATION
from ui.test_ui_situation import (  # noqa: F401 - the fixture
    AIR,
    INSIDE,
    air_rows,
    alert_batch,
    alert_rows,
    situation,
)

from hub.catalogue import publish
from hub.models import utcnow

LISTED = "warnings@meteo.test|lez-1"  # the alert the server lists
# Every text the live status line shows, as HTML, from before the page's script runs.
RECORD = """window.said = [];
new MutationObserver(function () {
  var live = document.getElementById('situation-live');
  if (live && live.innerHTML && live.innerHTML !== window.said[window.said.length - 1]) {
    window.said.push(live.innerHTML);
  }
}).observe(document, { childList: true, subtree: true, characterData: true });"""
FOLLOWING = """() => {
  var words = JSON.parse(document.getElementById('situation-words').textContent);
  return document.getElementById('situation-live').textContent.startsWith(words.live);
}"""
ANNOUNCE_EVERY = 10  # seconds: situation.js says at most one line that often


@contextmanager
def live_page(browser_path: Any, url: str, path: str, locale: str) -> Iterator[Any]:
    """The page open and following the feed; axe may run in it (no CSP for the injected script)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(browser_path), args=ARGS)
        try:
            context = browser.new_context(locale=locale, bypass_csp=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.add_init_script(RECORD)
            page.goto(f"{url}{path}")
            page.wait_for_function(FOLLOWING)
            yield page
            assert not errors, errors
        finally:
            browser.close()


def publish_air(engine: Engine, stations: list[tuple[str, str, float, float]]) -> None:
    """A new value of each station, measured now."""
    rows = air_rows(utcnow(), stations, (0,))
    publish(air_batch(AIR, "atmo-demo-open", "Air quality, Lez (test)", frame_of(rows)),
            engine=engine)  # fmt: skip


def publish_alerts(engine: Engine, rows: list[dict[str, str]]) -> None:
    publish(alert_batch(rows), engine=engine)


def new_alert(now: datetime, identifier: str, headline: str, **fields: str) -> dict[str, str]:
    """A flood warning over the Lez like the listed one, under another identifier."""
    listed = alert_rows(now - timedelta(hours=1))[0]
    return {**listed, "identifier": identifier, "sent": instant(now), "headline": headline,
            **fields}  # fmt: skip


def focused_is(page: Any, name: str) -> bool:
    """Whether the element focused when `name` was kept is still focused and in the page."""
    return page.evaluate(
        f"() => document.activeElement === window.{name} && window.{name}.isConnected"
    )


@pytest.mark.browser
def test_a_focused_link_stays_focused_when_its_row_is_refreshed(
    engine,
    situation,  # noqa: F811
    chromium,  # noqa: F811
):
    path = f"/situation/{situation.crisis.id}"
    with live_server() as url, live_page(chromium, url, path, "en-GB") as page:
        series = f"#situation-observations tr[data-key='{AIR}|st-pma|no2']"
        page.focus(f"{series} a")
        page.evaluate("() => { window.onSeries = document.activeElement }")
        before = page.get_attribute(series, "data-time")
        publish_air(engine, [INSIDE])  # the series' next value
        page.wait_for_function(
            f"() => document.querySelector(\"{series}\").getAttribute('data-time') !== '{before}'"
        )
        assert "100.25" in page.inner_text(series)
        assert focused_is(page, "onSeries")

        # an update of the listed alert replaces its row: the focus stays on its CAP link
        cap = f"#situation-alerts tr[data-key='{LISTED}'] a"
        page.focus(cap)
        page.evaluate("() => { window.onAlert = document.activeElement }")
        now = utcnow().replace(microsecond=0)
        listed = alert_rows(situation.now)[0]
        references = f"{listed['sender']},{listed['identifier']},{listed['sent']}"
        publish_alerts(engine, [new_alert(now, "lez-1-update", "Flood warning on the Lez, raised",
                                          msgType="Update", references=references)])  # fmt: skip
        page.wait_for_selector("#situation-alerts tr[data-key='warnings@meteo.test|lez-1-update']")
        assert page.locator(f"#situation-alerts tr[data-key='{LISTED}']").count() == 0
        assert focused_is(page, "onAlert")
        named = page.get_by_role("link", name="CAP document — Flood warning on the Lez, raised")
        assert named.count() == 1
        assert page.evaluate("() => document.activeElement.textContent").endswith(", raised")


@pytest.mark.browser
def test_the_pause_button_holds_the_updates_and_resuming_applies_them(
    engine,
    situation,  # noqa: F811
    chromium,  # noqa: F811
):
    path = f"/situation/{situation.crisis.id}"
    with live_server() as url, live_page(chromium, url, path, "fr-FR") as page:
        button = page.get_by_role("button", name="Mettre en pause les mises à jour en direct")
        assert button.get_attribute("aria-pressed") == "false"
        button.click()
        assert button.get_attribute("aria-pressed") == "true"
        assert page.inner_text("#situation-live").startswith("Mises à jour en direct en pause")

        publish_air(engine, [INSIDE, NEW_STATION])  # two rows change while paused
        page.wait_for_function(
            "() => document.getElementById('situation-held').textContent === "
            "'En pause\u00a0: 2 mises à jour en attente, affichées à la reprise.'"
        )
        new_row = page.locator(f"#situation-observations tr[data-key='{AIR}|st-new|no2']")
        assert new_row.count() == 0
        assert "111,25" in page.inner_text(
            f"#situation-observations tr[data-key='{AIR}|st-pma|no2']"
        )
        found = audit(page)  # paused, with its count shown
        assert not found, "\n".join(found)

        button.click()
        assert button.get_attribute("aria-pressed") == "false"
        assert new_row.count() == 1
        assert "100,25" in page.inner_text(
            f"#situation-observations tr[data-key='{AIR}|st-pma|no2']"
        )
        assert page.inner_text("#situation-held") == ""
        assert (
            page.inner_text("#situation-live")
            == "Mises à jour en direct reprises\u00a0: 2 mises à jour en attente affichées."
        )


@pytest.mark.browser
def test_listed_alerts_are_not_announced_and_a_new_one_is_announced_once_in_its_language(
    engine,
    situation,  # noqa: F811
    chromium,  # noqa: F811
):
    path = f"/situation/{situation.crisis.id}"
    with live_server() as url, live_page(chromium, url, path, "fr-FR") as page:
        headline = "Flood warning extended to Lattes"
        publish_alerts(engine, [new_alert(utcnow().replace(microsecond=0), "lez-2", headline)])
        row = page.locator("#situation-alerts tr[data-key='warnings@meteo.test|lez-2']")
        row.wait_for()  # the snapshot, sent before any logged event, has been read by now
        page.wait_for_timeout(ANNOUNCE_EVERY * 1000 + 1000)  # a second line would be said by now

        said = page.evaluate("window.said")
        alerts = [line for line in said if "Nouvelle alerte" in line]
        assert len(alerts) == 1, said
        assert alerts[0].endswith(f'Nouvelle alerte&nbsp;: <span lang="en">{headline}</span>')
        assert not any("Flood warning on the Lez" in line for line in said)
        assert (
            page.locator(f"#situation-alerts tr[data-key='{LISTED}']").get_attribute("data-new")
            is None
        )
        assert row.get_attribute("data-new") == "nouveau"
        # the rebuilt row names its CAP document as the server's rows do
        for name in (f"Document CAP — {headline}", "Document CAP — Flood warning on the Lez"):
            assert page.get_by_role("link", name=name, exact=True).count() == 1, name
        assert row.locator("a .visually-hidden").get_attribute("lang") == "en"
        found = audit(page)
        assert not found, "\n".join(found)
