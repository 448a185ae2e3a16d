"""The catalogue's home: search, facets, area, dates, sort and pages, as the server renders them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from pagetext import page
from sqlmodel import Session

from hub.models import Dataset
from hub.ui import home

RENNES = "Air quality, Rennes (Atmo Démo)"
TORONTO = "PM2.5, Toronto (OpenAQ)"
ABERDEEN = "Particulates, Aberdeen (sensor.community)"
TITLES = (
    RENNES,
    TORONTO,
    ABERDEEN,
    "Air quality (restricted test)",
    "Air quality (personal test)",
    "Air quality (crisis test)",
)


def shown(words: str) -> list[str]:
    """The result titles a page shows, in its order."""
    found = [(words.find(f"{t} "), t) for t in TITLES if re.search(rf"{re.escape(t)} \w", words)]
    return [t for _, t in sorted(found)]


def last_data(engine, dataset_id: str, ago: timedelta | None) -> None:
    """Pretend a dataset last received rows `ago`, covering up to then (None: never)."""
    with Session(engine) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        dataset.published_at = None if ago is None else datetime.now(UTC) - ago
        dataset.time_max = dataset.published_at or dataset.time_max
        session.add(dataset)
        session.commit()


def test_home_lists_every_dataset_with_its_facts(client, published):
    home = page(client, "/")
    assert "6 datasets" in home.words
    for title in TITLES:
        assert title in home.words
    assert "http://testserver/datasets/atmo-demo-air" in home.links
    assert "Licence Ouverte / Open Licence 2.0 (Etalab)" in home.words
    assert "updated just now" in home.words or "min ago" in home.words
    assert f"{published.valid_rows} records" in home.words
    assert "Mar 1, 2026 01:00 UTC+1 → Mar 2, 2026 00:00 UTC+1" in home.words
    for level in ("open", "restricted", "personal", "crisis"):
        assert re.search(rf"\b{level}\b", home.words)
    # what is computed from closed rows is not shown to a visitor without a token: record
    # counts for the three open datasets only
    assert len(re.findall(r"\d records\b", home.words)) == 3


def test_home_facets_count_and_filter(client):
    home = page(client, "/")
    assert re.search(r"Air quality 6\b", home.words)
    assert re.search(r"Atmo Démo 4\b", home.words) and re.search(r"OpenAQ 1\b", home.words)
    only = page(client, "/?organization=openaq")
    assert "1 dataset " in only.words + " " and TORONTO in only.words
    assert "Air quality, Rennes" not in only.words
    # the other facet still counts within the chosen organization
    assert re.search(r"Air quality 1\b", only.words)
    # the chosen facet is counted beside its own filter: its other values stay choosable
    assert re.search(r"Atmo Démo 4\b", only.words)


def test_home_searches_words(client):
    found = page(client, "/?q=toronto")
    assert "1 dataset matching" in found.words and TORONTO in found.words
    none = page(client, "/?q=volcano")
    assert "0 datasets" in none.words and "No dataset matches" in none.words


@pytest.mark.parametrize("q", ["😀", "\\", "—", "&|!"])
def test_home_finds_nothing_for_words_without_a_letter(client, q):
    """An emoji or a dash typed in the search box is no word to find: no dataset matches it,
    rather than every one."""
    found = page(client, "/?" + urlencode({"q": q}))
    assert "0 datasets" in found.words and "No dataset matches" in found.words


def test_home_escapes_what_it_echoes(client):
    evil = "<script>alert(1)</script>"
    for params in ({"q": evil}, {"theme": evil}, {"bbox": evil}, {"from": evil}):
        response = client.get("/", params=params)
        assert evil not in response.text
        assert "&lt;script&gt;" in response.text


def test_each_facet_group_is_a_fieldset_of_labelled_checkboxes(client):
    html = client.get("/", headers={"Accept-Language": "en"}).text
    for legend in ("Theme", "Organization", "Licence", "Access", "Format", "Last new data"):
        assert f"<legend>{legend}</legend>" in html
    for name in ("theme", "organization", "licence", "access", "format", "freshness"):
        boxes = re.findall(rf'<input type="checkbox" form="find" id="([^"]+)" name="{name}"', html)
        assert boxes, name
        assert all(f'<label for="{box}">' in html for box in boxes)


@pytest.mark.parametrize(
    ("query", "count", "titles"),
    [
        ("theme=air-quality", 6, TITLES),
        ("theme=energy", 0, ()),
        ("licence=etalab-2.0", 1, (RENNES,)),
        ("access=open", 3, (RENNES, TORONTO, ABERDEEN)),
        ("access=open&access=crisis", 4, (RENNES, "Air quality (crisis test)")),
        ("format=CSV", 6, TITLES),
        ("format=NetCDF", 0, ()),
        ("organization=openaq&organization=sensor-community", 2, (TORONTO, ABERDEEN)),
    ],
)
def test_home_filters_by_each_facet(client, query, count, titles):
    found = page(client, f"/?{query}")
    assert re.search(rf"\b{count} datasets?\b", found.words)
    for title in titles:
        assert title in found.words
    assert len(shown(found.words)) == count


def test_bespoke_licences_are_named_as_such_not_after_one_dataset(client, engine):
    # "custom" gathers each dataset's own licence: no one dataset's title may stand for all
    with Session(engine) as session:
        dataset = session.get(Dataset, "atmo-demo-crisis-air")
        assert dataset is not None and dataset.licence_id == "custom"
        dataset.licence_title = "Crisis-use agreement"
        session.add(dataset)
        session.commit()
    home = page(client, "/")
    assert re.search(r"the dataset's own licence 3\b", home.words)
    assert not re.search(r"(Agreement for tests|Crisis-use agreement) \d", home.words)
    chosen = page(client, "/?licence=custom", language="fr")
    assert "Licence : licence propre au jeu de données" in chosen.words
    # each dataset still shows its own licence's title
    assert "Agreement for tests" in chosen.words and "Crisis-use agreement" in chosen.words


def test_chosen_values_are_checked_and_removable(client):
    html = client.get("/?access=open&access=crisis&q=air", headers={"Accept-Language": "en"}).text
    assert re.search(r'name="access" value="open" checked', html)
    assert re.search(r'name="access" value="crisis" checked', html)
    assert not re.search(r'name="access" value="restricted" checked', html)
    # each chip's link drops that value alone, keeping the words and the other value
    assert 'href="/?q=air&amp;access=crisis"' in html
    assert 'href="/?q=air&amp;access=open"' in html
    assert "Remove all filters" in html and 'href="/?q=air"' in html


DATASET_IDS = (
    "atmo-demo-air",
    "openaq-toronto-pm25",
    "sensor-community-aberdeen",
    *(f"atmo-demo-{level}-air" for level in ("restricted", "personal", "crisis")),
)


def test_data_harvested_today_but_covering_the_past_is_not_up_to_date(client):
    """Rows of March 2026, June 2024 and December 2018, all harvested just now."""
    home = page(client, "/")
    assert "updated just now" in home.words or "min ago" in home.words
    assert re.search(r"more than 30 days ago 6\b", home.words)
    assert re.search(r"late for its theme 6\b", home.words)
    assert not re.search(r"up to date \d", home.words)
    # beside "updated": what the data covers
    assert "(data up to Mar 2, 2026 00:00 UTC+1)" in home.words
    french = page(client, "/", language="fr")
    assert "(données jusqu’au " in french.words


def test_a_search_that_finds_nothing_suggests_the_catalogue_s_words(client):
    typo = client.get("/?q=Aberden&access=open", headers={"Accept-Language": "en"}).text
    assert "No dataset matches" in typo
    assert 'Did you mean <a href="/?q=aberdeen&amp;access=open">aberdeen</a>?' in typo
    french = page(client, "/?q=Aberden", language="fr")
    assert "Vouliez-vous dire aberdeen ?" in french.words
    assert "Did you mean" not in client.get("/?q=Aberdeen").text
    assert "Did you mean" not in client.get("/?q=zzzzzz").text


def test_freshness_and_timeliness_are_counted_and_filtered_by_the_search(client, engine):
    for dataset_id in DATASET_IDS:
        last_data(engine, dataset_id, timedelta(0))
    home = page(client, "/")
    assert re.search(r"less than a day ago 6\b", home.words)
    assert re.search(r"up to date 6\b", home.words)
    last_data(engine, "openaq-toronto-pm25", timedelta(days=10))
    last_data(engine, "sensor-community-aberdeen", timedelta(days=45))
    last_data(engine, "atmo-demo-crisis-air", timedelta(hours=30))
    home = page(client, "/")
    assert re.search(r"less than a day ago 3\b", home.words)
    assert re.search(r"1 to 7 days ago 1\b", home.words)
    assert re.search(r"7 to 30 days ago 1\b", home.words)
    assert re.search(r"more than 30 days ago 1\b", home.words)
    # air quality is expected daily: 30 hours without new data is late
    assert re.search(r"up to date 3\b", home.words) and re.search(
        r"late for its theme 3", home.words
    )

    assert shown(page(client, "/?freshness=month").words) == [TORONTO]
    older = page(client, "/?freshness=older&freshness=week")
    assert set(shown(older.words)) == {ABERDEEN, "Air quality (crisis test)"}
    late = page(client, "/?timeliness=stale&access=open")
    assert set(shown(late.words)) == {TORONTO, ABERDEEN}
    assert re.search(r"stale", late.words)  # each result keeps its own stale badge
    fresh = page(client, "/?timeliness=fresh")
    assert ABERDEEN not in shown(fresh.words) and RENNES in shown(fresh.words)
    # a dataset with no records yet
    last_data(engine, "atmo-demo-personal-air", None)
    never = page(client, "/?freshness=never")
    assert shown(never.words) == ["Air quality (personal test)"]


def test_area_filter_finds_what_lies_inside(client):
    inside = page(client, "/?bbox=-2,47.9,-1.4,48.3")  # around Rennes
    assert RENNES in shown(inside.words) and TORONTO not in inside.words
    toronto = page(client, "/?bbox=-80,43,-79,44")
    assert shown(toronto.words) == [TORONTO]
    nowhere = page(client, "/?bbox=100,-10,110,0")
    assert "0 datasets" in nowhere.words
    html = client.get("/?bbox=-80,43,-79,44").text
    assert '<div class="map" data-pick="bbox"' in html and 'id="bbox"' in html
    assert 'value="-80,43,-79,44"' in html


def test_time_coverage_filter(client):
    # the Rennes sample covers 1 March 2026, Toronto September 2025, Aberdeen December 2018
    march = page(client, "/?from=2026-02-01&until=2026-03-31")
    assert shown(march.words) == [RENNES]
    since = page(client, "/?from=2025-01-01&access=open")
    assert set(shown(since.words)) == {RENNES, TORONTO}
    assert "From: January 1, 2025" in since.words  # the chip shows the date in words


def test_sort_by_title_and_by_last_change(client, engine):
    by_title = shown(page(client, "/?sort=title").words)
    assert by_title == sorted(TITLES, key=str.lower)
    with Session(engine) as session:
        dataset = session.get(Dataset, "sensor-community-aberdeen")
        assert dataset is not None
        dataset.description = "Touched last."
        session.add(dataset)
        session.commit()
    newest = shown(page(client, "/?sort=modified").words)
    assert newest[0] == ABERDEEN and len(newest) == 6
    html = client.get("/?sort=modified").text
    assert '<option value="modified" selected>' in html
    # an unknown sort falls back to relevance
    assert len(shown(page(client, "/?sort=colour").words)) == 6


def test_pages_are_numbered_and_linked(client, monkeypatch):
    monkeypatch.setattr(home, "PAGE_SIZE", 2)
    first = client.get("/?sort=title", headers={"Accept-Language": "en"}).text
    assert "Page 1 of 3" in first and 'rel="prev"' not in first
    assert re.search(r'<a href="/\?sort=title" aria-current="page">', first)
    assert re.search(r'rel="next" href="/\?sort=title&amp;page=2"', first)
    second = client.get("/?sort=title&page=2", headers={"Accept-Language": "en"}).text
    assert 'rel="prev" href="/?sort=title"' in second
    assert 'rel="next" href="/?sort=title&amp;page=3"' in second
    assert re.search(r'href="/\?sort=title&amp;page=2" aria-current="page"', second)
    seen = [shown(page(client, f"/?sort=title&page={n}").words) for n in (1, 2, 3)]
    assert sum(seen, []) == sorted(TITLES, key=str.lower)
    third = client.get("/?sort=title&page=3").text
    assert 'rel="next"' not in third


def test_french_is_the_default(client):
    response = client.get("/")
    assert response.headers["content-language"] == "fr"
    home = page(client, "/", language="fr")
    assert "6 jeux de données" in home.words
    assert "Trouver un jeu de données" in home.words and "Appliquer les filtres" in home.words
    assert "1er mars 2026 01:00 UTC+1 → 2 mars 2026 00:00 UTC+1" in home.words
    assert re.search(r"il y a plus de 30 jours 6\b", home.words)  # the rows cover the past
    one = page(client, "/?q=toronto", language="fr")
    assert "1 jeu de données correspondant à « toronto »" in one.words
    bad = page(client, "/?bbox=nord", status=400, language="fr")
    assert "Saisissez la zone en quatre nombres" in bad.words


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("bbox=abc", "Type the area as four numbers"),
        ("bbox=1,2,3", "Type the area as four numbers"),
        ("bbox=0,95,1,96", "Type the area as four numbers"),
        ("bbox=10,0,5,1", "west edge of the area must be less than its east edge"),
        ("from=2026-13-01", "Type a date as year-month-day"),
        ("from=2026-03-02&until=2026-03-01", "end date must be on or after the start date"),
        ("page=0", "A page is a whole number"),
        ("page=abc", "A page is a whole number"),
        ("page=" + "9" * 40, "A page is a whole number"),
        ("q=" + "a" * 600, "Use at most 500 characters"),
    ],
)
def test_bad_input_is_explained_not_crashed(client, query, message):
    bad = page(client, f"/?{query}", status=400)
    assert message in bad.words
    assert "Some of your search could not be used" in bad.words
    # the rest of the search still runs, without the bad part
    assert re.search(r"\b[0-6] datasets?\b", bad.words)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-12-31&until=2026-12-01", "until"),
        ("from=2026-13-01", "from"),
        ("q=" + "a" * 600, "q"),
        ("bbox=abc", "bbox"),
    ],
)
def test_the_error_summary_names_each_field_as_the_page_labels_it(client, query, field, language):
    html = client.get(f"/?{query}", headers={"Accept-Language": language}).text
    labelled = re.search(rf'<label for="{field}">([^<]+)</label>', html)
    if field == "bbox":  # a fieldset: its legend names the area
        labelled = re.search(r'<fieldset class="area">\s*<legend>([^<]+)</legend>', html)
    assert labelled, field
    name = labelled.group(1)
    assert re.search(rf'<li><a href="#{field}">{re.escape(name)}\s?: ', html), name


def test_absurd_pages_and_unknown_values_answer_gracefully(client):
    far = page(client, f"/?page={10**9}")
    assert "There is no page 1,000,000,000: the results fit on 1." in far.words
    assert "/" in far.links
    unknown = page(client, "/?theme=volcano&access=nobody&freshness=yesterday&timeliness=x")
    assert "0 datasets" in unknown.words
    assert "Theme: volcano" in unknown.words  # still shown, so it can be removed
    html = client.get("/?theme=volcano").text
    assert 'name="theme" value="volcano" checked' in html
    many = "&".join(f"tag={n}&theme=t{n}" for n in range(200))
    assert client.get(f"/?{many}").status_code == 200


def test_bad_fields_are_marked_for_assistive_technology(client):
    html = client.get("/?bbox=abc", headers={"Accept-Language": "en"}).text
    assert 'aria-invalid="true" aria-describedby="bbox-hint bbox-error"' in html
    assert 'id="bbox-error"' in html and 'role="alert"' in html
    assert '<a href="#bbox">' in html


def test_signed_in_agency_sees_what_it_may_read(client, engine):
    from api.support import bearer

    headers = {**bearer(engine, "agency", "atmo-demo"), "Accept-Language": "en"}
    words = client.get("/", headers=headers).text
    # the restricted dataset's rows are readable by its producer's agency: its extent counts
    assert "Air quality (restricted test)" in words
    near = client.get("/?bbox=-2,47.9,-1.4,48.3", headers=headers).text
    assert "Air quality, Rennes" in near


def test_the_search_counts_clock_facets_as_it_filters_them(client, engine):
    from hub import search

    for dataset_id in DATASET_IDS:
        last_data(engine, dataset_id, timedelta(0))
    last_data(engine, "openaq-toronto-pm25", timedelta(days=10))
    last_data(engine, "sensor-community-aberdeen", timedelta(days=45))
    last_data(engine, "atmo-demo-personal-air", None)
    now = datetime.now(UTC)
    counted_facets = ("freshness", "timeliness")
    with Session(engine) as session:
        # in memory (every dataset, words), and wholly in SQL (a sort on a computed value)
        for text, sort in (
            ("", search.RELEVANCE),
            ("air", search.RELEVANCE),
            ("", (("record_count", True),)),
        ):
            every = search.Query(text=text, sort=sort, facets=counted_facets, limit=100, now=now)
            found = search.find(session, every)
            for name in counted_facets:
                assert sum(n for _, n in found.facets[name]) == found.total
                for value, n in found.facets[name]:
                    chosen = search.Query(
                        text=text, sort=sort, filters={name: [value]}, limit=100, now=now
                    )
                    assert search.find(session, chosen).total == n, (text, name, value)
        freshness = dict(
            search.find(session, search.Query(facets=counted_facets, now=now)).facets["freshness"]
        )
        assert freshness == {"day": 3, "month": 1, "older": 1, "never": 1}


FR = {"Accept-Language": "fr"}


def test_each_page_of_results_has_its_own_title_and_a_pager_read_in_order(client, monkeypatch):
    monkeypatch.setattr(home, "PAGE_SIZE", 2)
    titles = [
        re.search(r"<title>(.*?)</title>", client.get(f"/?page={n}", headers=FR).text)[1]
        for n in (1, 2)
    ]
    assert titles == [
        "Jeux de données — Hub territorial de données",
        "Jeux de données, page 2 sur 3 — Hub territorial de données",
    ]
    second = client.get("/?page=2", headers=FR).text
    assert '<a rel="prev" href="/">Page précédente</a>' in second
    assert '<a rel="next" href="/?page=3">Page suivante</a>' in second
    english = client.get("/?page=2", headers={"Accept-Language": "en"}).text
    assert "<title>Datasets, page 2 of 3 — Territorial data hub</title>" in english
    assert ">Next page</a>" in english
