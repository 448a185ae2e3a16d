"""The operator's dashboard: sign-in, its sources' runs and failures, quarantine, downloads,
timeliness against each schedule, and who may not open it."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from api.support import bearer
from pagetext import Page, empty_navigations, page, sign_in
from sqlmodel import Session

from hub import runs, tokens
from hub.config import get_settings
from hub.models import HarvestRun
from hub.ui.dashboard import timeliness

ATMO_FAILURE = "fetch: HTTP 503 from https://example.org/feed.csv after 3 attempts"
OPENAQ_FAILURE = "fetch: the OpenAQ key was refused (401)"


def operator_token(engine, *organizations: str) -> str:
    with Session(engine) as session:
        return tokens.issue(session, "operator", list(organizations), "test operator").token


@pytest.fixture
def failed(engine, published) -> None:
    """A failed run of an Atmo Démo dataset and one of another operator's."""
    runs.record_failed(engine, published.open_id, None, ATMO_FAILURE)
    runs.record_failed(engine, "openaq-toronto-pm25", None, OPENAQ_FAILURE)


def test_anonymous_visitors_are_sent_to_sign_in(client):
    answer = client.get("/dashboard", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=/dashboard"


def test_a_signed_in_operator_sees_its_failures_and_quarantine_not_others(
    engine, client, published, failed
):
    answer = sign_in(client, operator_token(engine, "atmo-demo"))
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    board = page(client, "/dashboard")
    assert "Your organizations: Atmo Démo." in board.words
    assert ATMO_FAILURE in board.words  # the whole reason, to its own operator
    assert re.search(r"Air quality, Rennes \(Atmo Démo\) failed", board.words)
    # the quarantined rows of the partial run, with the link to download them
    csv_link = f"/dashboard/quarantine/{published.open_id}.csv?run={published.run_id}"
    assert csv_link in board.links
    assert re.search(
        rf"partly published {published.valid_rows + published.bad_rows:,} "
        rf"{published.valid_rows:,} {published.bad_rows}\b",
        board.words,
    )
    # its closed datasets and the bundled demo sources of its organization are listed
    assert "Air quality (personal test)" in board.words
    assert "demo-atmo-montpellier-no2" in board.words and "never run" in board.words
    # nothing of another organization
    assert OPENAQ_FAILURE not in board.words and "Toronto" not in board.words


def test_one_page_of_sources_has_no_empty_pages_navigation(engine, client, published, monkeypatch):
    from hub.ui import dashboard

    sign_in(client, operator_token(engine, "atmo-demo"))
    board = client.get("/dashboard", headers={"Accept-Language": "en"}).text
    assert 'class="feed"' in board and 'class="pager"' not in board
    assert empty_navigations(board) == []
    monkeypatch.setattr(dashboard, "FEEDS_PAGE", 1)  # now the sources take several pages
    paged = client.get("/dashboard", headers={"Accept-Language": "en"}).text
    assert 'class="pager"' in paged and empty_navigations(paged) == []


def test_the_operator_downloads_its_quarantined_rows_as_csv(engine, client, published):
    sign_in(client, operator_token(engine, "atmo-demo"))
    answer = client.get(f"/dashboard/quarantine/{published.open_id}.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "no-store" in answer.headers["cache-control"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][0] == "_row" and rows[0][-1] == "_errors"
    assert len(rows) == 1 + published.bad_rows
    assert any(r[rows[0].index("station_id")] == "bad-1" and "pm3" in r[-1] for r in rows[1:])


def test_the_quarantine_csv_refuses_other_operators_and_anonymous_visitors(
    engine, client, published
):
    url = f"/dashboard/quarantine/{published.open_id}.csv?run={published.run_id}"
    anonymous = client.get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/signin")
    sign_in(client, operator_token(engine, "openaq"))
    other = client.get(url, headers={"Accept-Language": "en"})
    assert other.status_code == 403 and "bad-1" not in other.text
    assert "only that organization's operators may download them" in other.text
    closed = client.get(f"/dashboard/quarantine/{published.closed['restricted']}.csv")
    assert closed.status_code == 403
    # and a run of another dataset is no back door
    missing = client.get(f"/dashboard/quarantine/openaq-toronto-pm25.csv?run={published.run_id}")
    assert missing.status_code == 404


def test_an_agency_token_gets_a_403_that_explains(engine, client):
    headers = {**bearer(engine, "agency", "metropole-civil-protection"), "Accept-Language": "en"}
    answer = client.get("/dashboard", headers=headers)
    assert answer.status_code == 403
    words = Page(answer.text).words
    assert "The dashboard is for operators" in words
    assert "whose role (agency) does not open it" in words


def test_downloads_count_reads_of_closed_datasets_by_kind_of_reader(engine, client, published):
    restricted = published.closed["restricted"]
    agency = bearer(engine, "agency", "metropole-civil-protection")
    assert client.get(f"/api/v1/datasets/{restricted}/records", headers=agency).status_code == 200
    headers = {**bearer(engine, "operator", "atmo-demo"), "Accept-Language": "en"}
    board = Page(client.get("/dashboard", headers=headers).text)
    assert "agencies" in board.headers and "Refused" in board.headers
    assert re.search(r"Air quality \(restricted test\) 1 1 \d+ 0", board.words)


def test_a_scheduled_source_is_late_until_a_run_succeeds(
    engine, client, published, tmp_path: Path, monkeypatch
):
    folder = tmp_path / "sources"
    folder.mkdir()
    (folder / "atmo-demo-every-quarter.yaml").write_text(
        "id: atmo-demo-every-quarter\ntitle: NO2 every quarter of an hour\n"
        "operator: {id: atmo-demo, name: Atmo Démo, kind: public}\n"
        "theme: air-quality\nformat: csv\nurl: https://example.org/feed.csv\n"
        "schema: air-quality-observation\ncharter: atmo-demo-open\n"
        "schedule: '*/15 * * * *'\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HUB_SOURCES_PATH", str(folder))
    get_settings.cache_clear()
    headers = {**bearer(engine, "operator", "atmo-demo"), "Accept-Language": "en"}

    row = r"atmo-demo-every-quarter \*/15 \* \* \* \* UTC "

    def board() -> str:
        return Page(client.get("/dashboard", headers=headers).text).words

    assert re.search(row + "no successful run yet", board())
    runs.record_failed(engine, "atmo-demo-every-quarter", "atmo-demo-every-quarter", ATMO_FAILURE)
    assert re.search(row + "no successful run yet", board())
    done = runs.record_finished(
        engine, "atmo-demo-every-quarter", "atmo-demo-every-quarter", "succeeded", "unchanged"
    )
    assert done is not None and re.search(row + "on time", board())
    with Session(engine) as session:  # the success was two hours ago: the schedule has gone by
        stored = session.get(HarvestRun, done.id)
        assert stored is not None
        stored.started_at = datetime.now(UTC) - timedelta(hours=2)
        session.add(stored)
        session.commit()
    assert re.search(row + "late a successful run was expected after", board())
    # a broken file beside it is named, and the others stay listed and judged
    (folder / "typo.yaml").write_text("id: typo\nformat: geojsn\n", encoding="utf-8")
    words = board()
    assert (
        "These harvest source files cannot be read, so they are not harvested: typo.yaml." in words
    )
    assert re.search(row + "late", words)


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_timeliness_follows_the_schedule():
    daily = "0 5 * * *"
    # today's 05:00 run succeeded: on time
    assert timeliness(daily, True, NOW.replace(hour=5, minute=2), NOW).state == "on-time"
    # today's 05:00 run did not succeed and has had its hour: late since 05:00
    late = timeliness(daily, True, NOW - timedelta(days=1, hours=6, minutes=58), NOW)
    assert late.state == "late" and late.due == NOW.replace(hour=5, minute=0)
    # at 05:30 today's run may still be running: yesterday's success is enough
    early = NOW.replace(hour=5, minute=30)
    assert timeliness(daily, True, early - timedelta(days=1), early).state == "on-time"
    # weekdays only: on Monday morning Friday's success is on time
    monday = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    friday = datetime(2026, 12, 4, 5, 1, tzinfo=UTC)
    assert timeliness("0 5 * * 1-5", True, friday, monday).state == "on-time"
    assert timeliness(daily, True, None, NOW).state == "never"
    assert timeliness(None, True, None, NOW).state == "unscheduled"
    assert timeliness(daily, False, None, NOW).state == "disabled"
    assert timeliness("not a cron", True, None, NOW).state == "unreadable"


def test_the_dashboard_speaks_french(engine, client, published, failed):
    sign_in(client, operator_token(engine, "atmo-demo"), language="fr")
    board = page(client, "/dashboard", language="fr")
    assert "Tableau de bord" in board.words and "Échecs des 30 derniers jours" in board.words
    assert ATMO_FAILURE in board.words and "échec" in board.words
