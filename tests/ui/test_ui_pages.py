"""The dataset pages, rendered by the server, and the 404 of an unknown dataset."""

from __future__ import annotations

import re
from html import unescape

import pytest
from pagetext import page


def test_a_dataset_page_shows_charter_schema_validation_runs_and_preview(client, published):
    dataset = page(client, "/datasets/atmo-demo-air")
    words = dataset.words
    assert "Air quality, Rennes (Atmo Démo)" in words
    assert "Mandatory attribution" in words and "Source: Atmo Demo" in words
    assert "Licence Ouverte / Open Licence 2.0 (Etalab)" in words
    # open data: the licence governs reuse; the charter's purposes are the producer's, not said
    assert "any use the licence allows" in words and "public information" not in words
    assert "atmo-demo-open version 1.0" in words
    for field in ("station_id", "pollutant", "observed_at", "quality_flag"):
        assert field in dataset.headers or field in words
    assert "one of: pm1, pm25" in words and "minimum: 0" in words
    assert f"{published.bad_rows} rows quarantined" in words
    assert "/api/v1/datasets/atmo-demo-air/validation?run=" in " ".join(dataset.links)
    assert "partly published" in words  # the run's state, in words
    # the preview: 20 newest rows, newest first
    assert "The 20 newest of 144 records" in words
    assert "Mar 2, 2026 00:00 UTC+1" in words and "2026-03-01T23:00:00Z" not in words
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


def test_the_schemas_english_descriptions_are_marked_english_on_a_french_page(client):
    french = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "fr"}).text
    assert re.search(r'<td lang="en">[^<]*\w', french)
    english = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "en"}).text
    assert '<td lang="en">' not in english


def test_the_schema_table_names_types_and_constraints_in_the_pages_language(client):
    """Table Schema's words (string, required, minLength) are the hub's, not the data's: a
    French reader gets them in French, the schema's own term kept as the element's title."""
    french = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "fr"}).text
    table = french[
        french.index('id="schema"') : french.index("</table>", french.index('id="schema"'))
    ]
    types = re.findall(r'<span title="(\w+)">([^<]+)</span>', table)
    assert ("string", "texte") in types and ("number", "nombre") in types
    constraints = [
        unescape(c) for c in re.findall(r'class="constraint" title="\w+">([^<]+)<', table)
    ]
    assert "obligatoire" in constraints and "required" not in constraints
    assert any(c.startswith("minimum\u00a0: ") for c in constraints), constraints
    english = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "en"}).text
    assert '<span title="string">text</span>' in english and ">required<" in english


def test_the_preview_heads_its_columns_with_the_schemas_titles_and_names(client):
    """A column is named for people (the schema's title, English, marked so on a French page),
    its field name kept beneath for those who query the API."""
    french = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "fr"}).text
    head = re.search(r'<table class="rows">.*?<thead>(.*?)</thead>', french, re.S)
    assert head, "the page has no preview"
    assert '<span lang="en">Station identifier</span><br><code class="sub">station_id</code>' in (
        head.group(1)
    )
