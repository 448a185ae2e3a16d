"""A dataset page's chart answers a choice made without JavaScript: a place, a period, daily
means; it is titled by the schema, and offers the same selection as downloads (tester_reuse #7)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from ui.pagetext import page
from ui.test_ui_dataset import chart_table

URL = "/datasets/atmo-demo-air"


def caption(html: str) -> str:
    found = re.search(r"<figcaption>(.*?)</figcaption>", chart_table(html), re.S)
    assert found
    return unescape(re.sub(r"<[^>]+>", "", found.group(1)))


def test_the_page_has_a_selection_form_with_the_places(client):
    html = client.get(URL, headers={"Accept-Language": "en"}).text
    form = re.search(
        r'<form class="selection" method="get" action="#over-time".*?</form>', html, re.S
    )
    assert form, "the chart has no selection form"
    options = re.findall(r'<option value="(st-[abc])"', form.group(0))
    assert sorted(options) == ["st-a", "st-b", "st-c"]
    assert 'name="from" type="date"' in form.group(0) and 'name="daily"' in form.group(0)


def test_a_chosen_place_and_day_redraw_the_chart_and_its_table(client):
    html = client.get(
        f"{URL}?place=st-a&from=2026-03-01&to=2026-03-01", headers={"Accept-Language": "en"}
    ).text
    assert caption(html).startswith("Value (µg/m³) in the 48 newest records of this selection")
    assert "Saint-Aubin" not in caption(html)
    assert '<option value="st-a" selected>' in html
    rows = re.findall(r'<tr><th scope="row"><time datetime="([^"]+)">', chart_table(html))
    assert len(rows) == 24 and rows == sorted(rows)


def test_daily_means_make_one_line_a_day(client):
    html = client.get(f"{URL}?place=st-b&daily=1", headers={"Accept-Language": "en"}).text
    rows = re.findall(r'<tr><th scope="row"><time datetime="([^"]+)">', chart_table(html))
    assert rows == ["2026-03-01"]
    assert "daily means" in caption(html)
    values = re.findall(r'data-value="([^"]+)"', chart_table(html))
    assert len(values) == 2 and all(float(v) > 0 for v in values)


def test_the_selection_is_offered_as_downloads_that_answer(client):
    html = client.get(f"{URL}?place=st-a&from=2026-03-01&to=2026-03-01").text
    links = re.findall(r'<p class="selection-links">(.*?)</p>', html, re.S)
    assert links
    csv = unescape(re.search(r"href=\"([^\"]+format=csv[^\"]*)\"", links[0]).group(1))
    assert "station_id=st-a" in csv and "from=2026-03-01T00%3A00%3A00Z" in csv
    assert "to=2026-03-02T00%3A00%3A00Z" in csv
    answer = client.get(csv.replace("http://testserver", ""))
    assert answer.status_code == 200
    lines = answer.text.strip().splitlines()
    assert len(lines) == 1 + 48 and all("st-a" in line for line in lines[1:])


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "Choose what the chart shows"), ("fr", "Choisir ce que montre le graphique")],
)
def test_the_form_speaks_the_pages_language(client, language, words):
    assert words in page(client, URL, language=language).words
