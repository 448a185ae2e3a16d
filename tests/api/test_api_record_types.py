"""Records of a `date` time field (paging, from/to) and of boolean fields (sort, bounds)."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile

import pytest
import sqlalchemy as sa
from api.test_api_records import quakes, walk  # noqa: F401 (fixtures)
from sqlmodel import Session

from hub import catalogue, reading
from hub.config import PROJECT_ROOT
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source

# --- a time field of type date -----------------------------------------------------------------


@pytest.fixture
def pufferfish(engine, samples) -> str:
    """GBIF's real green pufferfish download: 158 specimens, 59 of them dated (a day, a month
    or a year), whose `eventDate` gives their first and last days."""
    source = PROJECT_ROOT / "pipelines" / "sources" / "gbif-chelonodon-fluviatilis.yaml"
    outcome = harvest_source(load_source(source))
    assert outcome.published == 158, outcome
    return "gbif-chelonodon-fluviatilis"


def dates(rows: list[dict]) -> list[str]:
    return [r["eventDateStart"] or "" for r in rows]  # undated ones first, as they are sorted


def test_records_of_a_date_time_field_page_in_every_order_and_format(
    client, pufferfish, monkeypatch
):
    url = f"/api/v1/datasets/{pufferfish}/records"
    every = client.get(f"{url}?limit=10000").json()["records"]
    assert len(every) == 158 and dates(every) == sorted(dates(every))
    for query in ("limit=10", "sort=eventDateStart&limit=7", "sort=-eventDateStart&limit=7"):
        found = walk(client, f"{url}?{query}")
        assert sorted(map(str, found)) == sorted(map(str, every)), query
        assert dates(found) == sorted(dates(every), reverse="-" in query), query
    features = client.get(f"{url}?format=geojson&limit=5").json()
    assert len(features["features"]) == 5 and features["next"]
    monkeypatch.setattr(reading, "STREAM_PAGE", 6)  # a download read in many pages
    table = list(csv.DictReader(io.StringIO(client.get(f"{url}?format=csv").text)))
    assert [r["eventDateStart"] for r in table] == dates(every)
    search = client.get(
        "/api/3/action/datastore_search",
        params={"resource_id": f"{pufferfish}-records", "limit": 2},
    )
    assert search.status_code == 200 and len(search.json()["result"]["records"]) == 2


@pytest.mark.parametrize(
    "window, first, last",
    [
        (
            "from=1934-03-01&to=1934-03-27",
            "eventDateEnd__gte=1934-03-01",
            "eventDateStart__lt=1934-03-27",
        ),
        # a day counts as its midnight UTC: one starting before `from` is out, one before `to` in
        (
            "from=1934-03-01T12:00:00Z&to=1934-03-26T23:00:00Z",
            "eventDateEnd__gte=1934-03-02",
            "eventDateStart__lt=1934-03-27",
        ),
        # the same instants in another zone
        (
            "from=1934-03-01T13:00:00%2B01:00&to=1934-03-27T01:00:00%2B01:00",
            "eventDateEnd__gte=1934-03-02",
            "eventDateStart__lt=1934-03-27",
        ),
    ],
)
def test_from_and_to_on_a_date_field_keep_the_days_they_cover(
    client, pufferfish, window, first, last, tmp_path
):
    url = f"/api/v1/datasets/{pufferfish}/records"
    found = client.get(f"{url}?{window}&limit=10000").json()["records"]
    expected = client.get(f"{url}?{first}&{last}&limit=10000").json()["records"]
    assert found == expected and len(found) >= 2
    package = client.get(f"/api/v1/datasets/{pufferfish}/datapackage.zip?{window}")
    with zipfile.ZipFile(io.BytesIO(package.content)) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("data/records.csv").decode())))
    assert [r["eventDateStart"] for r in rows] == dates(expected)


def test_a_cursor_of_a_datetime_is_refused_on_a_date_field(client, pufferfish):
    cursor = base64.urlsafe_b64encode(json.dumps(["1934-03-01T00:00:00+00:00", 1]).encode())
    response = client.get(
        f"/api/v1/datasets/{pufferfish}/records", params={"cursor": cursor.decode()}
    )
    assert response.status_code == 400 and "invalid cursor" in response.json()["detail"]


# --- boolean fields: false before true -----------------------------------------------------------


@pytest.fixture
def warned(engine, quakes) -> str:  # noqa: F811
    """The quakes of the day, the strongest flagged as tsunami warnings (the feed had none)."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, quakes))
    table = layout.table
    with engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c[layout.columns["magnitude"]] >= 4)
            .values({layout.columns["tsunami"]: True})
        )
    return quakes


def test_a_boolean_sort_pages_false_then_true(client, warned):
    url = f"/api/v1/datasets/{warned}/records"
    every = client.get(f"{url}?limit=10000").json()["records"]
    warnings = sum(r["tsunami"] for r in every)
    assert 0 < warnings < len(every) == 233
    for sort in ("tsunami", "-tsunami", "tsunami,-magnitude", "-tsunami,magnitude"):
        found = walk(client, f"{url}?sort={sort}&limit=7")
        assert len({r["event_id"] for r in found}) == len(found) == 233, sort
        flags = [r["tsunami"] for r in found]
        assert flags == sorted(flags, reverse=sort.startswith("-")), sort


@pytest.mark.parametrize(
    "query, wanted",
    [
        ("tsunami__gt=false", lambda r: r["tsunami"]),
        ("tsunami__gte=true", lambda r: r["tsunami"]),
        ("tsunami__gte=false", lambda r: True),
        ("tsunami__lt=true", lambda r: not r["tsunami"]),
        ("tsunami__lte=false", lambda r: not r["tsunami"]),
        ("tsunami__lte=true", lambda r: True),
        ("tsunami__gt=true", lambda r: False),
    ],
)
def test_boolean_bounds_order_false_before_true(client, warned, query, wanted):
    url = f"/api/v1/datasets/{warned}/records"
    every = client.get(f"{url}?limit=10000").json()["records"]
    response = client.get(f"{url}?{query}&limit=10000")
    assert response.status_code == 200, response.text
    assert response.json()["records"] == [r for r in every if wanted(r)]
