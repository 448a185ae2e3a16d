"""The organizations' pages: every producer with its datasets and charters, then one of them."""

from __future__ import annotations

import re

from api.support import bearer
from pagetext import empty_navigations, page


def test_organizations_list_every_producer_with_kind_datasets_and_charters(client):
    listed = page(client, "/organizations")
    assert re.search(r"Atmo Démo .*public body 4 ", listed.words)
    assert re.search(r"OpenAQ .*public body 1 ", listed.words)
    assert "http://testserver/organizations/atmo-demo" in listed.links
    assert "http://testserver/charters/atmo-demo-restricted" in listed.links
    # a producer known only from a bundled charter is listed, with nothing published yet
    assert "http://testserver/organizations/grid-demo" in listed.links
    assert "nothing published yet" in listed.words
    assert listed.headers[:4] == ["Organization", "Kind", "Datasets", "Charters"]


def test_an_organization_shows_its_datasets_with_access_and_freshness(client, published):
    atmo = page(client, "/organizations/atmo-demo")
    assert "Air quality, Rennes (Atmo Démo)" in atmo.words
    assert "Air quality (restricted test)" in atmo.words
    assert "/datasets/atmo-demo-air" in atmo.links
    for level in ("open", "restricted", "personal", "crisis"):
        assert re.search(rf"\b{level}\b", atmo.words)
    assert "updated just now" in atmo.words or "min ago" in atmo.words
    # counts computed from closed rows stay withheld from anonymous readers
    assert f"{published.valid_rows:,}" in atmo.words and "withheld" in atmo.words
    assert "PM2.5, Toronto (OpenAQ)" not in atmo.words
    one_page = client.get("/organizations/atmo-demo").text
    assert 'class="pager"' not in one_page and empty_navigations(one_page) == []


def test_an_organization_shows_its_charters_versions_and_validity(client):
    atmo = page(client, "/organizations/atmo-demo")
    assert "Atmo Démo restricted test charter" in atmo.words
    assert "January 1, 2026" in atmo.words and "December 31, 2030" in atmo.words
    assert "in force" in atmo.words
    assert "http://testserver/charters/atmo-demo-open" in atmo.links


def test_operators_see_the_counts_of_their_own_closed_datasets(engine, client, published):
    headers = {**bearer(engine, "operator", "atmo-demo"), "Accept-Language": "en"}
    atmo = client.get("/organizations/atmo-demo", headers=headers)
    assert "withheld" not in atmo.text and "/dashboard" in atmo.text


def test_an_unknown_organization_is_a_plain_404(client):
    missing = page(client, "/organizations/nobody-at-all", status=404)
    assert "No organization “nobody-at-all”" in missing.words


def test_organizations_speak_french_by_default(client):
    answer = client.get("/organizations")
    assert answer.headers["content-language"] == "fr"
    assert "Organisations" in answer.text and "organisme public" in answer.text
    atmo = client.get("/organizations/atmo-demo")
    assert "Jeux de données" in atmo.text and "1er janvier 2026" in atmo.text
