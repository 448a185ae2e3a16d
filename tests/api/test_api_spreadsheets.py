"""Records for spreadsheets: an XLSX workbook with typed cells, and the `excel-fr` CSV dialect."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl
import pytest
from api.support import air_batch, frame_of, observation_rows

from hub.catalogue import publish
from hub.config import get_settings

URL = "/api/v1/datasets/sheets/records"


@pytest.fixture
def sheets(engine, published):
    """A dataset with a code's leading zero, a unit's non-ASCII letters and a formula-like name."""
    rows = observation_rows().drop("_row").head(4).to_dicts()
    rows[0] |= {"station_id": "08003", "station_name": '=HYPERLINK("http://x")'}
    rows[1] |= {"station_id": "08016", "station_name": "Bd Clémenceau"}
    publish(air_batch("sheets", "atmo-demo-open", "Sheets", frame_of(rows)), engine=engine)
    return rows


def workbook(client, query: str = "") -> openpyxl.Workbook:
    answer = client.get(f"{URL}?format=xlsx{query}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="sheets.xlsx"' in answer.headers["content-disposition"]
    return openpyxl.load_workbook(io.BytesIO(answer.content))


def test_xlsx_cells_are_typed_and_codes_keep_their_zeros(client, sheets):
    book = workbook(client)
    sheet = book["records"]
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["Station identifier", "Station name", "Pollutant"]
    assert "Observed at (UTC)" in header  # a spreadsheet's date has no zone: the heading says it
    rows = [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(2)]
    assert len(rows) == 4
    first = next(r for r in rows if r["Station identifier"] == "08003")
    assert isinstance(first["Value"], float) and first["Value"] == float(sheets[0]["value"])
    assert isinstance(first["Longitude"], float)
    assert first["Observed at (UTC)"] == datetime(2026, 3, 1, 0, 0)
    # Text stays text: the formula is a string cell, never a formula.
    name_cell = next(r for r in sheet.iter_rows(2) if r[0].value == "08003")[1]
    assert name_cell.data_type == "s" and name_cell.value.startswith("=HYPERLINK")
    assert {r["Station identifier"] for r in rows} >= {"08003", "08016"}
    assert "Bd Clémenceau" in {r["Station name"] for r in rows}
    fields = [[c.value for c in row] for row in book["fields"].iter_rows()]
    assert fields[0] == ["name", "title", "type", "description"]
    assert fields[4][:3] == ["value", "Value", "number"] and "unit" in fields[4][3]


def test_xlsx_honours_filters_and_the_export_limit(client, sheets, monkeypatch):
    sheet = workbook(client, "&station_id=08016")["records"]
    assert [r[0].value for r in sheet.iter_rows(2)] == ["08016"]
    monkeypatch.setenv("HUB_MAX_EXPORT_ROWS", "3")
    get_settings.cache_clear()
    try:
        refused = client.get(f"{URL}?format=xlsx")
    finally:
        monkeypatch.delenv("HUB_MAX_EXPORT_ROWS")
        get_settings.cache_clear()
    assert refused.status_code == 400 and "HUB_MAX_EXPORT_ROWS" in refused.json()["detail"]
    assert client.get(f"{URL}?format=xlsx&limit=2").status_code == 400


def test_excel_fr_csv_has_a_bom_semicolons_decimal_commas_and_plain_times(client, sheets):
    answer = client.get(f"{URL}?format=csv&dialect=excel-fr")
    assert answer.status_code == 200
    assert answer.content.startswith(b"\xef\xbb\xbf")  # UTF-8's BOM: cp1252 guesses no more
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    first = next(r for r in rows if r["station_id"] == "08003")
    assert first["value"] == sheets[0]["value"].replace(".", ",")
    assert first["observed_at (UTC)"] == "2026-03-01 00:00:00"
    # Meant to be opened by double-click: a formula-like text is neutralised.
    assert first["station_name"] == '\'=HYPERLINK("http://x")'
    assert "Bd Clémenceau" in {r["station_name"] for r in rows}


def test_the_standard_csv_is_unchanged(client, sheets):
    answer = client.get(f"{URL}?format=csv")
    assert not answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    first = next(r for r in rows if r["station_id"] == "08003")
    assert first["value"] == sheets[0]["value"] and first["observed_at"] == "2026-03-01T00:00:00Z"
    assert first["station_name"].startswith("=HYPERLINK")


def test_a_dialect_is_for_csv_only(client, sheets):
    answer = client.get(f"{URL}?dialect=excel-fr")
    assert answer.status_code == 400 and "format=csv" in answer.json()["detail"]
    assert client.get(f"{URL}?format=csv&dialect=semicolon").status_code in (400, 422)


def test_the_detail_links_both_spreadsheet_downloads(client, sheets):
    links = client.get("/api/v1/datasets/sheets").json()["links"]
    assert "/records?format=xlsx" in links["xlsx"]
    assert "/records?format=csv&dialect=excel-fr" in links["csv_excel_fr"]
