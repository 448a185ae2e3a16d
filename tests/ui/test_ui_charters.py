"""The charters' pages: every charter, then each one's versions, terms and datasets."""

from __future__ import annotations

import re
from pathlib import Path

from api.support import bearer
from pagetext import Page, page

from hub import charters
from hub.config import PROJECT_ROOT


def test_charters_list_producer_access_version_validity_and_datasets(client):
    listed = page(client, "/charters")
    assert listed.headers[:7] == [
        "Charter",
        "Producer",
        "Access",
        "Current version",
        "Valid from",
        "Valid until",
        "Datasets",
    ]
    assert re.search(
        r"Atmo Démo restricted test charter atmo-demo-restricted Atmo Démo restricted "
        r"2\.1 \(in force\) January 1, 2026 December 31, 2030 1\b",
        listed.words,
    )
    assert "http://testserver/charters/atmo-demo-open" in listed.links
    assert "http://testserver/organizations/atmo-demo" in listed.links
    # bundled charters nobody publishes under yet are listed too, with their versions
    assert "http://testserver/charters/grid-demo-load-curves" in listed.links
    assert "2 versions" in listed.words


def test_a_charter_shows_each_version_and_the_datasets_under_it(client):
    restricted = page(client, "/charters/atmo-demo-restricted")
    assert "Version 2.1" in restricted.words and "in force" in restricted.words
    assert "testing" in restricted.words
    assert "Agreement for tests" in restricted.words
    assert "Source: Atmo Démo (restricted)" in restricted.words
    assert "January 1, 2026" in restricted.words and "December 31, 2030" in restricted.words
    # an organization without a page of its own is named, not linked (the link answered 404)
    assert "http://testserver/organizations/metropole-civil-protection" not in restricted.links
    assert "Datasets published under version 2.1" in restricted.words
    assert "/datasets/atmo-demo-restricted-air" in restricted.links
    assert "1 dataset is published under this charter." in restricted.words


def test_a_charter_links_only_the_organizations_that_have_a_page(client, engine, tmp_path: Path):
    # a party (the producer's operator) sees the member list; English words
    producer = {**bearer(engine, "operator", "atmo-demo"), "Accept-Language": "en"}
    for charter in ("atmo-demo-restricted", "atmo-demo-crisis", "atmo-demo-open"):
        shown = Page(client.get(f"/charters/{charter}", headers=producer).text)
        for link in shown.links:
            if "/organizations/" in link:
                assert client.get(link).status_code == 200, link
    restricted = Page(client.get("/charters/atmo-demo-restricted", headers=producer).text)
    assert "metropole-civil-protection" in restricted.words  # named, not linked
    crisis = Page(client.get("/charters/atmo-demo-crisis", headers=producer).text)
    assert "every crisis cell" in crisis.words
    # an anonymous visitor is no party: the list is kept from it, as the API keeps it
    assert "metropole-civil-protection" not in page(client, "/charters/atmo-demo-restricted").words


def test_a_personal_charter_shows_its_terms_and_signature_per_version(client):
    grid = page(client, "/charters/grid-demo-load-curves")
    assert "Version 2.0" in grid.words and "Version 1.0" in grid.words
    assert "the data subject's consent (GDPR art. 6(1)(a))" in grid.words
    assert "730 days, counted from each row's own time" in grid.words
    assert "10 people" in grid.words
    assert "Delivery point number (PDL)" in grid.words
    assert "sha256:0d6f3b8a2c1e9f7d" in grid.words and "October 15, 2026" in grid.words
    assert "No dataset is published under this charter yet." in grid.words
    french = page(client, "/charters/grid-demo-load-curves", language="fr")
    assert "Numéro de point de livraison (PDL)" in french.words
    assert "730 jours" in french.words and "Base légale" in french.words


def test_versions_are_told_apart_when_one_supersedes_another(client, tmp_path: Path):
    folder = tmp_path / "charters"
    source = (folder / "atmo-demo-crisis.yaml").read_text(encoding="utf-8")
    (folder / "atmo-demo-crisis.yaml").unlink()
    (folder / "atmo-demo-crisis@2.1.yaml").write_text(source, encoding="utf-8")
    newer = source.replace('version: "2.1"', 'version: "3.0"').replace(
        'valid_from: "2026-01-01"', 'valid_from: "2026-06-01"'
    )
    (folder / "atmo-demo-crisis@3.0.yaml").write_text(newer, encoding="utf-8")
    crisis = page(client, "/charters/atmo-demo-crisis")
    assert re.search(r"Version 3\.0 in force .*Version 2\.1 superseded", crisis.words)
    # the dataset was checked against 2.1 and stays listed under it
    assert re.search(
        r"Datasets published under version 3\.0 None\. .*"
        r"Datasets published under version 2\.1 Air quality \(crisis test\)",
        crisis.words,
    )


def test_a_broken_charter_file_is_listed_not_fatal(client, tmp_path: Path):
    (tmp_path / "charters" / "broken-one.yaml").write_text("id: [\n", encoding="utf-8")
    listed = page(client, "/charters")
    assert "cannot be read" in listed.words and "broken-one" in listed.words
    assert str(tmp_path) not in listed.words  # no server path
    assert "Atmo Démo restricted test charter" in listed.words
    shown = page(client, "/charters/broken-one")
    assert "cannot be read" in shown.words


def test_an_unknown_charter_is_a_404(client):
    missing = page(client, "/charters/no-such-charter", status=404)
    assert "No charter “no-such-charter”" in missing.words


def test_charters_speak_french_by_default(client):
    answer = client.get("/charters")
    assert answer.headers["content-language"] == "fr"
    assert "Chartes" in answer.text and "en vigueur" in answer.text


def test_every_bundled_charter_renders_with_its_versions(client):
    for charter_id in sorted(
        {p.stem.split("@")[0] for p in (PROJECT_ROOT / "charters").glob("*.yaml")}
    ):
        shown = page(client, f"/charters/{charter_id}")
        for version in charters.charter_versions(charter_id):
            assert version.title in shown.words and f"Version {version.version}" in shown.words
