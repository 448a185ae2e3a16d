"""The situation page: the public part for anyone, the crisis data for the crisis's cells only
and only inside its perimeter, French and English, server lists that need no JavaScript.

The area is the demo's Lez flood perimeter; observations, alerts and a telecom operator's
outages are published through the real gate, some inside the perimeter, some inside its bbox
but outside the polygon, some far away.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from api.support import air_batch, client_for, frame_of, live_server
from api.test_feed_stream import quick, stream  # noqa: F401 - the fixture
from crisisdata import PRODUCER, frame, instant
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from ui.pagetext import empty_navigations, page, sign_in

from hub import crises, events, tokens
from hub.catalogue import Batch, Publisher, publish
from hub.models import AccessEvent, Crisis, utcnow
from hub.ui import i18n
from pipelines.demo.telecom import CRISIS_AREA

CELL, OTHER_CELL = "prefecture-herault-cell", "prefecture-gard-cell"
OUTAGES = "telecom-demo-outages-test"
AIR = "atmo-demo-lez"
ALERTS = "seychelles-demo-alerts"
METEO = Publisher("seychelles-meteo", "Météo test")
# (id, name, lon, lat): inside the polygon; inside its bbox only; far away (Grabels)
INSIDE = ("st-pma", "Port Marianne", 3.8990, 43.6035)
IN_BOX_ONLY = ("st-box", "Étang du Méjean", 3.8750, 43.5450)
FAR = ("st-far", "Grabels", 3.7980, 43.6470)
LEZ_POLYGON = {
    "type": "Polygon",
    "coordinates": [[[3.89, 43.59], [3.92, 43.59], [3.92, 43.62], [3.89, 43.62], [3.89, 43.59]]],
}
FAR_POLYGON = {
    "type": "Polygon",
    "coordinates": [[[1.0, 45.0], [1.1, 45.0], [1.1, 45.1], [1.0, 45.1], [1.0, 45.0]]],
}


@dataclass(frozen=True)
class Situation:
    """What the fixture published and declared."""

    crisis: Crisis
    now: datetime


def air_rows(now: datetime, stations=(INSIDE, IN_BOX_ONLY, FAR), hours=(3, 1)) -> list[dict]:
    """NO2 at each station, `hours` before now (the newest is each series' latest)."""
    return [
        {
            "station_id": station,
            "station_name": name,
            "pollutant": "no2",
            "value": f"{100 + hour * 11}.25",
            "unit": "µg/m³",
            "averaging_period": "PT1H",
            "observed_at": instant(now - timedelta(hours=hour)),
            "longitude": repr(lon),
            "latitude": repr(lat),
            "quality_flag": "unverified",
        }
        for station, name, lon, lat in stations
        for hour in hours
    ]


def outage_rows(now: datetime) -> list[dict[str, str]]:
    """One outage inside the perimeter, one inside its bbox only, one far away."""
    return [
        {
            "outage_id": f"OUT-{station}",
            "service": "mobile",
            "element_type": "antenna",
            "element_id": f"ANT-{station}",
            "element_name": f"Antenna {name}",
            "started_at": instant(now - timedelta(hours=2)),
            "status": "ongoing",
            "cause": "flooding",
            "customers_affected": "7400",
            "municipality": name,
            "longitude": repr(lon),
            "latitude": repr(lat),
        }
        for station, name, lon, lat in (INSIDE, IN_BOX_ONLY, FAR)
    ]


def alert_rows(now: datetime) -> list[dict[str, str]]:
    """A severe flood warning over the Lez, and a minor one elsewhere; each with a point too, as
    the hub's alert rules write them (the feed's area filters read the point)."""
    rows = []
    for identifier, headline, area, severity, (lon, lat) in (
        ("lez-1", "Flood warning on the Lez", LEZ_POLYGON, "Severe", INSIDE[2:]),
        ("far-1", "Wind warning far away", FAR_POLYGON, "Minor", (1.05, 45.05)),
    ):
        rows.append(
            {
                "identifier": identifier,
                "sender": "warnings@meteo.test",
                "sent": instant(now - timedelta(hours=1)),
                "status": "Actual",
                "msgType": "Alert",
                "scope": "Public",
                "info_index": "0",
                "language": "en",
                "category": "Met",
                "event": "Flood",
                "urgency": "Expected",
                "severity": severity,
                "certainty": "Likely",
                "expires": instant(now + timedelta(hours=12)),
                "headline": headline,
                "area_desc": "Lez valley",
                "area": json.dumps(area),
                "longitude": repr(lon),
                "latitude": repr(lat),
            }
        )
    return rows


def alert_batch(rows: list[dict[str, str]]) -> Batch:
    """Alert rows as the public warnings dataset publishes them."""
    return Batch(
        dataset_id=ALERTS,
        title="Warnings (test)",
        publisher=METEO,
        theme="risk",
        schema="risk-alert",
        charter="seychelles-meteo-cap",
        chunks=[frame("risk-alert", rows)],
        description="Public warnings for tests.",
        source_url="https://example.org/cap.xml",
    )


def publish_situation(engine: Engine, now: datetime) -> None:
    """The observations, the alerts and the telecom outages of the test area."""
    publish(air_batch(AIR, "atmo-demo-open", "Air quality, Lez (test)", frame_of(air_rows(now))),
            engine=engine)  # fmt: skip
    publish(alert_batch(alert_rows(now)), engine=engine)
    publish(
        Batch(
            dataset_id=OUTAGES,
            title="Network outages (test)",
            publisher=PRODUCER,
            theme="risk",
            schema="network-outage",
            charter="telecom-outages-crisis",
            chunks=[frame("network-outage", outage_rows(now))],
            description="Crisis-only outages of a private operator, for tests.",
            source_url="https://example.org/outages.csv",
        ),
        engine=engine,
    )


@pytest.fixture
def situation(engine: Engine) -> Situation:
    """The published area and an active crisis over it, named for CELL."""
    now = utcnow().replace(microsecond=0)
    publish_situation(engine, now)
    crisis = crises.declare(
        engine,
        name="Lez flood episode",
        area=CRISIS_AREA,
        start=now - timedelta(hours=6),
        end=now + timedelta(days=1),
        cells=[CELL],
        by="test",
    )
    return Situation(crisis, now)


@pytest.fixture
def client(engine: Engine, situation: Situation) -> Iterator[TestClient]:
    with client_for(engine) as client:
        yield client


def token(engine: Engine, role: str, *organizations: str) -> str:
    with Session(engine) as session:
        return tokens.issue(session, role, list(organizations), f"test {role}").token


def signed_in(client: TestClient, engine: Engine, role: str, *organizations: str) -> None:
    client.cookies.clear()
    answer = sign_in(client, token(engine, role, *organizations))
    assert answer.status_code == 303, answer.text[:300]


def map_data(html: str) -> dict:
    """The page's GeoJSON data block (what situation.js draws)."""
    found = re.search(r'<script type="application/geo\+json" id="situation-data">(.*?)</script>',
                      html, re.S)  # fmt: skip
    assert found, "the page has no map data"
    return json.loads(found.group(1))


def observations_table(client: TestClient, url: str) -> str:
    """The HTML of a page's observations table (the map's data block names them all)."""
    html = client.get(url).text
    found = re.search(r'<table[^>]*id="situation-observations".*?</table>', html, re.S)
    assert found, "the page has no observations table"
    return found.group(0)


def kinds(data: dict, kind: str) -> list[dict]:
    return [f for f in data["features"] if f["properties"]["kind"] == kind]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_anonymous_visitors_see_the_public_part_and_a_sign_in_prompt(client, situation, language):
    shown = page(client, "/situation", language=language)
    words = shown.words
    assert "Lez flood episode" in words
    assert "Flood warning on the Lez" in words and "Wind warning far away" not in words
    assert "Port Marianne" in words
    assert "Étang du Méjean" not in words and "Grabels" not in words  # outside the perimeter
    assert "Antenna" not in words  # crisis data: for the cells only
    assert CELL not in words  # which organizations are cells: admins and cells only
    assert any(link.startswith("/signin?next=") for link in shown.links)
    assert any(re.fullmatch(r"/api/v1/alerts/[\w-]+\.cap", link) for link in shown.links)
    if language == "fr":
        assert "Crises en cours" in words and "Alertes en cours sur la zone" in words
    else:
        assert "Active crises" in words and "Current alerts over the area" in words


def test_the_page_is_private_and_names_the_crisis_stream(client, engine, situation):
    answer = client.get(f"/situation/{situation.crisis.id}")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, no-store"
    with engine.connect() as connection:
        seen = events.newest_id(connection)  # what was published after it is news to the page
    stream = f"/api/v1/feeds/stream?within=crisis:{situation.crisis.id}&amp;snapshot=latest"
    assert f'data-stream="{stream}&amp;since={seen}"' in answer.text
    assert "<script>" not in answer.text  # the policy runs no inline script: data blocks only


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_crisis_cell_reads_the_outages_inside_the_perimeter_only(
    client, engine, situation, language
):
    signed_in(client, engine, "crisis-cell", CELL)
    shown = page(client, f"/situation/{situation.crisis.id}", language=language)
    words = shown.words
    assert "Antenna Port Marianne" in words
    assert "Antenna Étang du Méjean" not in words and "Antenna Grabels" not in words
    assert CELL in words  # its own crisis: the cells are shown
    assert "Port Marianne" in words and "Grabels" not in words
    data = map_data(client.get(f"/situation/{situation.crisis.id}").text)
    assert len(kinds(data, "perimeter")) == 1
    assert [f["properties"]["key"] for f in kinds(data, "observation")] == [f"{AIR}|st-pma|no2"]
    assert len(kinds(data, "data")) == 1
    assert len(kinds(data, "alert")) == 1
    # the latest value of the series, not the older one
    assert "111.25" in words or "111,25" in words
    assert "133.25" not in words and "133,25" not in words


def test_the_cell_s_read_is_in_the_access_log(client, engine, situation):
    client.get("/situation")  # anonymous: nothing of the crisis data is tried
    with Session(engine) as session:
        assert (
            session.exec(select(AccessEvent).where(AccessEvent.dataset_id == OUTAGES)).all() == []
        )
    signed_in(client, engine, "crisis-cell", CELL)
    client.get("/situation")
    with Session(engine) as session:
        logged = session.exec(select(AccessEvent).where(AccessEvent.dataset_id == OUTAGES)).all()
    assert [(e.outcome, e.actor_role) for e in logged] == [("granted", "crisis-cell")]


def test_a_cell_of_another_organization_sees_no_outage(client, engine, situation):
    signed_in(client, engine, "crisis-cell", OTHER_CELL)
    words = page(client, f"/situation/{situation.crisis.id}").words
    assert "Antenna" not in words
    assert "Your organization is not a cell of this crisis" in words
    assert CELL not in words
    assert "Port Marianne" in words  # the public part stays


def test_an_admin_sees_the_cells_but_reads_no_crisis_rows(client, engine, situation):
    signed_in(client, engine, "admin")
    words = page(client, "/situation", language="fr").words
    assert CELL in words and "Antenna" not in words
    assert "Lez flood episode" in words


def test_a_closed_crisis_shares_nothing_and_is_not_followed_live(client, engine, situation):
    crises.close(engine, situation.crisis.id, by="test")
    signed_in(client, engine, "crisis-cell", CELL)
    assert "No crisis is declared at the moment." in page(client, "/situation").words
    answer = client.get(f"/situation/{situation.crisis.id}", headers={"Accept-Language": "en"})
    assert answer.status_code == 200
    assert "Antenna" not in answer.text and 'data-stream=""' in answer.text
    assert "no longer in force" in answer.text


def test_unknown_crises_and_datasets_are_404(client, situation):
    page(client, "/situation/no-such-crisis", status=404)
    page(client, f"/situation/{situation.crisis.id}/data/{AIR}", status=404)  # not crisis data
    page(client, f"/situation/nothing/data/{OUTAGES}", status=404)


def test_crisis_rows_are_written_the_pages_way(client, engine, situation):
    signed_in(client, engine, "crisis-cell", CELL)
    started = situation.now - timedelta(hours=2)
    for url in (
        f"/situation/{situation.crisis.id}",
        f"/situation/{situation.crisis.id}/data/{OUTAGES}",
    ):
        html = client.get(url, headers={"Accept-Language": "fr"}).text
        table = re.search(r'<table class="compact rows situation-data".*?</table>', html, re.S)
        assert table, url
        with i18n.speaking("fr"):
            assert f"<td>{i18n.moment(started)}</td>" in table.group(0)
        assert instant(started) not in table.group(0)
        # the live script writes new rows the same way: it knows each field's type
        assert "data-types=" in table.group(0) and "datetime" in table.group(0)


def test_a_cell_pages_through_a_crisis_dataset(client, engine, situation):
    anonymous = page(client, f"/situation/{situation.crisis.id}/data/{OUTAGES}")
    assert "Antenna" not in anonymous.words
    signed_in(client, engine, "crisis-cell", CELL)
    shown = page(client, f"/situation/{situation.crisis.id}/data/{OUTAGES}")
    assert "Antenna Port Marianne" in shown.words and "Grabels" not in shown.words
    assert "outage_id" in shown.headers and "longitude" not in shown.headers
    one_page = client.get(f"/situation/{situation.crisis.id}/data/{OUTAGES}").text
    assert 'class="pager"' not in one_page and empty_navigations(one_page) == []


def test_observations_are_paged_without_javascript(client, engine, situation, monkeypatch):
    from hub.ui import situation as module

    many = [(f"st-{n}", f"Station {n}", 3.90 + n / 1000, 43.60) for n in range(7)]
    publish(air_batch("atmo-demo-lez-2", "atmo-demo-open", "More stations (test)",
                      frame_of(air_rows(situation.now, many, (1,)))), engine=engine)  # fmt: skip
    monkeypatch.setattr(module, "OBSERVATIONS_PAGE", 5)
    first = page(client, "/situation")
    assert "page=2#observations" in " ".join(first.links)
    second = page(client, "/situation?page=2")
    assert "page=1#observations" in " ".join(second.links)
    listed = [observations_table(client, f"/situation?page={n}") for n in (1, 2)]
    rows_first, rows_second = ({n for n in range(7) if f"Station {n}<" in t} for t in listed)
    assert rows_first and rows_second and not rows_first & rows_second
    assert rows_first | rows_second == set(range(7))


def test_no_crisis_at_all(engine):
    with client_for(engine) as client:
        shown = page(client, "/situation", language="fr")
    assert "Aucune crise n’est déclarée en ce moment." in shown.words


def test_the_session_cookie_opens_the_feed_and_get_routes_with_the_visitor_s_grant(
    client,
    engine,
    situation,
    quick,  # noqa: F811 - the fixture
):
    signed_in(client, engine, "crisis-cell", CELL)
    cookie = f"hub_session={client.cookies['hub_session']}"
    query = f"?within=crisis:{situation.crisis.id}&snapshot=latest&types=observation"
    with live_server() as base:
        read = {}
        for who, headers in (("cell", {"Cookie": cookie}), ("anonymous", {})):
            feed = stream(base, query, headers)
            try:
                read[who] = {m.data["dataset"] for m in feed.until_idle()}
            finally:
                feed.close()
    assert read == {"cell": {AIR, OUTAGES}, "anonymous": {AIR}}
    records = client.get(f"/api/v1/datasets/{OUTAGES}/records")
    assert records.status_code == 200
    assert [r["outage_id"] for r in records.json()["records"]] == ["OUT-st-pma"]
    # writes still need a bearer token: the cookie declares nothing
    declared = client.post("/api/v1/crises", json={"name": "x"})
    assert declared.status_code == 401
    client.cookies.clear()
    assert client.get(f"/api/v1/datasets/{OUTAGES}/records").status_code == 401


def test_the_list_and_a_crisis_have_distinct_titles_and_alerts_say_their_language(
    client, situation
):
    french = {"Accept-Language": "fr"}
    listing = client.get("/situation", headers=french).text
    one = client.get(f"/situation/{situation.crisis.id}", headers=french).text
    title = r"<title>(.*?)</title>"
    assert (
        re.search(title, listing)[1] == "Situation — Crises en cours — Hub territorial de données"
    )
    assert re.search(title, one)[1] == "Situation — Lez flood episode — Hub territorial de données"
    # the alerts are in English (their CAP says so): marked on a French page, not on an English one
    assert re.search(r'<th scope="row" lang="en">Flood warning on the Lez', one)
    english = client.get(f"/situation/{situation.crisis.id}", headers={"Accept-Language": "en"})
    assert re.search(r'<th scope="row">Flood warning on the Lez', english.text)
    # the CAP link's name quotes the headline, in its language too
    assert re.search(r'Document CAP<span class="visually-hidden" lang="en"> — Flood warning', one)
    # the live announcements are whole translated sentences, French punctuation included
    assert '"newAlert": "Nouvelle alerte\\u00a0: {what}"' in one


@pytest.mark.parametrize(
    "language, name",
    [("en", "Pause live updates"), ("fr", "Mettre en pause les mises à jour en direct")],
)
def test_the_pause_button_is_named_and_waits_hidden_for_the_script(
    client, situation, language, name
):
    html = client.get(f"/situation/{situation.crisis.id}", headers={"Accept-Language": language})
    controls = re.search(r'<p class="live-controls"( hidden)?>(.*?)</p>', html.text, re.S)
    assert controls, "the page has no pause control"
    assert controls[1] == " hidden"  # without JavaScript the lists do not change: nothing to pause
    assert '<button type="button" id="situation-pause" aria-pressed="false"' in controls[2]
    assert f">{name}</button>" in controls[2]
