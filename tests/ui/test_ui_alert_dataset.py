"""An alert dataset's page lists its alerts (headline, area, severity, validity), not a chart
of CAP's info_index, and its record table starts with the columns a citizen reads."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from api.support import client_for
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from ui.pagetext import page
from ui.test_ui_situation import ALERTS, alert_batch, alert_rows

from hub.catalogue import publish
from hub.models import utcnow


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    publish(alert_batch(alert_rows(utcnow().replace(microsecond=0))), engine=engine)
    with client_for(engine) as client:
        yield client


def alerts_table(html: str) -> str:
    found = re.search(r'<table class="compact alerts">(.*?)</table>', html, re.S)
    assert found, "the page lists no alerts"
    return found.group(1)


def test_an_alert_dataset_lists_its_alerts_instead_of_charting_info_index(client):
    html = client.get(f"/datasets/{ALERTS}", headers={"Accept-Language": "en"}).text
    assert "data-chart" not in html and "info_index in the" not in html
    table = alerts_table(html)
    headers = re.findall(r'<th scope="col">([^<]+)</th>', table)
    assert headers == ["Alert", "Area", "Severity", "Start", "End"]
    words = page(client, f"/datasets/{ALERTS}").words
    assert "Flood warning on the Lez Lez valley severe" in words
    assert "Wind warning far away Lez valley minor" in words
    assert 'href="#alerts"' in html
    assert len(re.findall(r"<time datetime=", table)) == 4  # from and until of each


def test_the_alert_list_speaks_french(client):
    words = page(client, f"/datasets/{ALERTS}", language="fr").words
    assert "Alertes" in words and "Gravité" in words
    assert "Flood warning on the Lez Lez valley sévère" in words


def test_an_alert_records_table_starts_with_the_human_columns(client):
    html = client.get(f"/datasets/{ALERTS}", headers={"Accept-Language": "en"}).text
    rows = re.search(r'<table class="rows">(.*?)</table>', html, re.S)
    assert rows
    names = re.findall(r'<code class="sub">([^<]+)</code>', rows.group(1))
    assert names[:5] == ["headline", "area_desc", "severity", "urgency", "certainty"]
    assert names[-4:] == ["info_index", "area", "cap_xml", "signed_xml"]
