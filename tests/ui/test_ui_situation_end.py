"""An open situation page learns that its crisis reached its end, in headless Chromium: the
badge no longer says active, the status line says why the lists stop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api.support import live_server
from ui.test_ui_browser import chromium  # noqa: F401 - the fixture
from ui.test_ui_situation import situation  # noqa: F401 - the fixture
from ui.test_ui_situation_live import live_page

from hub.crises import passages
from hub.models import Crisis, utcnow


@pytest.mark.browser
def test_an_open_page_marks_its_crisis_ended_when_its_window_passes(
    engine,
    situation,  # noqa: F811
    chromium,  # noqa: F811
):
    path = f"/situation/{situation.crisis.id}"
    with live_server() as url, live_page(chromium, url, path, "en-GB") as page:
        assert page.inner_text("#crisis-state") == "ACTIVE"
        table = Crisis.__table__  # type: ignore[attr-defined]
        with engine.begin() as connection:  # its window passes (no wait in a test)
            connection.execute(
                table.update()
                .where(table.c.id == situation.crisis.id)
                .values(ends_at=utcnow() - timedelta(seconds=1))
            )
        passages.tell(engine)
        page.wait_for_function(
            "() => document.getElementById('crisis-state').textContent.toLowerCase() === 'ended'"
        )
        assert page.inner_text("#situation-live") == (
            "This crisis has just reached its end: its crisis data is no longer shared."
        )
