"""Records' date-times in a zone the caller names (`tz=`), UTC staying the default."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl

URL = "/api/v1/datasets/atmo-demo-air/records"


def test_utc_stays_the_default(client):
    record = client.get(URL, params={"limit": 1}).json()["records"][0]
    assert record["observed_at"] == "2026-03-01T00:00:00Z"
    rows = list(csv.DictReader(io.StringIO(client.get(URL, params={"format": "csv"}).text)))
    assert rows[0]["observed_at"] == "2026-03-01T00:00:00Z"


def test_json_csv_and_geojson_write_times_in_the_zone_asked_with_its_offset(client):
    asked = {"tz": "Europe/Paris"}
    record = client.get(URL, params={"limit": 1, **asked}).json()["records"][0]
    assert record["observed_at"] == "2026-03-01T01:00:00+01:00"
    page = client.get(URL, params={"limit": 1, "format": "csv", **asked}).text
    assert next(csv.DictReader(io.StringIO(page)))["observed_at"] == "2026-03-01T01:00:00+01:00"
    whole = list(
        csv.DictReader(io.StringIO(client.get(URL, params={"format": "csv", **asked}).text))
    )
    assert whole[0]["observed_at"] == "2026-03-01T01:00:00+01:00"
    features = client.get(URL, params={"format": "geojson", **asked}).json()["features"]
    assert features[0]["properties"]["observed_at"] == "2026-03-01T01:00:00+01:00"


def test_a_zone_changes_no_row_a_query_keeps(client):
    plain = client.get(URL, params={"limit": 10_000, "from": "2026-03-01T05:00:00Z"}).json()
    local = client.get(
        URL, params={"limit": 10_000, "from": "2026-03-01T05:00:00Z", "tz": "Asia/Kolkata"}
    ).json()
    assert len(plain["records"]) == len(local["records"])
    assert local["records"][0]["observed_at"] == "2026-03-01T10:30:00+05:30"


def test_spreadsheets_write_times_in_the_zone_asked_and_name_it(client):
    answer = client.get(URL, params={"format": "xlsx", "tz": "Europe/Paris"})
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content))["records"]
    header = [cell.value for cell in sheet[1]]
    column = header.index("Observed at (Europe/Paris)")
    assert sheet.cell(2, column + 1).value == datetime(2026, 3, 1, 1, 0)
    text = client.get(
        URL, params={"format": "csv", "dialect": "excel-fr", "tz": "Europe/Paris"}
    ).content.decode("utf-8-sig")
    first = next(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert first["observed_at (Europe/Paris)"] == "2026-03-01 01:00:00"


def test_an_unknown_zone_is_a_400(client):
    answer = client.get(URL, params={"tz": "Europe/Pariss"})
    assert answer.status_code == 400 and "time zone" in answer.json()["detail"]


def test_the_detail_links_spreadsheets_in_the_territorys_zone(client):
    links = client.get("/api/v1/datasets/atmo-demo-air").json()["links"]
    assert links["xlsx"].endswith("/records?format=xlsx&tz=Europe%2FParis")
    assert links["csv_excel_fr"].endswith("&dialect=excel-fr&tz=Europe%2FParis")
    assert links["csv"].endswith("/records?format=csv")  # the API's own stays UTC
