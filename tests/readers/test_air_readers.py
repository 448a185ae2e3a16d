"""Air-quality readers beyond OpenAQ: EEA AirBase statistics, every sensor.community sensor type,
and the station lists, read from the real sample files and harvested end to end."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import frictionless
import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import catalogue
from hub.batches import RowProblem
from hub.config import PROJECT_ROOT, get_settings
from hub.models import QuarantinedRow
from hub.schemas import load_schema
from hub.validation import Validator
from pipelines.checking import check_file
from pipelines.flows import harvest_source
from pipelines.readers import Fetched, ReaderError, read_records
from pipelines.sources import Operator, Source, load_source

STATISTICS = "air/airbase_DENW212_koeln_statistics.csv"
STATIONS = "air/airbase_koeln_stations.csv"
SDS011 = "air/2018-12-25_sds011_sensor_15092.csv"
AIRLR = "air/AirLR_LR_StationAir.csv"
BUNDLED = PROJECT_ROOT / "pipelines" / "sources"
UG = "µg/m³"
NG = "ng/m³"
# The archive's headers per sensor type (archive.sensor.community, as documented by the
# luftdatenpumpe importer and sensor.community's own files).
PMS5003 = "sensor_id;sensor_type;location;lat;lon;timestamp;P1;P2;P0"
SPS30 = "sensor_id;sensor_type;location;lat;lon;timestamp;P1;P4;P2;P0;N10;N4;N25;N1;N05;TS"
BME280 = (
    "sensor_id;sensor_type;location;lat;lon;timestamp;"
    "pressure;altitude;pressure_sealevel;temperature;humidity"
)


def source(fmt: str, schema: str, **options: Any) -> Source:
    return Source(
        id="test-air", title="Test", operator=Operator("op", "Operator"), theme="air-quality",
        format=fmt, url="file:x.csv", schema=schema, charter="c", options=options,
    )  # fmt: skip


def read_all(src: Source, fetched: Fetched) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Every row the harvest of `src` would hand the gate, and the problems found on the way."""
    frames, problems = [], []
    for chunk in read_records(src, fetched):
        frames.append(chunk.frame.drop("_error", strict=False))
        problems.extend(chunk.problems)
    frame = pl.concat(frames)
    assert frame.columns == [*load_schema(src.schema).fields, "_row"]
    return frame, problems


def assert_schema_valid(frame: pl.DataFrame, tmp_path: Path, schema: str) -> None:
    """The rows pass the publish gate's validator and frictionless itself."""
    result = Validator(load_schema(schema).descriptor).validate_chunk(frame)
    assert result.errors == [] and result.valid.height == frame.height
    frame.drop("_row").write_csv(tmp_path / "clean.csv")
    resource = frictionless.Resource(
        path="clean.csv", basepath=str(tmp_path), schema=load_schema(schema).to_frictionless()
    )
    report = resource.validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "message"])[:5]


def airbase(samples: Path, stations: Path | None = None) -> Fetched:
    return Fetched(samples / STATISTICS, linked={"stations": stations or samples / STATIONS})


def raw_rows(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def write(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


# --- airbase-csv ---------------------------------------------------------------------------


def test_airbase_keeps_every_statistic_placed_by_the_station_list(samples: Path, tmp_path: Path):
    frame, problems = read_all(source("airbase-csv", "air-quality-statistic"), airbase(samples))
    raw = raw_rows(samples / STATISTICS)
    assert problems == [] and frame.height == len(raw) == 419
    assert frame["_row"].to_list() == list(range(2, 421))
    assert frame.row(0, named=True) == {
        "station_id": "DENW212", "station_name": "Köln Turiner Straße", "pollutant": "pm10",
        "series": "100", "averaging_period": "P1D", "statistic": "p50",
        "statistic_label": "50 percentile", "value": "29.333", "unit": UG,
        "period_start": "2007-01-01", "period_end": "2007-12-31", "coverage": "73.973",
        "valid_count": "270", "longitude": "6.9577", "latitude": "50.947369", "_row": 2,
    }  # fmt: skip
    # Every AirBase short name has its code, row for row.
    codes = {"Mean": "mean", "P50": "p50", "P95": "p95", "P98": "p98", "Max": "max",
             "Max8": "max8", "Max19": "max19", "Max36": "max36",
             "Days(c > 50)": "days-above-50", "Hours(c > 200)": "hours-above-200"}  # fmt: skip
    assert frame["statistic"].to_list() == [codes[r["statistic_shortname"]] for r in raw]
    assert Counter(frame["statistic"]) == {
        "mean": 77, "p50": 77, "p95": 77, "p98": 77, "max": 77,
        "max8": 8, "max36": 8, "days-above-50": 8, "max19": 5, "hours-above-200": 5,
    }  # fmt: skip
    assert Counter(frame["averaging_period"]) == {
        "P1D": 199, "variable": 95, "PT1H": 90, "P2D": 25, "P1M": 10,
    }  # fmt: skip
    assert Counter(frame["pollutant"]) == {
        "pm10": 94, "no2": 75, "no": 40, "ni-pm10": 30, "pb-pm10": 25, "cd-pm10": 25,
        "as-pm10": 25, "c6h6": 20, "bap-pm10": 20, "pm25": 20, "c7h8": 15, "mp-xylene": 15,
        "o-xylene": 15,
    }  # fmt: skip
    assert Counter(frame["unit"]) == {UG: 319, NG: 100}
    assert set(frame["longitude"]) == {"6.9577"} and set(frame["latitude"]) == {"50.947369"}
    # The three 2008 PM10 annual means that one observation key could not hold apart.
    means = frame.filter(
        pl.col("pollutant") == "pm10", pl.col("statistic") == "mean",
        pl.col("period_start") == "2008-01-01",
    )  # fmt: skip
    assert means.select("series", "averaging_period", "value", "coverage").rows() == [
        ("100", "P1D", "28.541", "95.355"),
        ("100", "PT1H", "28.57", "93.67"),
        ("888", "P1D", "26.533", "50.0"),
    ]
    key = load_schema("air-quality-statistic").primary_key
    assert not frame.select(key).is_duplicated().any()
    assert_schema_valid(frame, tmp_path, "air-quality-statistic")


def test_airbase_row_of_a_station_the_list_lacks_is_a_problem(samples: Path, tmp_path: Path):
    header, *lines = (samples / STATISTICS).read_text(encoding="utf-8").splitlines()
    moved = lines[2].replace("DENW212", "DENW999", 1)
    statistics = write(tmp_path / "stats.csv", [header, lines[0], lines[1], moved])
    fetched = Fetched(statistics, linked={"stations": samples / STATIONS})
    frame, problems = read_all(source("airbase-csv", "air-quality-statistic"), fetched)
    assert frame["station_id"].to_list() == ["DENW212", "DENW212", "DENW999"]
    assert frame["longitude"].to_list() == ["6.9577", "6.9577", ""]  # kept, never dropped
    assert problems == [
        RowProblem(
            4,
            "station_id",
            "station 'DENW999' is not in the linked station list "
            "(options.linked.stations, 19 stations): no name, no position",
        )
    ]
    # A list without DENW212 at all: every one of its 419 rows is reported.
    kept = (samples / STATIONS).read_text(encoding="utf-8").splitlines()
    stations = write(tmp_path / "stations.csv", [k for k in kept if "DENW212" not in k])
    frame, problems = read_all(
        source("airbase-csv", "air-quality-statistic"), airbase(samples, stations)
    )
    assert frame.height == 419 and [p.row for p in problems] == list(range(2, 421))
    assert {p.field for p in problems} == {"station_id"} and "18 stations" in problems[0].note


def test_airbase_periods_and_names_it_does_not_know_are_reported(samples: Path, tmp_path: Path):
    header, first, *_ = (samples / STATISTICS).read_text(encoding="utf-8").splitlines()
    summer = first.replace("Calendar year", "Summer")
    somo = first.replace(",P50,50 percentile,", ",SOMO35,sum of means over 35 ppb,")
    statistics = write(tmp_path / "stats.csv", [header, first, summer, somo])
    fetched = Fetched(statistics, linked={"stations": samples / STATIONS})
    frame, problems = read_all(source("airbase-csv", "air-quality-statistic"), fetched)
    assert frame["statistic"].to_list() == ["p50", "p50", "SOMO35"]
    assert frame["period_start"].to_list() == ["2007-01-01", "", "2007-01-01"]
    assert [(p.row, p.field) for p in problems] == [(3, "period_start")]
    assert "statistics_period 'Summer' of year '2007' is not a calendar year" in problems[0].note
    # An unknown statistic is no reader problem: the gate's schema check refuses its code.
    result = Validator(load_schema("air-quality-statistic").descriptor).validate_chunk(
        frame.filter(pl.col("_row") == 4)
    )
    assert [(e.get("fieldName"), e["type"]) for e in result.errors] == [
        ("statistic", "constraint-error")
    ]


def test_airbase_reads_airbase_own_station_table(samples: Path, tmp_path: Path):
    rows = raw_rows(samples / STATIONS)
    lines = ["station_european_code\tstation_name\tstation_longitude_deg\tstation_latitude_deg"]
    lines += [f"{r['id']}\t{r['name']}\t{r['longitude']}\t{r['latitude']}" for r in rows]
    stations = write(tmp_path / "AirBase_v8_stations.csv", lines)
    frame, problems = read_all(
        source("airbase-csv", "air-quality-statistic"), airbase(samples, stations)
    )
    assert problems == [] and frame.height == 419
    assert frame.row(418, named=True)["station_name"] == "Köln Turiner Straße"
    assert (frame["longitude"][418], frame["latitude"][418]) == ("6.9577", "50.947369")


def test_airbase_refuses_what_it_cannot_read(samples: Path, tmp_path: Path):
    src = source("airbase-csv", "air-quality-statistic")
    with pytest.raises(ReaderError, match="needs options.linked.stations"):
        read_all(src, Fetched(samples / STATISTICS))
    with pytest.raises(ReaderError, match="into schema 'air-quality-statistic'.*no observation"):
        read_all(source("airbase-csv", "air-quality-observation"), airbase(samples))
    openaq = Fetched(samples / "air/openaq_location_3145071_measurements.csv",
                     linked={"stations": samples / STATIONS})  # fmt: skip
    with pytest.raises(ReaderError, match="not an AirBase statistics file: no column"):
        read_all(src, openaq)
    no_place = write(tmp_path / "s.csv", ["id,name", "DENW212,Köln Turiner Straße"])
    with pytest.raises(ReaderError, match="no longitude or station_longitude_deg column"):
        read_all(src, airbase(samples, no_place))
    twice = write(tmp_path / "t.csv", ["id,name,longitude,latitude", "A,a,1,2", "A,b,1,2"])
    with pytest.raises(ReaderError, match="names A more than once"):
        read_all(src, airbase(samples, twice))


# --- sensor-community-csv: every sensor type -----------------------------------------------


def test_sds011_archive_file_gives_pm10_and_pm25(samples: Path):
    frame, problems = read_all(
        source("sensor-community-csv", "air-quality-observation"), Fetched(samples / SDS011)
    )
    assert problems == [] and frame.height == 2 * 544
    assert set(frame["pollutant"]) == {"pm10", "pm25"}
    assert frame.tail(2).select("pollutant", "value", "observed_at", "station_name").rows() == [
        ("pm10", "10.03", "2018-12-25T23:59:38Z", "SDS011 sensor 15092 (location 7647)"),
        ("pm25", "7.47", "2018-12-25T23:59:38Z", "SDS011 sensor 15092 (location 7647)"),
    ]


def test_pms5003_file_gives_pm1_pm10_and_pm25(tmp_path: Path):
    path = write(tmp_path / "2018-04-20_pms5003_sensor_11390.csv", [
        PMS5003,
        "11390;PMS5003;5751;52.015;5.432;2018-04-20T00:00:25;45.25;31.50;22.50",
        "11390;PMS5003;5751;52.015;5.432;2018-04-20T00:02:51;44.00;30.75;",
    ])  # fmt: skip
    frame, problems = read_all(
        source("sensor-community-csv", "air-quality-observation"), Fetched(path)
    )
    assert problems == []
    assert frame.select("_row", "pollutant", "value", "observed_at").rows() == [
        (2, "pm1", "22.50", "2018-04-20T00:00:25Z"),
        (2, "pm10", "45.25", "2018-04-20T00:00:25Z"),
        (2, "pm25", "31.50", "2018-04-20T00:00:25Z"),
        (3, "pm10", "44.00", "2018-04-20T00:02:51Z"),  # no P0 sent: no PM1 observation
        (3, "pm25", "30.75", "2018-04-20T00:02:51Z"),
    ]
    assert set(frame["station_name"]) == {"PMS5003 sensor 11390 (location 5751)"}
    assert (frame["longitude"][0], frame["latitude"][0], frame["unit"][0]) == (
        "5.432",
        "52.015",
        UG,
    )


def test_sps30_file_publishes_the_sizes_the_schema_has_codes_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = write(tmp_path / "2025-06-15_sps30_sensor_7.csv", [
        SPS30,
        "7;SPS30;3;50.08;20.00;2025-06-15T00:00:00;4.0;3.9;3.8;3.5;29;29;29;29;24;0.5",
        "7;SPS30;3;50.08;20.00;2025-06-15T00:02:30;9.6;;5.4;;;;;;;",
    ])  # fmt: skip
    src = source("sensor-community-csv", "air-quality-observation")
    frame, problems = read_all(src, Fetched(path))
    assert problems == []
    # P4 (PM4), the N counts and TS have no code in air-quality-observation: not published.
    assert frame.select("_row", "pollutant", "value").rows() == [
        (2, "pm1", "3.5"), (2, "pm10", "4.0"), (2, "pm25", "3.8"),
        (3, "pm10", "9.6"), (3, "pm25", "5.4"),
    ]  # fmt: skip
    # A territory whose observation schema has pm4 gets P4 from the same file.
    descriptor = json.loads(
        (PROJECT_ROOT / "schemas/air-quality-observation.schema.json").read_text("utf-8")
    )
    pollutant = next(f for f in descriptor["fields"] if f["name"] == "pollutant")
    pollutant["constraints"]["enum"].append("pm4")
    pollutant["categories"].append({"value": "pm4", "label": "particulate matter PM4"})
    folder = tmp_path / "territory"
    folder.mkdir()
    (folder / "air-quality-observation.schema.json").write_text(json.dumps(descriptor), "utf-8")
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(folder))
    get_settings.cache_clear()
    frame, _ = read_all(src, Fetched(path))
    assert frame.filter(pl.col("_row") == 2).select("pollutant", "value").rows() == [
        ("pm1", "3.5"), ("pm10", "4.0"), ("pm25", "3.8"), ("pm4", "3.9"),
    ]  # fmt: skip


def test_climate_sensor_file_is_refused_naming_what_it_is(tmp_path: Path):
    path = write(tmp_path / "2017-03-31_bme280_sensor_1093.csv", [
        BME280, "1093;BME280;535;48.746;9.211;2017-03-31T00:00:47;96913.02;;;12.75;63.35",
    ])  # fmt: skip
    with pytest.raises(ReaderError) as refused:
        read_all(source("sensor-community-csv", "air-quality-observation"), Fetched(path))
    assert str(refused.value) == (
        "not a sensor.community particulate file: no P1/P2 column. It is a BME280 climate "
        "sensor (pressure, pressure_sealevel, temperature, humidity) file, and "
        "air-quality-observation has no pollutant code or unit for those values; harvest "
        "particulate sensors' files (SDS011, PMS*003, HPM, SPS30, NextPM) only"
    )


# --- end to end: the source files harvested ------------------------------------------------


def stored(engine: Engine, dataset: str) -> list[dict[str, Any]]:
    """Every record of a dataset as field → value."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(layout.table)).mappings().all()
    return [{name: row[column] for name, column in layout.columns.items()} for row in rows]


def quarantined(engine: Engine, run_id: int | None) -> list[tuple[int, str]]:
    """(source row, reason) of every row a run quarantined."""
    with Session(engine) as session:
        rows = session.exec(select(QuarantinedRow).where(QuarantinedRow.run_id == run_id)).all()
    return sorted((row.row_number, e["note"]) for row in rows for e in row.errors)


def test_airbase_statistics_source_is_harvested_whole(engine: Engine):
    outcome = harvest_source(load_source(BUNDLED / "eea-airbase-koeln-denw212.yaml"))
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "succeeded", 419, 419, 0,
    ), outcome  # fmt: skip
    rows = stored(engine, "eea-airbase-koeln-denw212")
    assert len(rows) == 419
    mean = next(
        r for r in rows
        if (r["pollutant"], r["series"], r["averaging_period"], r["statistic"])
        == ("pm10", "100", "P1D", "mean") and r["period_start"] == date(2008, 1, 1)
    )  # fmt: skip
    assert (mean["value"], mean["unit"], mean["period_end"]) == (28.541, UG, date(2008, 12, 31))
    assert (mean["longitude"], mean["latitude"]) == (6.9577, 50.947369)
    assert mean["station_name"] == "Köln Turiner Straße" and mean["valid_count"] == 349
    days = [r for r in rows if r["statistic"] == "days-above-50"]
    assert sorted((r["period_start"].year, r["series"], r["value"]) for r in days)[:2] == [
        (2007, "100", 25.0), (2008, "100", 13.0),
    ]  # fmt: skip


def test_airbase_row_without_its_station_is_quarantined_with_the_reason(
    engine: Engine, samples: Path, tmp_path: Path
):
    header, *lines = (samples / STATISTICS).read_text(encoding="utf-8").splitlines()
    feeds = tmp_path / "feeds"
    write(feeds / "stats.csv", [header, *lines[:4], lines[4].replace("DENW212", "DENW999", 1)])
    path = write(feeds / "koeln.yaml", [
        "id: test-airbase", "title: Test AirBase", "operator: {id: eea, name: EEA}",
        "theme: air-quality", "format: airbase-csv", "url: stats.csv",
        "schema: air-quality-statistic", "charter: eea-airbase-reuse",
        "options: {linked: {stations: 'file://{samples}/air/airbase_koeln_stations.csv'}}",
    ])  # fmt: skip
    outcome = harvest_source(load_source(path))
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "partial", 5, 4, 1,
    ), outcome  # fmt: skip
    assert quarantined(engine, outcome.run_id) == [
        (6, "station 'DENW999' is not in the linked station list "
            "(options.linked.stations, 19 stations): no name, no position"),
    ]  # fmt: skip
    assert {r["station_id"] for r in stored(engine, "test-airbase")} == {"DENW212"}


def test_airbase_station_list_source_is_harvested(engine: Engine, samples: Path):
    outcome = harvest_source(load_source(BUNDLED / "eea-airbase-koeln-stations.yaml"))
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "succeeded", 19, 19, 0,
    ), outcome  # fmt: skip
    rows = {r["station_id"]: r for r in stored(engine, "eea-airbase-koeln-stations")}
    assert sorted(rows) == sorted(r["id"] for r in raw_rows(samples / STATIONS))
    turiner = rows["DENW212"]
    assert (turiner["name"], turiner["eu_code"], turiner["country"]) == (
        "Köln Turiner Straße", "DENW212", "DE",
    )  # fmt: skip
    assert (turiner["commune"], turiner["operator"]) == ("Köln, Stadt", None)
    assert (turiner["longitude"], turiner["latitude"]) == (6.9577, 50.947369)


def test_cp1252_station_list_with_decimal_commas_is_harvested(engine: Engine, samples: Path):
    # The AirLR list's source file: csv options only (cp1252, ",", decimal commas, columns).
    outcome = harvest_source(load_source(BUNDLED / "atmo-occitanie-stations.yaml"))
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "succeeded", 20, 20, 0,
    ), outcome  # fmt: skip
    # Keyed by the BDQA code, which the file gives whatever station_id the source derives.
    rows = {r["national_code"]: r for r in stored(engine, "atmo-occitanie-stations")}
    listed = {r["Station_numBDQA"]: r for r in raw_rows(samples / AIRLR, encoding="cp1252")}
    assert sorted(rows) == sorted(listed) and len(rows) == 20
    for code, raw in listed.items():  # "43,591486" in the file is 43.591486 in WGS84
        assert rows[code]["longitude"] == float(raw["Station_longitude"].replace(",", "."))
        assert rows[code]["latitude"] == float(raw["Station_latitude"].replace(",", "."))
    arenes = rows["08016"]
    assert (arenes["name"], arenes["longitude"], arenes["latitude"]) == (
        "Près d'Arènes", 3.886814, 43.591486,
    )  # fmt: skip
    assert (arenes["station_type"], arenes["area_type"], arenes["typology"]) == (
        "background", "urban", "urbain",
    )  # fmt: skip
    assert rows["08025"]["comment"] == "Uniquement en période estivale"


def test_particulate_files_of_other_sensor_types_are_harvested(engine: Engine, tmp_path: Path):
    feeds = tmp_path / "feeds"
    write(feeds / "sps30.csv", [
        SPS30,
        "7;SPS30;3;50.08;20.00;2025-06-15T00:00:00;4.0;3.9;3.8;3.5;29;29;29;29;24;0.5",
        "7;SPS30;3;50.08;20.00;2025-06-15T00:02:30;9.6;;5.4;;;;;;;",
        "7;SPS30;3;50.08;20.00;2025-06-15T00:05:00;-1.0;;2.1;;;;;;;",
    ])  # fmt: skip
    write(feeds / "bme280.csv", [
        BME280, "1093;BME280;535;48.746;9.211;2017-03-31T00:00:47;96913.02;;;12.75;63.35",
    ])  # fmt: skip
    outcomes = {}
    for name in ("sps30", "bme280"):
        path = write(feeds / f"{name}.yaml", [
            f"id: test-{name}", f"title: {name}", "operator: {id: sensor-community, name: sc}",
            "theme: air-quality", "format: sensor-community-csv", f"url: {name}.csv",
            "schema: air-quality-observation", "charter: sensor-community-odbl",
        ])  # fmt: skip
        outcomes[name] = harvest_source(load_source(path))
    sps30 = outcomes["sps30"]
    assert (sps30.status, sps30.read, sps30.published, sps30.quarantined) == (
        "partial", 7, 6, 1,
    ), sps30  # fmt: skip
    values = {(r["pollutant"], r["value"]) for r in stored(engine, "test-sps30")}
    assert values == {
        ("pm1", 3.5), ("pm10", 4.0), ("pm25", 3.8), ("pm10", 9.6), ("pm25", 5.4), ("pm25", 2.1),
    }  # fmt: skip
    # The drifting PM10 reading of row 4 is quarantined, its PM2.5 published.
    assert quarantined(engine, sps30.run_id) == [(4, 'constraint "minimum" is "0"')]
    bme280 = outcomes["bme280"]
    assert (bme280.status, bme280.published) == ("failed", 0)
    assert "It is a BME280 climate sensor" in bme280.message


# --- real files of other shapes --------------------------------------------------------------

# OpenAQ's older openaq.org CSV download (API v1/v2), from dadasara/NHSHackDay openaq.csv; the
# ppm rows are lines of the same export in evatikiotis/Kafka-playground openaq.csv.
OPENAQ_DOWNLOAD = [
    "location,city,country,utc,local,parameter,value,unit,latitude,longitude,attribution",
    "Cardiff Centre,Cardiff,GB,2018-01-01T00:00:00.000Z,2018-01-01T00:00:00+00:00,pm25,6,µg/m³,"
    '51.48178,-3.17625,"[{""name"":""Department for Environmental Food & Rural Affairs"",""url"":'
    '""https://uk-air.defra.gov.uk/latest/currentlevels""}]"',
    "Netley,Adelaide,AU,2020-02-13T10:30:00.000Z,2020-02-13T21:00:00+10:30,o3,0.022,ppm,"
    '-34.9438035,138.549098,"[{""name"":""Environment Protection Authority (EPA), South '
    'Australia"",""url"":""https://data.sa.gov.au/data/dataset/recent-air-quality""}]"',
]
# The AWS archive (openaq-data-archive, location-2178-20230222.csv.gz), the example file of
# OpenAQ's documentation (docs.openaq.org, "AWS" page).
OPENAQ_ARCHIVE = [
    "location_id,sensors_id,location,datetime,lat,lon,parameter,units,value",
    "2178,3919,Del Norte-2178,2023-02-22T01:00:00-07:00,35.1353,-106.584702,pm10,µg/m³,14.0",
    "2178,3917,Del Norte-2178,2023-01-01T01:00:00-07:00,35.1353,-106.584702,o3,ppm,0.04",
]
# An OpenAQ Explorer export of a low-cost sensor with its weather and particle-count sensors,
# from JeremyTubongbanua/nasa_space_apps_2025 backend/openaq/data/
# openaq_location_1612333_measurments.csv.
EXPLORER_TAIL = (
    ',"America/Toronto",43.6692007,-79.408185,,,,"Unknown Governmental Organization","AirGradient"'
)
OPENAQ_EXPLORER = [
    "location_id,location_name,parameter,value,unit,datetimeUtc,datetimeLocal,timezone,latitude,"
    "longitude,country_iso,isMobile,isMonitor,owner_name,provider",
    '1612333,"AQ-Toronto-Annex","pm1",3.25,"µg/m³","2025-09-01T01:00:00Z",'
    '"2025-08-31T21:00:00-04:00"' + EXPLORER_TAIL,
    '1612333,"AQ-Toronto-Annex","temperature",15.329999923706055,"c","2025-10-03T13:00:00Z",'
    '"2025-10-03T09:00:00-04:00"' + EXPLORER_TAIL,
    '1612333,"AQ-Toronto-Annex","um003",489.25,"particles/cm³","2025-09-01T01:00:00Z",'
    '"2025-08-31T21:00:00-04:00"' + EXPLORER_TAIL,
    '1612333,"AQ-Toronto-Annex","relativehumidity",67.5,"%","2025-09-01T01:00:00Z",'
    '"2025-08-31T21:00:00-04:00"' + EXPLORER_TAIL,
]
OBSERVATION = ("station_id", "station_name", "pollutant", "value", "unit", "observed_at")


def test_openaq_download_and_archive_give_observations_like_the_explorer(tmp_path: Path):
    src = source("openaq-csv", "air-quality-observation")
    frame, problems = read_all(src, Fetched(write(tmp_path / "openaq.csv", OPENAQ_DOWNLOAD)))
    assert problems == []
    # No location id in this shape: the station is its country and location name.
    assert frame.select(*OBSERVATION, "longitude", "latitude").rows() == [
        ("openaq-GB-Cardiff Centre", "Cardiff Centre", "pm25", "6", UG,
         "2018-01-01T00:00:00Z", "-3.17625", "51.48178"),
        ("openaq-AU-Netley", "Netley", "o3", "0.022", "ppm",
         "2020-02-13T10:30:00Z", "138.549098", "-34.9438035"),
    ]  # fmt: skip
    frame, problems = read_all(src, Fetched(write(tmp_path / "archive.csv", OPENAQ_ARCHIVE)))
    assert problems == []
    # `datetime` carries the station's offset; ids are the Explorer's own, so stations match.
    assert frame.select(*OBSERVATION, "longitude", "latitude").rows() == [
        ("openaq-2178", "Del Norte-2178", "pm10", "14.0", UG,
         "2023-02-22T08:00:00Z", "-106.584702", "35.1353"),
        ("openaq-2178", "Del Norte-2178", "o3", "0.04", "ppm",
         "2023-01-01T08:00:00Z", "-106.584702", "35.1353"),
    ]  # fmt: skip
    assert_schema_valid(frame, tmp_path, "air-quality-observation")


def test_openaq_export_leaves_out_weather_and_particle_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    path = write(tmp_path / "openaq_location_1612333_measurments.csv", OPENAQ_EXPLORER)
    openaq = source("openaq-csv", "air-quality-observation")
    with caplog.at_level("INFO", logger="pipelines.readers.openaq"):
        frame, problems = read_all(openaq, Fetched(path))
    assert problems == []
    assert frame.select("_row", "pollutant", "value", "unit").rows() == [(2, "pm1", "3.25", UG)]
    assert "temperature (1)" in caplog.text and "um003 (1)" in caplog.text
    # Nothing is dropped unsaid: the report the gate writes counts them, by parameter.
    openaq = replace(
        openaq,
        charter="openaq-cc-by",
        operator=Operator("openaq", "OpenAQ"),
        path=tmp_path / "openaq.yaml",  # its feed, file:x.csv, lies beside it
    )
    report = check_file(path, openaq)
    assert report["valid"] and report["tasks"][0]["stats"]["rows"] == 1
    assert report["tasks"][0]["warnings"] == [
        "3 rows of the feed left out by its reader, as documented: no air pollutant: temperature"
        " (1); no air pollutant: um003 (1); no air pollutant: relativehumidity (1)",
        # and the export's columns no field takes, named rather than dropped unsaid
        "7 column(s) of the feed fill no field of schema 'air-quality-observation' 1.0.1 and "
        "were not published: datetimeLocal, timezone, country_iso, isMobile, isMonitor, "
        "owner_name, provider",
    ]
    # A parameter that is a pollutant the schema lacks stays, so the gate reports it.
    black_carbon = OPENAQ_EXPLORER[1].replace('"pm1"', '"bc"')
    frame, _ = read_all(
        source("openaq-csv", "air-quality-observation"),
        Fetched(write(tmp_path / "bc.csv", [OPENAQ_EXPLORER[0], black_carbon])),
    )
    assert frame["pollutant"].to_list() == ["bc"]


# Archive lines as luftdatenpumpe documents them, per sensor type, in
# earthobservations/luftdatenpumpe luftdatenpumpe/source/luftdaten_info.py.
PPD42NS = [
    "sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2",
    "27;PPD42NS;18;;;2015-10-01T19:41:50.266431+00:00;0.62;0;0;0.62;0;0",
]
OLD_SDS011 = [
    "sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2",
    "92;SDS011;42;48.800;9.003;2016-07-14T13:02:46.949036+00:00;7.71;;;5.03;;",
]
HPM = [
    "sensor_id;sensor_type;location;lat;lon;timestamp;P1;P2",
    "7096;HPM;3590;50.853;4.342;2017-11-25T00:04:50;22;21",
]


def test_ppd42ns_counts_are_refused_not_published_as_concentrations(tmp_path: Path):
    # 0.62 with a zero ratio is the floor of the PPD42NS curve in particles per 0.01 ft³.
    path = write(tmp_path / "2015-10-01_ppd42ns_sensor_27.csv", PPD42NS)
    with pytest.raises(ReaderError, match="a PPD42NS file: its P1/P2 are particles per 0.01 ft³"):
        read_all(source("sensor-community-csv", "air-quality-observation"), Fetched(path))


def test_older_archive_files_with_offsets_and_two_sizes(tmp_path: Path):
    src = source("sensor-community-csv", "air-quality-observation")
    frame, problems = read_all(src, Fetched(write(tmp_path / "sds.csv", OLD_SDS011)))
    assert problems == []  # 2016 files wrote microseconds and an offset
    assert frame.select("pollutant", "value", "observed_at").rows() == [
        ("pm10", "7.71", "2016-07-14T13:02:46Z"), ("pm25", "5.03", "2016-07-14T13:02:46Z"),
    ]  # fmt: skip
    frame, problems = read_all(src, Fetched(write(tmp_path / "hpm.csv", HPM)))
    assert problems == [] and frame.select("pollutant", "value").rows() == [
        ("pm10", "22"), ("pm25", "21"),
    ]  # fmt: skip


def test_openaq_location_export_with_weather_sensors_is_harvested(engine: Engine, tmp_path: Path):
    feeds = tmp_path / "feeds"
    write(feeds / "annex.csv", OPENAQ_EXPLORER)
    path = write(feeds / "annex.yaml", [
        "id: test-openaq-annex", "title: Annex", "operator: {id: openaq, name: OpenAQ}",
        "theme: air-quality", "format: openaq-csv", "url: annex.csv",
        "schema: air-quality-observation", "charter: openaq-cc-by",
    ])  # fmt: skip
    outcome = harvest_source(load_source(path))
    # Before: 3 of its 4 rows failed the pollutant enum and the batch was refused whole.
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "succeeded", 1, 1, 0,
    ), outcome  # fmt: skip
    assert [(r["pollutant"], r["value"]) for r in stored(engine, "test-openaq-annex")] == [
        ("pm1", 3.25)
    ]
