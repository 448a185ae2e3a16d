"""The catalogue's home: search, facets, paging, as the server renders them."""

from __future__ import annotations

import re

from pagetext import page


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
    assert "Mar 1, 2026 00:00 UTC → Mar 1, 2026 23:00 UTC" in home.words
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
