"""The dataset page's interview, chart, map, grid preview, quarantine and snippets."""

from __future__ import annotations

import base64
import dataclasses
import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from api.support import HOURS, STATIONS, bearer, client_for, energy_mix_batch
from api.test_api_grids import CAMS, ECMWF, ERA, LAB, SFC, publish_grid, write_lab_charter
from pagetext import page, sign_in
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import tokens
from hub.api.shapes import describe
from hub.catalogue import publish
from hub.config import get_settings
from hub.models import AccessEvent, Dataset, HarvestRun, HarvestSource
from hub.ui import i18n, interview


def chart_table(html: str) -> str:
    """The chart figure's markup."""
    found = re.search(r'<figure class="chart" data-chart[^>]*>(.*?)</figure>', html, re.S)
    assert found, "the page has no chart"
    return found.group(1)


def test_the_interview_answers_from_metadata_runs_and_charter(client, published):
    words = page(client, "/datasets/atmo-demo-air").words
    for question in (
        "Who are you?",
        "Who made you?",
        "Where do you live?",
        "How often do you change?",
        "How far back do you go?",
        "Who may use you, and for what?",
        "How reliable are you?",
        "Who uses you?",
    ):
        assert question in words, question
    assert "I am “Air quality, Rennes (Atmo Démo)”, a dataset of the theme “Air quality”." in words
    assert "I am published by Atmo Démo, a public body." in words
    assert "The hub collects me from example.org" in words
    assert "I cover an area of about" in words and "between longitudes -1.68 and -1.2" in words
    assert "My records go back to March 1, 2026 and reach March 2, 2026." in words
    # open data: the licence governs reuse; the charter's purposes and dates are not said
    assert "Anyone may read my records and reuse them under my licence" in words
    assert "any use, commercial included, with no end date" in words
    assert "public information, research" not in words and "valid until" not in words
    assert "Every reuse must show “Source: Atmo Demo" in words
    valid = published.valid_rows
    read = valid + published.bad_rows
    assert "My last checked batch had errors." in words
    assert f"3 rows were set aside (quarantined) out of {read} read" in words
    assert "their reads are not logged, so nobody is counted" in words


def test_who_uses_a_closed_dataset_counts_reads_by_kind_of_actor(engine, client, published):
    restricted = published.closed["restricted"]
    member = bearer(engine, "agency", "metropole-civil-protection")
    # the page reads the newest records and the quarantine (two logged reads), the map a third
    client.get(f"/datasets/{restricted}", headers=member)
    client.get(f"/datasets/{restricted}/map.geojson", headers=member)
    assert client.get(f"/datasets/{restricted}/map.geojson").status_code == 403  # refused
    words = page(client, f"/datasets/{restricted}").words  # no read: nothing logged
    assert "In the last 30 days, 1 reader: 3 reads by agencies." in words
    assert "1 attempt was refused." in words
    # counts only: no identity of any reader reaches the page
    with Session(engine) as session:
        actors = {e.actor_id for e in session.exec(select(AccessEvent)).all()}
    assert all(actor not in words for actor in actors - {"anonymous"})
    # the anonymous visitor sees neither extent nor time span, which the rows give away
    assert "shown only to those who may read all of them" in words
    # who the charter names is for its parties (tests/api/test_charter_term.py)
    assert "Only the members my charter names may read my records." in words
    assert "metropole-civil-protection" not in words
    assert "My charter is valid until December 31, 2030." in words


def test_who_uses_a_personal_dataset_is_told_only_to_its_producer_and_admins(
    engine, client, published
):
    """With few households, reads counted by kind (and readers) tell which subjects are
    active: the public page says only that reads are logged and shown to each subject."""
    personal = published.closed["personal"]
    operator = bearer(engine, "operator", "atmo-demo")
    client.get(f"/api/v1/datasets/{personal}/records", headers=operator)
    assert client.get(f"/api/v1/datasets/{personal}/records").status_code == 401  # refused
    withheld = "Every read of my records is logged. Each person they concern sees every read"
    english = {"Accept-Language": "en"}
    for headers in ({}, bearer(engine, "agency", "metropole-civil-protection")):
        response = client.get(f"/datasets/{personal}", headers={**headers, **english})
        words = unescape(re.sub(r"<[^>]+>", " ", response.text))
        words = " ".join(words.split())
        assert withheld in words
        assert not re.search(r"readers?:|reads? by|attempts? w|Nobody read", words)
    for headers in (operator, bearer(engine, "admin")):
        response = client.get(f"/datasets/{personal}", headers={**headers, **english})
        words = " ".join(unescape(re.sub(r"<[^>]+>", " ", response.text)).split())
        # (the pages' own previews are reads too, or refusals: the counts grow as they go)
        assert re.search(r"In the last 30 days, 1 reader: \d reads by operators\.", words)
        assert re.search(r"\d attempts? w[a-z]+ refused\.", words) and withheld not in words
    # nor are they in the JSON API or DCAT-AP
    for url in (f"/api/v1/datasets/{personal}", "/catalog.jsonld"):
        text = client.get(url).text
        assert not re.search(r"\d+ (reads? by|readers?\b)|attempts? w", text), url
        assert '"usage"' not in text, url


def test_schedules_and_cadences_in_words():
    with i18n.speaking("en"):
        assert interview.schedule_words("*/15 * * * *") == "every 15 minutes"
        assert interview.schedule_words("5 * * * *") == "every hour"
        assert interview.schedule_words("30 6 * * *") == "every day at 06:30 UTC"
        assert interview.schedule_words("0 0 1 */2 *") == "on the schedule “0 0 1 */2 *”"
        assert interview.every(timedelta(minutes=40)) == "about every 40 minutes"
        assert interview.every(timedelta(minutes=58)) == "about every hour"
        assert interview.every(timedelta(hours=3, minutes=5)) == "about every 3 hours"
        assert interview.every(timedelta(days=1, hours=2)) == "about every day"
    with i18n.speaking("fr"):
        assert interview.schedule_words("*/15 * * * *") == "toutes les 15 minutes"
        assert interview.every(timedelta(days=3)) == "environ tous les 3 jours"


def test_the_interview_says_how_often_from_the_schedule_and_the_runs(engine, published):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    runs = [
        HarvestRun(
            dataset_id="atmo-demo-air",
            source_id="atmo-hourly",
            status="succeeded" if hour % 4 else "partial",
            started_at=start + timedelta(hours=hour),
            rows_read=100,
            rows_quarantined=0 if hour % 4 else 2,
            report={"valid": bool(hour % 4)},
        )
        for hour in range(8, 0, -1)  # newest first, as catalogue.runs_of gives them
    ]
    with Session(engine) as session:
        session.add(
            HarvestSource(
                id="atmo-hourly",
                title="Atmo hourly",
                url="https://example.org/feed.csv",
                format="csv",
                schema_name="air-quality-observation",
                charter_id="atmo-demo-open",
                organization_id="atmo-demo",
                theme="air-quality",
                schedule="15 * * * *",
            )
        )
        session.commit()
        dataset = session.get(Dataset, "atmo-demo-air")
        detail = describe(session, dataset, "http://hub.example/")
        facts = interview.card(session, dataset, detail, runs, None, whole=True)
    with i18n.speaking("en"):
        answers = dict(interview.answers(facts))
    assert answers["How often do you change?"].startswith(
        "My source is collected every hour. Lately, new data came about every hour."
    )
    assert answers["How reliable are you?"] == (
        "Of my last 8 checked batches, 6 had no error. Over them, 4 rows were set aside "
        "(quarantined) out of 800 read (0.5 %)."
    )
    with i18n.speaking("fr"):
        answers = dict(interview.answers(facts))
    assert answers["À quel rythme changes-tu\u202f?"].startswith(
        "Ma source est collectée toutes les heures."
    )
    # no sentence about checked batches before it: the counts do not say "over them"
    unchecked = dataclasses.replace(facts, reported_runs=0, valid_runs=0, rows_read=1)
    unchecked = dataclasses.replace(unchecked, rows_quarantined=0)
    with i18n.speaking("en"):
        assert interview.reliability(unchecked) == (
            "Over my batches, 0 rows were set aside (quarantined) out of 1 read (0 %)."
        )
    with i18n.speaking("fr"):
        assert interview.reliability(unchecked) == (
            "Sur l’ensemble de mes lots, 0 ligne a été mise de côté (en quarantaine) "
            "sur 1 lue (0\u00a0%)."
        )
    # a grid's runs read files, not rows: no row counts
    with i18n.speaking("en"):
        said = interview.reliability(dataclasses.replace(facts, grid=True))
    assert said == "Of my last 8 checked batches, 6 had no error."


@pytest.mark.parametrize(
    ("url", "en", "fr"),
    [
        (
            "file://{samples}/air/openaq_location_3145071_measurements.csv",
            "The hub reads me from a file placed in its folders and checks every batch.",
            "Le hub me lit dans un fichier déposé dans ses dossiers et vérifie chaque lot.",
        ),
        (
            "https://data.example.org/feeds/air.csv",
            "The hub collects me from data.example.org and checks every batch.",
            "Le hub me collecte sur data.example.org et vérifie chaque lot.",
        ),
        (
            "",
            "I am published by Atmo Démo, a public body.",
            "Je suis publié par Atmo Démo, un organisme public.",
        ),
    ],
)
def test_the_interview_names_a_web_host_and_never_a_folder_placeholder(
    engine, published, url, en, fr
):
    with Session(engine) as session:
        dataset = session.get(Dataset, "atmo-demo-air")
        dataset.source_url = url
        detail = describe(session, dataset, "http://hub.example/")
        facts = interview.card(session, dataset, detail, [], None, whole=True)
    with i18n.speaking("en"):
        said = dict(interview.answers(facts))["Who made you?"]
    assert said.endswith(en) and "{" not in said
    with i18n.speaking("fr"):
        said = dict(interview.answers(facts))["Qui t’a produit\u202f?"]
    assert said.endswith(fr) and "{" not in said


def test_the_chart_is_a_table_of_the_main_measure_per_pollutant_at_one_station(client):
    html = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "en"}).text
    figure = chart_table(html)
    # the newest record was measured at Saint-Aubin: its series, not a mix of stations
    assert "at Saint-Aubin" in figure
    # titled by the schema's title and the series' one unit, not the raw field name
    caption = re.sub(r"<[^>]+>", "", re.search(r"<figcaption>(.*?)</figcaption>", figure, re.S)[1])
    assert caption.startswith("Value (µg/m³) in the 144 newest records")
    headers = re.findall(r'<th scope="col">([^<]+)</th>', figure)
    assert headers == ["Time (Europe/Paris)", "no2 (µg/m³)", "pm25 (µg/m³)"]
    lines = re.findall(r"<tr><th scope=\"row\"><time datetime=\"([^\"]+)\">.*?</tr>", figure, re.S)
    assert len(lines) == HOURS and lines[0] == "2026-03-01T00:00:00Z"
    assert lines == sorted(lines)
    # the table's hours are the territory's, the zone chart.js is told to draw in: a value has
    # one hour in the chart and in its table
    assert 'data-timezone="Europe/Paris"' in html
    labels = re.findall(r'<time datetime="2026-03-01T00:00:00Z">([^<]+)</time>', figure)
    assert labels == ["March 1, 2026 01:00"]
    last = re.findall(r'data-value="([^"]+)"', figure)[-2:]
    assert last == ["12.5", "12.5"]  # 10 + 23 % 7, then .5, for both pollutants
    # the chart's library and script come from the hub itself, deferred
    assert re.search(r'<script src="[^"]*/static/chart\.js" defer>', html)
    assert re.search(r'<script src="[^"]*/static/vendor/uPlot\.iife\.min\.js" defer>', html)


def test_a_closed_dataset_shows_no_chart_map_or_quarantine_to_an_anonymous_visitor(
    client, published
):
    for level in ("restricted", "personal", "crisis"):
        html = client.get(f"/datasets/{published.closed[level]}").text
        assert "data-chart" not in html and 'class="map"' not in html
        assert "compact quarantine" not in html and "pm3" not in html


@pytest.mark.parametrize(
    ("level", "whose"),
    [
        ("restricted", "The records need a token of someone the charter names;"),
        (
            "personal",
            "with the token of the person they concern, or of a service they consented to;",
        ),
        ("crisis", "need the token of a crisis cell, during a declared crisis that covers them;"),
    ],
)
def test_the_downloads_say_whose_token_reads_a_closed_datasets_records(
    client, published, level, whose
):
    words = page(client, f"/datasets/{published.closed[level]}").words
    assert whose in words
    assert "the documents below are public." in words


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_closed_records_are_not_offered_as_links_that_answer_401(engine, client, published, level):
    dataset = published.closed[level]
    anonymous = page(client, f"/datasets/{dataset}")
    links = " ".join(anonymous.links)
    for target in ("/records", "/datapackage.zip", "format=csv", "format=geojson"):
        assert f"/api/v1/datasets/{dataset}{target}" not in links, target
    assert f"/signin?next=/datasets/{dataset}" in anonymous.links
    assert "Sign in with your token to download the records" in anonymous.words
    # the public documents stay offered
    assert f"http://testserver/api/v1/datasets/{dataset}/schema" in anonymous.links
    # signed in, but not named by the charter: no sign-in prompt, the charter says who reads
    stranger = {**bearer(engine, "agency", "openaq"), "Accept-Language": "en"}
    html = client.get(f"/datasets/{dataset}", headers=stranger).text
    assert f'href="http://testserver/api/v1/datasets/{dataset}/records' not in html
    assert "Your token does not open these records." in html and 'href="#charter"' in html
    french = page(client, f"/datasets/{dataset}", language="fr").words
    assert "Connectez-vous avec votre jeton pour télécharger les enregistrements" in french


def test_a_member_gets_the_restricted_downloads(engine, client, published):
    dataset = published.closed["restricted"]
    member = {**bearer(engine, "agency", "metropole-civil-protection"), "Accept-Language": "en"}
    html = client.get(f"/datasets/{dataset}", headers=member).text
    assert f"http://testserver/api/v1/datasets/{dataset}/records?format=csv" in html
    assert "Sign in with your token to download" not in html


def test_the_map_geojson_holds_the_newest_record_of_each_place(client):
    answer = client.get("/datasets/atmo-demo-air/map.geojson")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    features = answer.json()["features"]
    assert len(features) == len(STATIONS)
    places = {tuple(f["geometry"]["coordinates"]) for f in features}
    assert places == {(float(lon), float(lat)) for _, lon, lat in STATIONS.values()}
    assert all(f["properties"]["observed_at"] == "2026-03-01T23:00:00Z" for f in features)
    assert all("longitude" not in f["properties"] for f in features)
    html = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "en"}).text
    assert 'data-geojson="http://testserver/datasets/atmo-demo-air/map.geojson"' in html
    assert 'role="region" aria-label="Map of the records. 3 places among the' in html
    assert "3 places among the 144 newest records" in page(client, "/datasets/atmo-demo-air").words


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_closed_rows_never_reach_an_anonymous_visitors_map(client, published, level):
    answer = client.get(f"/datasets/{published.closed[level]}/map.geojson")
    assert answer.status_code == 403
    assert "features" not in answer.json() and "st-a" not in answer.text


def test_a_signed_in_member_gets_the_restricted_places(engine, client, published):
    restricted = published.closed["restricted"]
    with Session(engine) as session:
        issued = tokens.issue(session, "agency", ["metropole-civil-protection"], "agency")
    assert sign_in(client, issued.token).status_code == 303
    answer = client.get(f"/datasets/{restricted}/map.geojson")  # the session cookie only
    assert answer.status_code == 200 and len(answer.json()["features"]) == len(STATIONS)
    assert answer.headers["cache-control"] == "private, no-store"
    html = client.get(f"/datasets/{restricted}", headers={"Accept-Language": "en"}).text
    assert f'data-geojson="http://testserver/datasets/{restricted}/map.geojson"' in html
    assert "data-chart" in html
    # personal rows stay closed to the agency: its charter names no agency
    personal = client.get(f"/datasets/{published.closed['personal']}/map.geojson")
    assert personal.status_code == 403


def test_an_operator_sees_its_personal_rows_on_the_map(engine, client, published):
    operator = bearer(engine, "operator", "atmo-demo")
    answer = client.get(f"/datasets/{published.closed['personal']}/map.geojson", headers=operator)
    assert answer.status_code == 200 and len(answer.json()["features"]) == len(STATIONS)


def test_quarantined_rows_are_listed_for_those_who_may_read_every_row(client, published):
    html = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "en"}).text
    found = re.search(r'<table class="compact quarantine">(.*?)</table>', html, re.S)
    assert found, "no quarantine table"
    table = found.group(1)
    assert f"The first {published.bad_rows} quarantined rows of run {published.run_id}" in table
    assert "<code>value</code>" in table and "-5" in table  # the negative value
    assert "pm3" in table and "yesterday" in table
    restricted = client.get(f"/datasets/{published.closed['restricted']}").text
    assert "compact quarantine" not in restricted and "pm3" not in restricted


def test_downloads_and_snippets_name_the_real_base_url_and_dataset(client, published):
    dataset = page(client, "/datasets/atmo-demo-air")
    links = " ".join(dataset.links)
    for target in ("/records?format=csv", "/records?format=geojson", "/datapackage.zip"):
        assert f"http://testserver/api/v1/datasets/atmo-demo-air{target}" in links
    words = dataset.words
    assert 'curl -sS "http://testserver/api/v1/datasets/atmo-demo-air/records?limit=100"' in words
    assert "ckanapi action package_show id=atmo-demo-air -r http://testserver" in words
    assert "resource_id=atmo-demo-air-records" in words
    assert 'httpx.get( "http://testserver/api/v1/datasets/atmo-demo-air/records"' in words
    assert "HUB_TOKEN" not in words  # open records need no token
    closed = page(client, f"/datasets/{published.closed['restricted']}").words
    assert "Authorization: Bearer $HUB_TOKEN" in closed


@pytest.mark.parametrize(
    ("language", "xlsx", "french_csv", "warning"),
    [
        ("fr", "Tableur (XLSX)", "CSV pour un tableur en français", "N’ouvrez pas ce fichier"),
        ("en", "Spreadsheet (XLSX)", "CSV for a French spreadsheet", "Do not open this file"),
    ],
)
def test_the_downloads_offer_spreadsheets_and_warn_of_formulas_by_the_csv(
    client, language, xlsx, french_csv, warning
):
    html = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": language}).text
    downloads = unescape(re.search(r'<ul class="downloads">(.*?)</ul>', html, re.S).group(1))
    api = "http://testserver/api/v1/datasets/atmo-demo-air/records"
    assert f'<a href="{api}?format=xlsx' in downloads and xlsx in downloads
    assert f'<a href="{api}?format=csv&dialect=excel-fr' in downloads and french_csv in downloads
    # The formula warning stands in the CSV's own item, in the page's language.
    csv_item = re.search(rf'<li><a href="{re.escape(api)}\?format=csv"(.*?)</li>', downloads, re.S)
    assert csv_item and warning in csv_item.group(1).replace("'", "’")


def test_a_table_without_coordinates_offers_no_geojson(engine, client):
    publish(energy_mix_batch("rte-mix"), engine=engine)
    shown = page(client, "/datasets/rte-mix")
    links = " ".join(shown.links)
    assert "http://testserver/api/v1/datasets/rte-mix/records?format=csv" in links
    assert "format=geojson" not in links
    assert "" not in shown.links  # no download offered at a link it does not have
    assert "the records as points" not in shown.words


@pytest.mark.parametrize(
    ("language", "moment", "value", "longitude"),
    [
        ("fr", "2 mars 2026 00:00 UTC+1", "12,5", "-1,68"),
        ("en", "Mar 2, 2026 00:00 UTC+1", "12.5", "-1.68"),
    ],
)
def test_the_latest_records_are_written_the_pages_way(client, language, moment, value, longitude):
    html = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": language}).text
    found = re.search(r'<table class="rows">(.*?)</table>', html, re.S)
    assert found, "no preview table"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", found.group(1))
    assert moment in cells and value in cells and longitude in cells
    assert not any("2026-03-01T" in c for c in cells)


def test_codes_are_named_in_the_pages_language(engine, client, published):
    html = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "fr"}).text
    states = re.findall(r'<span class="status status-([a-z]+)">([^<]+)</span>', html)
    assert states and all(code != shown for code, shown in states)  # "succeeded": "réussi"
    words = page(client, "/datasets/atmo-demo-air", language="fr").words
    # an open dataset's page leaves purposes to its charter's page, which names them in French
    charter = page(client, "/charters/atmo-demo-open", language="fr").words
    assert "information du public" in charter
    assert "public-information" not in charter and "public information" not in charter
    assert re.search(r"Producteur Atmo Démo\b", words)  # its name, linked, not its id
    assert (
        "http://testserver/organizations/atmo-demo" in page(client, "/datasets/atmo-demo-air").links
    )
    crisis = page(client, f"/datasets/{published.closed['crisis']}", language="fr").words
    assert "cellule de crise »" not in crisis  # who the charter names is for its parties only
    # the header names the visitor's role in words too
    with Session(engine) as session:
        issued = tokens.issue(session, "crisis-cell", ["prefecture-herault-cell"], "Cell")
    assert sign_in(client, issued.token).status_code == 303
    signed = client.get("/datasets/atmo-demo-air", headers={"Accept-Language": "fr"}).text
    assert re.search(r"Connecté\u00a0: [^<]*\(cellule de crise\)", signed)
    crisis = page(client, f"/datasets/{published.closed['crisis']}", language="fr").words
    assert "tout jeton de rôle « cellule de crise »" in crisis  # a role the charter names


def test_the_page_speaks_french_by_default(client, published):
    words = page(client, "/datasets/atmo-demo-air", language="fr").words
    assert "Qui es-tu ?" in words and "Qui t’utilise ?" in words
    assert (
        "Je suis « Air quality, Rennes (Atmo Démo) », un jeu de données "
        "du thème « Qualité de l’air »." in words
    )
    assert "Mention obligatoire" in words
    assert "Les 20 plus récents des 144 enregistrements" in words
    assert "Heure (Europe/Paris)" in words
    closed = page(client, f"/datasets/{published.closed['restricted']}", language="fr").words
    assert "Enregistrements non affichés." in closed


# --- grids ---------------------------------------------------------------------------------


@pytest.fixture
def grids(engine: Engine, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Real CAMS and ERA-Interim samples published open, and CAMS under a restricted charter."""
    write_lab_charter(tmp_path / "charters")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path / "charters"))
    get_settings.cache_clear()
    publish_grid("cams-sfc", samples / SFC, CAMS, "air-quality", "copernicus-cams")
    publish_grid("era-winds", samples / ERA, ECMWF, "energy", "ecmwf-era-interim")
    publish_grid("lab-grid", samples / SFC, LAB, "air-quality", "grid-lab-restricted")
    with client_for(engine) as client:
        yield client


def grid_picture(client, dataset_id: str) -> tuple[np.ndarray, str]:
    """A grid page's picture as colour indices (rows top down), and its text alternative."""
    html = client.get(f"/datasets/{dataset_id}", headers={"Accept-Language": "en"}).text
    found = re.search(r'<img src="data:image/png;base64,([^"]+)"[^>]*alt="([^"]+)"', html)
    assert found, "no grid picture"
    body = base64.b64decode(found.group(1))
    assert body[:8] == b"\x89PNG\r\n\x1a\n" and body[12:16] == b"IHDR"
    width, height, depth, kind = struct.unpack(">IIBB", body[16:26])
    assert depth == 8 and kind == 3  # 8-bit palette
    start = body.index(b"IDAT") + 4
    size = struct.unpack(">I", body[start - 8 : start - 4])[0]
    raw = zlib.decompress(body[start : start + size])
    lines = [raw[y * (width + 1) : (y + 1) * (width + 1)] for y in range(height)]
    assert all(line[0] == 0 for line in lines)  # no filter
    return np.array([list(line[1:]) for line in lines], dtype=np.uint8), unescape(found.group(2))


def test_a_grid_is_previewed_at_its_latest_time_north_up_with_its_values_in_words(grids, samples):
    pixels, alt = grid_picture(grids, "cams-sfc")
    with xr.open_dataset(samples / SFC) as ds:
        latest = ds["sp"].isel(time=-1).values  # latitudes run north to south already
        moment = ds["time"].values[-1]
    low, high = float(latest.min()), float(latest.max())
    expected = np.round((latest - low) / (high - low) * 254).astype(np.uint8)
    assert pixels.shape == latest.shape and (pixels == expected).all()
    assert str(moment).startswith("2020-07-02T21:00")
    with i18n.speaking("en"):
        shown = (i18n.number(low), i18n.number(high))
    assert alt.startswith("Map of Surface pressure at Jul 2, 2020 23:00 UTC+2: values from ")
    assert f"from {shown[0]} to {shown[1]} Pa" in alt
    words = page(grids, "/datasets/cams-sfc").words
    assert "the latest of 16 time steps" in words and "Empty cells are missing values." in words


def test_a_large_global_grid_is_sampled_and_its_other_dimensions_named(grids):
    pixels, alt = grid_picture(grids, "era-winds")
    assert pixels.shape == (121, 240)  # 241 × 480 cells, one in two along each axis
    words = page(grids, "/datasets/era-winds").words
    assert "one cell in 2 shown along each axis" in words
    assert "first index of month, level" in words
    html = grids.get("/datasets/era-winds", headers={"Accept-Language": "fr"}).text
    assert "\u00a0; premier indice de" in html  # the French space before the semicolon
    french = page(grids, "/datasets/era-winds", language="fr").words
    assert "mise de côté" not in french and "Sur ces lots" not in french  # files, not rows
    assert "its only time step" in alt


def test_a_grids_page_offers_its_grid_and_no_record_downloads(grids):
    """Records, CSV, GeoJSON, the data package and the schema answered 404 on a grid."""
    shown = page(grids, "/datasets/era-winds")
    links = " ".join(shown.links)
    assert "/records" not in links and "/datapackage.zip" not in links and "/schema" not in links
    assert "" not in shown.links and "JSON records" not in shown.words
    assert "http://testserver/api/v1/datasets/era-winds/grid?format=netcdf" in shown.links
    assert 'curl -sS "http://testserver/api/v1/datasets/era-winds/grid"' in shown.words
    assert "/records" not in shown.words


def test_a_grids_page_counts_its_values_not_records(grids):
    assert "144 values in a grid" in page(grids, "/datasets/cams-sfc").words
    assert "144 valeurs dans une grille" in page(grids, "/datasets/cams-sfc", language="fr").words
    assert "0 records" not in page(grids, "/datasets/cams-sfc").words
    assert "record count withheld" in page(grids, "/datasets/lab-grid").words


def test_the_search_results_count_a_grids_values_not_records(grids):
    found = page(grids, "/?q=cams", language="fr").words
    assert "144 valeurs dans une grille" in found
    assert "0 enregistrement" not in page(grids, "/", language="fr").words
    # a grid whose size is withheld says nothing of it, as its page
    lab = page(grids, "/?organization=grid-lab", language="fr")
    assert "/datasets/lab-grid" in " ".join(lab.links)
    assert "valeurs dans une grille" not in lab.words
    assert not re.search(r"\d enregistrements?\b", lab.words)


def test_a_restricted_grid_is_previewed_only_for_those_it_names(engine, grids):
    closed = grids.get("/datasets/lab-grid", headers={"Accept-Language": "en"}).text
    assert "data:image/png" not in closed
    assert "The grid preview is shown to those who may read the grid." in closed
    assert 'href="http://testserver/api/v1/datasets/lab-grid/grid?format=netcdf"' not in closed
    member = bearer(engine, "agency", "metropole-civil-protection")
    opened = grids.get("/datasets/lab-grid", headers={**member, "Accept-Language": "en"}).text
    assert "data:image/png;base64," in opened
    assert 'href="http://testserver/api/v1/datasets/lab-grid/grid?format=netcdf"' in opened
    french = page(grids, "/datasets/cams-sfc", language="fr").words
    assert "Aperçu de la grille" in french and "le dernier de 16 pas de temps" in french
