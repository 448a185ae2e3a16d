"""The catalogue pages, rendered by the server: home with facets, dataset pages, 404."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest


class Page(HTMLParser):
    """Collects text, links, table headers and rows of a page: enough to assert on."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.headers: list[str] = []
        self.rows = 0
        self._in_th = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs).get("href", ""))
        if tag == "th":
            self._in_th = True
            self.headers.append("")
        if tag == "tr":
            self.rows += 1

    def handle_endtag(self, tag):
        if tag == "th":
            self._in_th = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_th:
            self.headers[-1] += data.strip()

    @property
    def words(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def page(client, url: str, status: int = 200) -> Page:
    response = client.get(url)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


def test_home_lists_every_dataset_with_its_facts(client, published):
    home = page(client, "/")
    assert "6 datasets" in home.words
    for title in (
        "Air quality, Rennes (Atmo Démo)",
        "PM2.5, Toronto (OpenAQ)",
        "Particulates, Aberdeen (sensor.community)",
        "Air quality (crisis test)",
    ):
        assert title in home.words
    assert "http://testserver/datasets/atmo-demo-air" in home.links
    assert "Licence Ouverte / Open Licence 2.0 (Etalab)" in home.words
    assert "updated just now" in home.words or "min ago" in home.words
    assert f"{published.valid_rows} records" in home.words
    assert "2026-03-01 00:00 UTC → 2026-03-01 23:00 UTC" in home.words
    for level in ("open", "restricted", "personal", "crisis"):
        assert re.search(rf"\b{level}\b", home.words)


def test_home_facets_count_and_filter(client):
    home = page(client, "/")
    assert re.search(r"Air quality 6\b", home.words)
    assert re.search(r"Atmo Démo 4\b", home.words) and re.search(r"OpenAQ 1\b", home.words)
    only = page(client, "/?organization=openaq")
    assert "1 dataset " in only.words + " " and "PM2.5, Toronto (OpenAQ)" in only.words
    assert "Air quality, Rennes" not in only.words
    # the other facet still counts within the chosen organization
    assert re.search(r"Air quality 1\b", only.words)


def test_home_searches_words(client):
    found = page(client, "/?q=toronto")
    assert "1 dataset matching" in found.words and "PM2.5, Toronto (OpenAQ)" in found.words
    none = page(client, "/?q=volcano")
    assert "0 datasets" in none.words and "No dataset matches" in none.words


def test_home_escapes_what_it_echoes(client):
    response = client.get("/", params={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_a_dataset_page_shows_charter_schema_validation_runs_and_preview(client, published):
    dataset = page(client, "/datasets/atmo-demo-air")
    words = dataset.words
    assert "Air quality, Rennes (Atmo Démo)" in words
    assert "Mandatory attribution" in words and "Source: Atmo Demo" in words
    assert "Licence Ouverte / Open Licence 2.0 (Etalab)" in words
    assert "public-information" in words and "research" in words  # the charter's purposes
    assert "atmo-demo-open version 1.0" in words
    for field in ("station_id", "pollutant", "observed_at", "quality_flag"):
        assert field in dataset.headers or field in words
    assert "enum: pm1, pm25" in words and "minimum: 0" in words
    assert f"{published.bad_rows} rows quarantined" in words
    assert "/api/v1/datasets/atmo-demo-air/validation?run=" in " ".join(dataset.links)
    assert "partial" in words
    # the preview: 20 newest rows, newest first
    assert "The 20 newest of 144 records" in words
    assert "2026-03-01T23:00:00Z" in words and "2026-03-01T00:00:00Z" not in words
    links = " ".join(dataset.links)
    for target in (
        "/records",
        "/records?format=csv",
        "/records?format=geojson",
        "/api/3/action/package_show?id=atmo-demo-air",
    ):
        assert target in links, target


def test_validation_errors_are_counted_by_type(client):
    words = page(client, "/datasets/atmo-demo-air").words
    assert "Errors by type" in words
    assert re.search(r"constraint-error \d+", words) or re.search(r"type-error \d+", words)


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_a_closed_dataset_page_explains_instead_of_previewing(client, published, level):
    dataset = page(client, f"/datasets/{published.closed[level]}")
    assert "Records not shown." in dataset.words
    assert "newest of" not in dataset.words
    assert "station_id" in dataset.words  # the schema stays public
    assert f"Source: Atmo Démo ({level})" in dataset.words


def test_a_real_feed_page_renders(client):
    dataset = page(client, "/datasets/sensor-community-aberdeen")
    assert "Open Database License" in dataset.words or "ODbL" in dataset.words
    assert "The 20 newest of" in dataset.words


def test_an_unknown_dataset_page_is_a_404(client):
    missing = page(client, "/datasets/does-not-exist", status=404)
    assert "No dataset “does-not-exist”" in missing.words


def test_the_stylesheet_is_served(client):
    response = client.get("/static/hub.css")
    assert response.status_code == 200 and "font-family" in response.text
