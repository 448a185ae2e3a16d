"""A dataset's map tells absences from presences, and its popups say what, when and how sure,
and how many records a place holds beyond the one its point shows (tester_bio #9)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api.support import client_for, live_server
from crisisdata import frame
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from ui.pagetext import page
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture

from hub.catalogue import Batch, Publisher, publish

DATASET = "onem-test-inventory"
LEZ, CASTRIES = ("3.9", "43.6"), ("3.98", "43.68")


def occurrence(number: int, name: str, day: str, place: tuple[str, str], status: str) -> dict:
    return {
        "occurrenceID": f"onem-{number:03}",
        "basisOfRecord": "HumanObservation",
        "scientificName": name,
        "kingdom": "Animalia",
        "family": "Emydidae",
        "genus": name.split()[0],
        "taxonRank": "species",
        "eventDate": day,
        "decimalLongitude": place[0],
        "decimalLatitude": place[1],
        "coordinateUncertaintyInMeters": "30",
        "occurrenceStatus": status,
        "individualCount": "0" if status == "absent" else "2",
    }


@pytest.fixture
def occurrences(engine: Engine) -> None:
    rows = [
        occurrence(1, "Emys orbicularis", "2026-05-01", LEZ, "present"),
        occurrence(2, "Mauremys leprosa", "2026-05-02", LEZ, "present"),
        occurrence(3, "Natrix maura", "2026-05-03", LEZ, "present"),
        occurrence(12, "Emys orbicularis", "2026-05-04", CASTRIES, "absent"),
    ]
    publish(
        Batch(
            dataset_id=DATASET,
            title="Inventaire ONEM (test)",
            publisher=Publisher("gbif", "GBIF test"),
            theme="biodiversity",
            schema="biodiversity-occurrence",
            charter="gbif-cc-by",
            chunks=[frame("biodiversity-occurrence", rows)],
            description="Occurrences for tests.",
            source_url="https://example.org/onem.zip",
        ),
        engine=engine,
    )


@pytest.fixture
def client(engine: Engine, occurrences: None) -> Iterator[TestClient]:
    with client_for(engine) as client:
        yield client


def test_an_absence_is_its_own_point_marked_absent(client):
    features = client.get(f"/datasets/{DATASET}/map.geojson").json()["features"]
    by_place = {tuple(f["geometry"]["coordinates"]): f for f in features}
    assert set(by_place) == {(3.9, 43.6), (3.98, 43.68)}
    absence = by_place[(3.98, 43.68)]
    assert absence["hub"] == {"records": 1, "absent": True}
    assert absence["properties"]["occurrenceStatus"] == "absent"


def test_a_popup_shows_status_date_and_uncertainty_and_the_records_there(client):
    features = client.get(f"/datasets/{DATASET}/map.geojson").json()["features"]
    lez = next(f for f in features if f["geometry"]["coordinates"] == [3.9, 43.6])
    assert lez["hub"] == {"records": 3, "absent": False}
    shown = lez["properties"]
    assert shown["scientificName"] == "Natrix maura"  # the newest of the three
    assert shown["occurrenceStatus"] == "present"
    assert shown["eventDate"] == "2026-05-03"
    assert shown["coordinateUncertaintyInMeters"] == 30
    assert list(shown)[:2] == ["scientificName", "occurrenceStatus"]


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "1 place holds more records than its point shows: its popup says how many."),
        ("fr", "1 lieu contient plus d’enregistrements que son point n’en montre"),
    ],
)
def test_the_map_says_absences_and_crowded_places_in_words(client, language, said):
    words = page(client, f"/datasets/{DATASET}", language=language).words
    assert said in words
    absent = {
        "en": "1 point is a recorded absence (searched for, not found), drawn as a hollow grey",
        "fr": "1 point est une absence constatée (recherchée, non trouvée)",
    }[language]
    assert absent in words


@pytest.mark.browser
@pytest.mark.parametrize(("locale", "absent", "records"), [
    ("en-GB", "Absent: searched for here and not found", "3 records at this place"),
    ("fr-FR", "Absent\u202f: recherché ici sans être trouvé", "3 enregistrements à cet endroit"),
])  # fmt: skip
def test_an_absence_is_a_ring(engine, occurrences, chromium, locale, absent, records):  # noqa: F811
    from playwright.sync_api import sync_playwright

    with live_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, locale=locale)
            page.goto(f"{url}/datasets/{DATASET}")
            page.wait_for_selector("div.map.map-drawn path.leaflet-interactive")
            points = page.locator("div.map path.leaflet-interactive")
            dashes = [points.nth(i).get_attribute("stroke-dasharray") for i in range(2)]
            assert sorted(dashes, key=str) == ["3 2", None]  # the absence alone is a ring
            ring = points.nth(dashes.index("3 2"))
            ring.click(force=True)
            assert absent in page.inner_text(".leaflet-popup-content")
            page.reload()  # the popup panned the map: the other point anew, as drawn
            page.wait_for_selector("div.map.map-drawn path.leaflet-interactive")
            points.nth(dashes.index(None)).click(force=True)
            popup = page.inner_text(".leaflet-popup-content")
            assert records in popup and "Natrix maura" in popup and "occurrenceStatus" in popup
        finally:
            browser.close()
