"""Records of a `date` time field: paging and from/to."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile

import pytest
from api.test_api_records import walk

from hub import reading
from hub.config import PROJECT_ROOT
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source

# --- a time field of type date -----------------------------------------------------------------


@pytest.fixture
def pufferfish(engine, samples) -> str:
    """GBIF's real green pufferfish download: 44 occurrences dated by `eventDate`, a date."""
    source = PROJECT_ROOT / "pipelines" / "sources" / "gbif-chelonodon-fluviatilis.yaml"
    outcome = harvest_source(load_source(source))
    assert outcome.published == 44, outcome  # 114 specimens without a day quarantined
    return "gbif-chelonodon-fluviatilis"


def dates(rows: list[dict]) -> list[str]:
    return [r["eventDate"] for r in rows]


def test_records_of_a_date_time_field_page_in_every_order_and_format(
    client, pufferfish, monkeypatch
):
    url = f"/api/v1/datasets/{pufferfish}/records"
    every = client.get(f"{url}?limit=10000").json()["records"]
    assert len(every) == 44 and dates(every) == sorted(dates(every))
    for query in ("limit=10", "sort=eventDate&limit=7", "sort=-eventDate&limit=7"):
        found = walk(client, f"{url}?{query}")
        assert sorted(map(str, found)) == sorted(map(str, every)), query
        assert dates(found) == sorted(dates(every), reverse="-" in query), query
    features = client.get(f"{url}?format=geojson&limit=5").json()
    assert len(features["features"]) == 5 and features["next"]
    monkeypatch.setattr(reading, "STREAM_PAGE", 6)  # a download read in many pages
    table = list(csv.DictReader(io.StringIO(client.get(f"{url}?format=csv").text)))
    assert [r["eventDate"] for r in table] == dates(every)
    search = client.get(
        "/api/3/action/datastore_search",
        params={"resource_id": f"{pufferfish}-records", "limit": 2},
    )
    assert search.status_code == 200 and len(search.json()["result"]["records"]) == 2


@pytest.mark.parametrize(
    "window, first, last",
    [
        ("from=1934-03-01&to=1934-03-27", "eventDate__gte=1934-03-01", "eventDate__lt=1934-03-27"),
        # a day counts as its midnight UTC: one starting before `from` is out, one before `to` in
        (
            "from=1934-03-01T12:00:00Z&to=1934-03-26T23:00:00Z",
            "eventDate__gte=1934-03-02",
            "eventDate__lt=1934-03-27",
        ),
        # the same instants in another zone
        (
            "from=1934-03-01T13:00:00%2B01:00&to=1934-03-27T01:00:00%2B01:00",
            "eventDate__gte=1934-03-02",
            "eventDate__lt=1934-03-27",
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
    assert [r["eventDate"] for r in rows] == dates(expected)


def test_a_cursor_of_a_datetime_is_refused_on_a_date_field(client, pufferfish):
    cursor = base64.urlsafe_b64encode(json.dumps(["1934-03-01T00:00:00+00:00", 1]).encode())
    response = client.get(
        f"/api/v1/datasets/{pufferfish}/records", params={"cursor": cursor.decode()}
    )
    assert response.status_code == 400 and "invalid cursor" in response.json()["detail"]
