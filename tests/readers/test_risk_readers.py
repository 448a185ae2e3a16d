"""Risk readers end to end: USGS GeoJSON, Vigicrues JSON-LD, NASA FIRMS, LANUV and Montpellier.

Every bundled risk source is harvested through `pipelines.flows.harvest_source` into a fresh
catalogue; the stored rows are checked against the sample files themselves (times in UTC,
WGS84 positions, projected ones against a pyproj transform done here). Bad input gets a clear
error or a quarantine reason, and changes nothing already published.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
import yaml
from pyproj import Transformer
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import catalogue
from hub.config import PROJECT_ROOT, get_settings
from hub.models import Dataset, HarvestRun, QuarantinedRow
from pipelines.flows import Outcome, harvest_source
from pipelines.readers import Fetched, ReaderError, read_records
from pipelines.sources import Source, load_source

SOURCES = PROJECT_ROOT / "pipelines" / "sources"
USGS = "risk/usgs_all_day_2019-01-30.geojson"
FIRMS = "risk/firms_MODIS_C6_USA_contiguous_and_Hawaii_24h_2020-10-01.csv"
LANUV = "risk/lanuv_gauge_stations.csv"
MTP_GEOJSON = "risk/VilleMtp_MTP_SitesHebUrg.geojson"
MTP_CSV = "risk/VilleMtp_MTP_SitesHebUrg.csv"
VIGI_TERRITORIES = "risk/vigicrues_TerEntVigiCru.json"
VIGI_LISTING = "risk/vigicrues_StaEntVigiCru_CdEntVigiCru1.json"
VIGI_SAMBRE = "risk/vigicrues_TronEntVigiCru_CdEntVigiCruAP1.json"
VIGI_BULLETIN = "risk/vigicrues_InfoVigiCru_CdEntVigiCru1_detail.json"
VIGI_DELETTES = "geo/vigicrues_StaEntVigiCru_E351122001_L93.json"
LAMBERT_93 = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)

# Bundled source → rows read (all published, none quarantined).
BUNDLED = {
    "usgs-earthquakes-2019-01-30": 233,
    "firms-modis-usa-2020-10-01": 2575,
    "lanuv-gauge-stations": 214,
    "montpellier-emergency-shelters": 5,
    "montpellier-emergency-shelters-csv": 5,
    "vigicrues-territories": 23,
    "vigicrues-sections-artois-picardie": 13,
    "vigicrues-stations-artois-picardie": 68,
    "vigicrues-section-sambre": 1,
    "vigicrues-station-delettes": 1,
    "vigicrues-bulletin-artois-picardie": 13,
}


# --- helpers -----------------------------------------------------------------------------------


def bundled(name: str) -> Source:
    return load_source(SOURCES / f"{name}.yaml")


def harvested(name: str) -> Outcome:
    """Harvest a bundled source, which must publish every row it reads."""
    outcome = harvest_source(bundled(name))
    expected = ("succeeded", BUNDLED[name], BUNDLED[name], 0)
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == expected, (
        outcome
    )
    return outcome


def stored(engine: Engine, dataset: str) -> list[dict[str, Any]]:
    """Every stored record of a dataset, in insertion order."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset))
    with engine.connect() as connection:
        query = sa.select(layout.table).order_by(layout.table.c["_id"])
        return [dict(row) for row in connection.execute(query).mappings()]


def keyed(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    found = {row[key]: row for row in rows}
    assert len(found) == len(rows), f"{key} is not unique"
    return found


def utc(value: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite keeps them naive, in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def write_source(folder: Path, data: dict[str, Any]) -> Source:
    """Write a harvest source file next to its feed and load it as `hub harvest FILE` does."""
    path = folder / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_source(path)


def variant(name: str, folder: Path, feed: Path, **changes: Any) -> Source:
    """A bundled source read from another file (`url`), with other keys or options changed."""
    data = yaml.safe_load((SOURCES / f"{name}.yaml").read_text(encoding="utf-8"))
    options = {**data.get("options", {}), **changes.pop("options", {})}
    for key in changes.pop("drop_options", ()):
        options.pop(key)
    data = {**data, **changes, "url": f"file://{feed}", "options": options}
    return write_source(folder, data)


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def notes(engine: Engine, run_id: int | None) -> dict[int, list[str]]:
    """The reasons of every row a run quarantined, by source row."""
    with Session(engine) as session:
        rows = session.exec(select(QuarantinedRow).where(QuarantinedRow.run_id == run_id)).all()
    found: dict[int, list[str]] = {}
    for row in rows:
        for error in row.errors:
            found.setdefault(error["rowNumber"], []).append(error["message"])
    return found


def read_frame(source: Source, path: Path) -> tuple[pl.DataFrame, list[Any]]:
    """What the harvest would publish from `path`: the normalised rows and their problems."""
    chunks = list(read_records(source, Fetched(path)))
    return pl.concat([c.frame for c in chunks]), [p for c in chunks for p in c.problems]


# --- every bundled risk source -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_risk_source_publishes_every_row(engine, name):
    harvested(name)
    assert len(stored(engine, name)) == BUNDLED[name]


# --- USGS GeoJSON (generic geojson reader + mapping) ---------------------------------------------


def test_usgs_events_keep_the_feeds_times_positions_and_properties(engine, samples):
    harvested("usgs-earthquakes-2019-01-30")
    feed = json.loads((samples / USGS).read_text(encoding="utf-8"))
    rows = keyed(stored(engine, "usgs-earthquakes-2019-01-30"), "event_id")
    assert len(rows) == feed["metadata"]["count"] == 233

    daly_city = rows["nc73138176"]
    assert utc(daly_city["occurred_at"]) == datetime(2019, 1, 30, 18, 28, 53, tzinfo=UTC)
    assert utc(daly_city["updated_at"]) == datetime(2019, 1, 30, 18, 31, 54, tzinfo=UTC)
    assert (daly_city["longitude"], daly_city["latitude"], daly_city["depth_km"]) == (
        -122.512001,
        37.6756668,
        12.48,
    )
    assert (daly_city["magnitude"], daly_city["mag_type"], daly_city["significance"]) == (
        2.79,
        "md",
        120,
    )
    assert (daly_city["nst"], daly_city["tsunami"], daly_city["status"]) == (61, False, "automatic")
    assert daly_city["place"] == "4km WSW of Daly City, CA"

    for feature in feed["features"]:
        row, (lon, lat, depth) = rows[feature["id"]], feature["geometry"]["coordinates"]
        assert (row["longitude"], row["latitude"], row["depth_km"]) == pytest.approx(
            (lon, lat, depth), abs=1e-7
        )
        millis = feature["properties"]["time"]
        assert utc(row["occurred_at"]) == datetime.fromtimestamp(millis // 1000, UTC)
    assert Counter(r["event_type"] for r in rows.values()) == {
        "earthquake": 223,
        "quarry blast": 5,
        "explosion": 5,
    }
    assert Counter(r["status"] for r in rows.values()) == {"reviewed": 141, "automatic": 92}
    depths = [f["geometry"]["coordinates"][2] for f in feed["features"]]
    assert min(r["depth_km"] for r in rows.values()) == min(depths) == feed["bbox"][2] == -2


def test_geojson_rows_are_numbered_by_feature(samples):
    frame, problems = read_frame(bundled("usgs-earthquakes-2019-01-30"), samples / USGS)
    assert problems == []
    assert frame["_row"].to_list() == list(range(2, 235))
    assert frame.row(0, named=True)["occurred_at"] == "2019-01-30T18:28:53Z"


# --- NASA FIRMS --------------------------------------------------------------------------------


def test_firms_detections_get_their_utc_overpass_time(engine, samples):
    harvested("firms-modis-usa-2020-10-01")
    with (samples / FIRMS).open(encoding="utf-8", newline="") as file:
        lines = list(csv.DictReader(file))
    rows = stored(engine, "firms-modis-usa-2020-10-01")
    assert len(rows) == len(lines) == 2575

    (first,) = [r for r in rows if (r["latitude"], r["longitude"]) == (30.943, -88.017)]
    assert utc(first["acquired_at"]) == datetime(2020, 9, 30, 4, 5, tzinfo=UTC)  # file row 2
    assert (first["satellite"], first["confidence"], first["frp"], first["daynight"]) == (
        "T",
        54,
        7.7,
        "N",
    )
    in_file = {
        (
            float(line["latitude"]),
            float(line["longitude"]),
            datetime.strptime(line["acq_date"] + line["acq_time"], "%Y-%m-%d%H%M").replace(
                tzinfo=UTC
            ),
            line["satellite"],
        )
        for line in lines
    }
    in_store = {
        (r["latitude"], r["longitude"], utc(r["acquired_at"]), r["satellite"]) for r in rows
    }
    assert in_store == in_file
    days = Counter(utc(r["acquired_at"]).date().isoformat() for r in rows)
    assert days == {"2020-09-30": 1392, "2020-10-01": 1183}
    assert Counter(r["satellite"] for r in rows) == Counter(line["satellite"] for line in lines)
    assert {(r["instrument"], r["confidence_class"]) for r in rows} == {("MODIS", None)}


def test_firms_clock_without_leading_zeros_and_a_broken_clock(engine, samples, tmp_path):
    lines = (samples / FIRMS).read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:4]
    unpadded = rows[1].replace(",0410,", ",410,")  # some FIRMS files drop the leading zero
    broken = rows[2].replace(",0410,", ",4:10,")
    feed = tmp_path / "firms.csv"
    feed.write_text("\n".join([header, rows[0], unpadded, broken]) + "\n", encoding="utf-8")
    source = variant("firms-modis-usa-2020-10-01", tmp_path, feed, id="firms-clocks")

    outcome = harvest_source(source)
    assert (outcome.read, outcome.published, outcome.quarantined) == (3, 2, 1), outcome
    times = {r["latitude"]: utc(r["acquired_at"]) for r in stored(engine, "firms-clocks")}
    assert times == {
        30.943: datetime(2020, 9, 30, 4, 5, tzinfo=UTC),
        41.635: datetime(2020, 9, 30, 4, 10, tzinfo=UTC),
    }
    assert any(
        "unparseable timestamp '2020-09-30 4:10'" in n for n in notes(engine, outcome.run_id)[4]
    )


# FIRMS VIIRS files of three kinds, each a few real lines:
# - 24-hour files (bright_ti4, no instrument column, confidence spelled out): rows of
#   src/test/resources/io/kontur/eventapi/firms/job/firms.suomi-npp-viirs-c2.csv (NOAA-20,
#   satellite 1) and firms.noaa-20-viirs-c2.csv (Suomi NPP, N) in github.com/konturio/event-api;
VIIRS_24H = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,confidence,version,"
    "bright_ti5,frp,daynight\n"
    "48.27736,14.33752,308.6,0.39,0.36,2020-11-01,0112,1,nominal,2.0NRT,280.8,0.9,N\n"
    "44.48262,-119.91124,297.8,0.51,0.66,2020-11-02,1100,1,nominal,2.0NRT,277.5,0.9,N\n"
    "66.88837,75.49076,367,0.5,0.66,2020-11-01,0012,N,high,2.0NRT,256.5,9.8,N\n"
    "-15.35001,40.51532,346.9,0.56,0.43,2020-11-02,1106,N,nominal,2.0NRT,302.7,9.2,D\n"
)
# - the area API (instrument column, l/n/h, NOAA-21 as N21, clocks without leading zeros):
#   data/raw/VIIRS_NOAA21_NRT_2026-09-25.csv of github.com/jainunnati/ThermWatch_FIRMS, rows 2-3;
VIIRS_API = (
    "latitude,longitude,bright_ti4,scan,track,acq_date,acq_time,satellite,instrument,confidence,"
    "version,bright_ti5,frp,daynight\n"
    "23.64921,96.19442,329.65,0.54,0.42,2026-09-25,627,N21,VIIRS,l,2.0NRT,304.26,7.18,D\n"
    "26.72463,95.78725,330.36,0.5,0.41,2026-09-25,629,N21,VIIRS,n,2.0NRT,296.13,3.34,D\n"
)
# - archive downloads, whose VIIRS columns carry MODIS's names (brightness, bright_t31) and
#   NOAA-20 is N20: data/raw/DL_FIRE_J1V-C2_740979/fire_archive_J1V-C2_740979.csv (rows 2, 17)
#   and DL_FIRE_SV-C2_740981/fire_archive_SV-C2_740981.csv (row 15) of github.com/domino644/miss.
VIIRS_ARCHIVE = (
    "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,instrument,confidence,"
    "version,bright_t31,frp,daynight,type\n"
    "36.24333,27.96268,323.51,0.61,0.54,2023-07-23,0038,N20,VIIRS,n,2,300.39,37.9,N,0\n"
    "36.21456,27.97419,367,0.61,0.54,2023-07-23,0038,N20,VIIRS,h,2,307.73,12.98,N,0\n"
    "36.22617,27.93412,367,0.64,0.72,2023-07-19,0104,N,VIIRS,h,2,300.25,15.44,N,0\n"
)


def harvest_text(tmp_path: Path, name: str, text: str, **changes: Any) -> Outcome:
    """Harvest `text`, written as file `name`, as the bundled FIRMS source does its file."""
    feed = tmp_path / name
    feed.write_text(text, encoding="utf-8")
    changes.setdefault("id", name.removesuffix(".csv"))
    return harvest_source(variant("firms-modis-usa-2020-10-01", tmp_path, feed, **changes))


def test_viirs_24_hour_files_give_their_i4_i5_temperatures_and_confidence_class(engine, tmp_path):
    outcome = harvest_text(tmp_path, "viirs-24h.csv", VIIRS_24H)
    assert (outcome.status, outcome.published, outcome.quarantined) == ("succeeded", 4, 0), outcome
    rows = keyed(stored(engine, "viirs-24h"), "latitude")
    noaa20 = rows[44.48262]
    assert (noaa20["longitude"], utc(noaa20["acquired_at"])) == (
        -119.91124,
        datetime(2020, 11, 2, 11, 0, tzinfo=UTC),
    )
    assert (noaa20["brightness"], noaa20["bright_t31"], noaa20["scan"]) == (297.8, 277.5, 0.51)
    assert (noaa20["satellite"], noaa20["instrument"], noaa20["version"]) == (
        "1",
        "VIIRS",
        "2.0NRT",
    )
    assert (noaa20["confidence"], noaa20["confidence_class"]) == (None, "nominal")
    snpp = rows[66.88837]
    assert utc(snpp["acquired_at"]) == datetime(2020, 11, 1, 0, 12, tzinfo=UTC)
    assert (snpp["satellite"], snpp["confidence_class"], snpp["daynight"]) == ("N", "high", "N")
    assert Counter(r["satellite"] for r in rows.values()) == {"1": 2, "N": 2}


def test_viirs_api_and_archive_files_name_satellites_and_classes_their_own_way(engine, tmp_path):
    api = harvest_text(tmp_path, "viirs-api.csv", VIIRS_API)
    archive = harvest_text(tmp_path, "viirs-archive.csv", VIIRS_ARCHIVE)
    for outcome in (api, archive):
        assert (outcome.status, outcome.quarantined) == ("succeeded", 0), outcome
    rows = keyed(stored(engine, "viirs-api") + stored(engine, "viirs-archive"), "latitude")
    assert len(rows) == 5
    noaa21 = rows[23.64921]
    assert (noaa21["satellite"], noaa21["confidence_class"], noaa21["brightness"]) == (
        "2",
        "low",
        329.65,
    )
    assert utc(noaa21["acquired_at"]) == datetime(2026, 9, 25, 6, 27, tzinfo=UTC)  # "627"
    noaa20 = rows[36.24333]
    assert (noaa20["longitude"], utc(noaa20["acquired_at"])) == (
        27.96268,
        datetime(2023, 7, 23, 0, 38, tzinfo=UTC),
    )
    assert (noaa20["satellite"], noaa20["instrument"], noaa20["version"]) == ("1", "VIIRS", "2")
    assert (noaa20["brightness"], noaa20["bright_t31"], noaa20["frp"]) == (323.51, 300.39, 37.9)
    assert (noaa20["confidence"], noaa20["confidence_class"]) == (None, "nominal")
    assert (rows[36.22617]["satellite"], rows[36.22617]["confidence_class"]) == ("N", "high")


def test_a_viirs_confidence_or_satellite_firms_does_not_write_is_quarantined(engine, tmp_path):
    first = VIIRS_API.splitlines()[1]
    odd = first.replace("23.64921", "23.5").replace(",N21,", ",N22,").replace(",l,", ",50,")
    outcome = harvest_text(tmp_path, "viirs-odd.csv", f"{VIIRS_API}{odd}\n")
    assert (outcome.read, outcome.published, outcome.quarantined) == (3, 2, 1), outcome
    found = notes(engine, outcome.run_id)
    assert found.keys() == {4}
    assert any("satellite" in n and "N22" in n for n in found[4]), found
    assert any("confidence_class" in n and "50" in n for n in found[4]), found


def test_a_dataset_stored_under_1_0_0_takes_viirs_batches_under_1_1_0(
    engine, tmp_path, monkeypatch
):
    current = json.loads(
        (PROJECT_ROOT / "schemas" / "wildfire-detection.schema.json").read_text(encoding="utf-8")
    )
    first = json.loads(json.dumps(current))  # 1.0.0: MODIS only, as first published
    first["version"] = "1.0.0"
    first["fields"] = [
        f for f in first["fields"] if f["name"] not in ("instrument", "confidence_class")
    ]
    satellite = next(f for f in first["fields"] if f["name"] == "satellite")
    satellite["constraints"]["enum"] = ["T", "A"]
    satellite["categories"] = [c for c in satellite["categories"] if c["value"] in ("T", "A")]
    territory = tmp_path / "territory-schemas"
    territory.mkdir()
    write_json(territory / "wildfire-detection.schema.json", first)
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(territory))
    get_settings.cache_clear()
    harvested("firms-modis-usa-2020-10-01")
    assert dataset_version(engine, "firms-modis-usa-2020-10-01") == "1.0.0"

    monkeypatch.delenv("HUB_SCHEMAS_PATH")
    get_settings.cache_clear()
    viirs = harvest_text(tmp_path, "viirs-24h.csv", VIIRS_24H, id="firms-modis-usa-2020-10-01")
    assert (viirs.status, viirs.published, viirs.quarantined) == ("succeeded", 4, 0), viirs
    assert dataset_version(engine, "firms-modis-usa-2020-10-01") == "1.1.1"
    rows = stored(engine, "firms-modis-usa-2020-10-01")
    assert len(rows) == 2575 + 4
    assert Counter(r["instrument"] for r in rows) == {None: 2575, "VIIRS": 4}
    assert Counter(r["satellite"] for r in rows if r["instrument"] == "VIIRS") == {"1": 2, "N": 2}
    modis = [r for r in rows if (r["latitude"], r["longitude"]) == (30.943, -88.017)]
    assert [(r["confidence"], r["confidence_class"]) for r in modis] == [(54, None)]


def dataset_version(engine: Engine, dataset: str) -> str | None:
    with Session(engine) as session:
        found = session.get(Dataset, dataset)
        return None if found is None else found.schema_version


def test_an_archive_download_naming_terra_and_aqua_is_read_as_t_and_a(engine, tmp_path):
    # FIRMS's archive download for Australia, August 2019 (fire_archive_M6_96619.csv in
    # github.com/zleo0003/fire_popW9), its header and rows 2 and 111; a spreadsheet rewrote
    # its days as d/m/yyyy, which options.timestamp_format reads.
    feed = tmp_path / "fire_archive_M6_96619.csv"
    feed.write_text(
        "latitude,longitude,brightness,scan,track,acq_date,acq_time,satellite,instrument,"
        "confidence,version,bright_t31,frp,daynight,type\n"
        "-11.807,142.0583,313,1,1,1/8/2019,56,Terra,MODIS,48,6.3,297.3,6.6,D,0\n"
        "-34.468,150.8807,310.5,1.2,1.1,1/8/2019,340,Aqua,MODIS,61,6.3,294.5,9.9,D,2\n",
        encoding="utf-8",
    )
    options = {"timestamp_format": "%d/%m/%YT%H:%M"}
    source = variant("firms-modis-usa-2020-10-01", tmp_path, feed, id="au", options=options)
    outcome = harvest_source(source)
    assert (outcome.status, outcome.published, outcome.quarantined) == ("succeeded", 2, 0), outcome
    rows = {r["satellite"]: r for r in stored(engine, "au")}
    assert rows.keys() == {"T", "A"}
    assert utc(rows["T"]["acquired_at"]) == datetime(2019, 8, 1, 0, 56, tzinfo=UTC)
    assert (rows["A"]["latitude"], utc(rows["A"]["acquired_at"]).hour) == (-34.468, 3)


# --- LANUV gauges (generic csv reader) -----------------------------------------------------------


def test_lanuv_gauges_keep_their_flood_levels_in_centimetres(engine, samples):
    harvested("lanuv-gauge-stations")
    with (samples / LANUV).open(encoding="utf-8", newline="") as file:
        lines = {line["Name"]: line for line in csv.DictReader(file)}
    rows = keyed(stored(engine, "lanuv-gauge-stations"), "station_id")
    assert rows.keys() == lines.keys()

    ahlen = rows["Ahlen"]
    assert (ahlen["river"], ahlen["basin"], ahlen["level_unit"]) == ("Werse", "Ems", "cm")
    assert (ahlen["threshold_1"], ahlen["threshold_2"], ahlen["threshold_3"]) == (170, 200, 250)
    assert (ahlen["mean_high_water"], ahlen["mean_low_water"], ahlen["mean_water"]) == (182, 10, 32)
    assert (ahlen["longitude"], ahlen["latitude"]) == (7.9186738, 51.7447912)
    ahmsen = rows["Ahmsen"]  # no information levels set, mean levels given
    assert (ahmsen["threshold_1"], ahmsen["mean_high_water"]) == (None, 207)

    with_levels = [name for name, line in lines.items() if line["Informationsstufe 1"]]
    assert len(with_levels) == 82
    assert sorted(n for n, r in rows.items() if r["threshold_1"] is not None) == sorted(with_levels)
    for name, line in lines.items():
        assert (rows[name]["longitude"], rows[name]["latitude"]) == (
            float(line["X"]),
            float(line["Y"]),
        )


# --- Montpellier emergency sites (geojson in Lambert-93, csv in cp1252) ------------------------


def test_montpellier_sites_from_lambert_93_geojson_and_from_the_csv_agree(engine, samples):
    harvested("montpellier-emergency-shelters")
    harvested("montpellier-emergency-shelters-csv")
    collection = json.loads((samples / MTP_GEOJSON).read_text(encoding="utf-8"))
    geo = keyed(stored(engine, "montpellier-emergency-shelters"), "site_id")
    table = keyed(stored(engine, "montpellier-emergency-shelters-csv"), "site_id")
    assert geo.keys() == table.keys() == {"341", "500", "582", "611", "702"}

    for feature in collection["features"]:
        site = str(feature["properties"]["POLYGONID"])
        lon, lat = LAMBERT_93.transform(*feature["geometry"]["coordinates"])
        assert (geo[site]["longitude"], geo[site]["latitude"]) == pytest.approx(
            (lon, lat), abs=1e-7
        )
        # The city's own WGS84 columns, read from the CSV's decimal commas, agree to 1e-7.
        assert (table[site]["longitude"], table[site]["latitude"]) == pytest.approx(
            (lon, lat), abs=1e-7
        )
        assert geo[site]["name"] == table[site]["name"] == feature["properties"]["LIBEL"]
    assert geo["341"]["name"] == "Zénith" and geo["341"]["district"] == "Port Marianne"
    assert (geo["341"]["longitude"], geo["341"]["latitude"]) == pytest.approx(
        (3.9309202, 43.6130371), abs=1e-7
    )
    # The CSV is Windows-1252: its typographic apostrophe (byte 0x92) reads as U+2019. The
    # GeoJSON export holds U+0092 instead (that byte taken as Latin-1): kept as the file has it.
    assert table["611"]["address"] == "227 r. de l\u2019Arnel"
    assert geo["611"]["address"] == "227 r. de l\x92Arnel"


def test_a_field_the_source_does_not_map_keeps_the_values_pushed_into_it(
    engine, samples, tmp_path, monkeypatch
):
    """A MINOR version adds an optional `capacity`; the operator fills it through the gate (as
    the push API does) while its CSV export has no such column: the next harvest leaves it."""
    bundled_schema = PROJECT_ROOT / "schemas" / "emergency-shelter.schema.json"
    schema = json.loads(bundled_schema.read_text(encoding="utf-8"))
    capacity = {"name": "capacity", "type": "integer", "title": "Capacity"}
    schema["fields"].append({**capacity, "description": "Beds.", "example": "250"})
    schema["version"] = "1.99.0"
    territory = tmp_path / "territory-schemas"
    territory.mkdir()
    write_json(territory / bundled_schema.name, schema)
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(territory))
    get_settings.cache_clear()
    dataset = "montpellier-emergency-shelters-csv"
    harvested(dataset)

    site = {k: v for k, v in keyed(stored(engine, dataset), "site_id")["500"].items()}
    cells = {f["name"]: "" if site.get(f["name"]) is None else str(site[f["name"]])
             for f in schema["fields"]}  # fmt: skip
    cells["capacity"] = "250"
    frame = pl.DataFrame([cells], schema={name: pl.Utf8 for name in cells})
    pushed = catalogue.Batch(
        dataset_id=dataset,
        title="Emergency accommodation sites",
        publisher=catalogue.Publisher("ville-montpellier", "Ville de Montpellier", "public"),
        theme="risk",
        schema="emergency-shelter",
        charter="ville-montpellier-etalab",
        chunks=[frame.with_columns(pl.Series("_row", [2], dtype=pl.Int64))],
    )
    assert catalogue.publish(pushed).rows_updated == 1

    again = harvest_source(bundled(dataset))
    assert (again.status, again.published, again.quarantined) == ("succeeded", 0, 0), again
    sites = keyed(stored(engine, dataset), "site_id")
    assert sites["500"]["capacity"] == 250  # not erased by a feed that has no such column
    assert {s["capacity"] for k, s in sites.items() if k != "500"} == {None}


# --- Vigicrues ---------------------------------------------------------------------------------


def test_vigicrues_station_in_lambert_93_lands_where_pyproj_puts_it(engine, samples):
    harvested("vigicrues-station-delettes")
    document = json.loads((samples / VIGI_DELETTES).read_text(encoding="utf-8"))
    hydro = document["vic:StaEntVigiCru"]["vic:correspondA"]
    assert hydro["hyd:ProjCoordStationHydro"] == ""  # nothing declared: Lambert-93 by default
    lon, lat = LAMBERT_93.transform(
        float(hydro["hyd:CoordXStationHydro"]), float(hydro["hyd:CoordYStationHydro"])
    )
    (station,) = stored(engine, "vigicrues-station-delettes")
    assert (station["station_id"], station["name"], station["municipality_code"]) == (
        "E351122001",
        "Delettes",
        "62265",
    )
    assert (station["longitude"], station["latitude"]) == pytest.approx((lon, lat), abs=1e-5)
    assert (station["longitude"], station["latitude"]) == pytest.approx((2.2151, 50.6185), abs=1e-4)


def test_vigicrues_listing_gives_sections_and_their_stations(engine, samples):
    harvested("vigicrues-sections-artois-picardie")
    harvested("vigicrues-stations-artois-picardie")
    harvested("vigicrues-section-sambre")
    listing = json.loads((samples / VIGI_LISTING).read_text(encoding="utf-8"))
    in_file = {
        child["vic:CdEntVigiCru"]: section["vic:CdEntVigiCru"]
        for section in listing["vic:StaEntVigiCru"]
        for child in section["vic:aNMoinsUn"]
    }

    stations = keyed(stored(engine, "vigicrues-stations-artois-picardie"), "station_id")
    assert {code: s["section_id"] for code, s in stations.items()} == in_file
    assert len(stations) == 68 and {s["territory_id"] for s in stations.values()} == {"1"}
    assert (stations["D019223001"]["name"], stations["D019223001"]["section_name"]) == (
        "Marpent",
        "Sambre",
    )
    assert {s["longitude"] for s in stations.values()} == {None}  # the listing gives none

    sections = keyed(stored(engine, "vigicrues-sections-artois-picardie"), "entity_id")
    assert len(sections) == 13 and sections["AP7"]["name"] == "Somme"
    assert len(sections["AP7"]["station_ids"].split(",")) == 12
    assert (sections["1"]["name"], sections["1"]["status"]) == ("Autre station", "Provisoire")
    (sambre,) = stored(engine, "vigicrues-section-sambre")
    assert (sambre["entity_id"], sambre["entity_type"], sambre["parent_id"]) == (
        "AP1",
        "section",
        "1",
    )
    assert sambre["station_ids"] == "D019223001,D016221001,D019801101"
    assert set(sambre["station_ids"].split(",")) == set(sections["AP1"]["station_ids"].split(","))
    assert sambre["bulletin_url"].endswith("InfoVigiCru.jsonld?CdEntVigiCru=AP1&TypEntVigiCru=8")


def test_vigicrues_territories_read_alike_by_json_mapping_and_by_the_vigicrues_reader(
    engine, samples, tmp_path
):
    harvested("vigicrues-territories")
    rows = keyed(stored(engine, "vigicrues-territories"), "entity_id")
    assert len(rows) == 23 and {r["entity_type"] for r in rows.values()} == {"territory"}
    assert rows["1"]["name"] == "Artois-Picardie"
    assert rows["1"]["bulletin_url"] == (
        "https://www.vigicrues.gouv.fr/services/1/InfoVigiCru.jsonld?CdEntVigiCru=1&TypEntVigiCru=5"
    )
    mapped, _ = read_frame(bundled("vigicrues-territories"), samples / VIGI_TERRITORIES)
    dedicated = variant(
        "vigicrues-territories",
        tmp_path,
        samples / VIGI_TERRITORIES,
        format="vigicrues-json",
        drop_options=("records", "columns"),
    )
    direct, problems = read_frame(dedicated, samples / VIGI_TERRITORIES)
    assert problems == [] and direct.equals(mapped)


def test_vigicrues_bulletin_gives_one_alert_per_territory_and_section(engine, samples):
    harvested("vigicrues-bulletin-artois-picardie")
    bulletin = json.loads((samples / VIGI_BULLETIN).read_text(encoding="utf-8"))["vic:InfoVigiCru"]
    rows = keyed(stored(engine, "vigicrues-bulletin-artois-picardie"), "info_index")
    assert sorted(rows) == list(range(13))

    territory = rows[0]
    assert (territory["identifier"], territory["severity"], territory["event"]) == (
        "vigicrues-1-23012021_16",
        "Moderate",
        "Vigilance crues jaune",
    )
    # 2021-01-23T13:58:40+0100 and 2021-01-24T10:00:00+0100 in the bulletin
    assert utc(territory["sent"]) == datetime(2021, 1, 23, 12, 58, 40, tzinfo=UTC)
    assert utc(territory["expires"]) == datetime(2021, 1, 24, 9, 0, tzinfo=UTC)
    assert territory["senderName"] == "Service de Prévision des Crues Artois-Picardie"
    assert territory["instruction"] == bulletin["vic:ConsInfoVigiCru"]
    assert territory["description"].startswith(bulletin["vic:SituActuInfoVigiCru"])
    assert (territory["status"], territory["msgType"], territory["category"]) == (
        "Actual",
        "Alert",
        "Met",
    )

    sections = {r["area_desc"]: r["severity"] for i, r in rows.items() if i}
    in_file = {
        s["vic:porteSurLEntite"]["vic:LbEntVigiCru"]: s["vic:NivInfoVigiCru"]
        for s in bulletin["vic:estLaSyntheseDe"]
    }
    assert {name: {"1": "Minor", "2": "Moderate"}[level] for name, level in in_file.items()} == (
        sections
    )
    assert sections["Lys plaine"] == "Moderate" and Counter(sections.values())["Minor"] == 11
    assert rows[6]["headline"] == "Vigilance jaune crues : Lys plaine"


# --- bad input ---------------------------------------------------------------------------------


def mtp_source(folder: Path, feed: Path, **changes: Any) -> Source:
    return variant("montpellier-emergency-shelters", folder, feed, id="mtp-sites", **changes)


def test_a_geojson_that_is_not_a_feature_collection_fails_and_changes_nothing(
    engine, samples, tmp_path
):
    good = harvest_source(mtp_source(tmp_path, samples / MTP_GEOJSON))
    assert (good.status, good.published) == ("succeeded", 5)
    before = stored(engine, "mtp-sites")

    collection = json.loads((samples / MTP_GEOJSON).read_text(encoding="utf-8"))
    feature = write_json(tmp_path / "one.geojson", collection["features"][0])
    outcome = harvest_source(mtp_source(tmp_path, feature))
    assert outcome.status == "failed", outcome
    assert "not a GeoJSON FeatureCollection: its type is 'Feature'" in outcome.message
    assert (outcome.published, outcome.quarantined) == (0, 0)
    assert stored(engine, "mtp-sites") == before

    not_json = tmp_path / "page.geojson"
    not_json.write_text("<html><body>503</body></html>", encoding="utf-8")
    broken = harvest_source(mtp_source(tmp_path, not_json))
    assert broken.status == "failed" and "not a JSON document" in broken.message
    assert stored(engine, "mtp-sites") == before


def test_a_feature_without_geometry_is_quarantined_where_the_schema_needs_one(
    engine, samples, tmp_path
):
    feed = json.loads((samples / USGS).read_text(encoding="utf-8"))
    lost = feed["features"][4]
    lost["geometry"] = None
    polygon = feed["features"][9]
    polygon["geometry"] = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}
    source = variant(
        "usgs-earthquakes-2019-01-30", tmp_path, write_json(tmp_path / "usgs.geojson", feed)
    )
    outcome = harvest_source(source)
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "partial",
        233,
        231,
        2,
    )
    found = notes(engine, outcome.run_id)
    assert sorted(found) == [6, 11]  # features 4 and 9, as rows 6 and 11
    assert any("the feature has no geometry; field 'longitude' needs it" in n for n in found[6])
    assert any("the geometry is 'Polygon', not a Point" in n for n in found[11])
    events = {r["event_id"] for r in stored(engine, "usgs-earthquakes-2019-01-30")}
    assert lost["id"] not in events and polygon["id"] not in events and len(events) == 231


def test_lambert_93_numbers_declared_as_wgs84_are_quarantined_by_normalisation(
    engine, samples, tmp_path
):
    # One USGS epicentre replaced by the Zénith's Lambert-93 metres (the file says WGS84).
    feed = json.loads((samples / USGS).read_text(encoding="utf-8"))
    sites = json.loads((samples / MTP_GEOJSON).read_text(encoding="utf-8"))
    x, y = sites["features"][0]["geometry"]["coordinates"]
    feed["features"][2]["geometry"]["coordinates"] = [x, y, 10.0]
    source = variant(
        "usgs-earthquakes-2019-01-30", tmp_path, write_json(tmp_path / "usgs.geojson", feed)
    )
    outcome = harvest_source(source)
    assert (outcome.published, outcome.quarantined) == (232, 1), outcome
    assert any(
        f"coordinates x={x}, y={y} lie outside the area of use of EPSG:4326" in note
        for note in notes(engine, outcome.run_id)[4]
    )

    # The Montpellier file is Lambert-93 throughout: without options.crs nothing is published.
    whole = harvest_source(mtp_source(tmp_path, samples / MTP_GEOJSON, drop_options=("crs",)))
    assert (whole.status, whole.published) == ("failed", 0), whole
    with Session(engine) as session:
        run = session.get(HarvestRun, whole.run_id)
        reasons = [e["message"] for e in run.report["tasks"][0]["errors"]] if run else []
    assert any("lie outside the area of use of EPSG:4326" in r for r in reasons)


def test_a_crs_member_must_match_options_crs_and_an_unknown_crs_fails(engine, samples, tmp_path):
    collection = json.loads((samples / MTP_GEOJSON).read_text(encoding="utf-8"))
    collection["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    declared = write_json(tmp_path / "declared.geojson", collection)
    good = harvest_source(mtp_source(tmp_path, declared))
    assert (good.status, good.published) == ("succeeded", 5), good
    zenith = keyed(stored(engine, "mtp-sites"), "site_id")["341"]
    assert (zenith["longitude"], zenith["latitude"]) == pytest.approx(
        LAMBERT_93.transform(*collection["features"][0]["geometry"]["coordinates"]), abs=1e-7
    )

    unsaid = harvest_source(mtp_source(tmp_path, declared, drop_options=("crs",)))
    assert unsaid.status == "failed", unsaid
    assert "declares its coordinates in urn:ogc:def:crs:EPSG::2154" in unsaid.message
    assert "set options.crs" in unsaid.message

    collection["crs"]["properties"]["name"] = "EPSG:999999"
    unknown = harvest_source(mtp_source(tmp_path, write_json(tmp_path / "u.geojson", collection)))
    assert unknown.status == "failed" and "crs member: unknown CRS 'EPSG:999999'" in unknown.message

    option = harvest_source(mtp_source(tmp_path, declared, options={"crs": "EPSG:999999"}))
    assert option.status == "failed" and "unknown CRS 'EPSG:999999'" in option.message
    assert len(stored(engine, "mtp-sites")) == 5  # the good batch, untouched


def test_vigicrues_refuses_what_it_cannot_read(engine, samples, tmp_path):
    usgs = harvest_source(
        variant("vigicrues-station-delettes", tmp_path, samples / USGS, id="not-vigicrues")
    )
    assert usgs.status == "failed" and "not a Vigicrues document" in usgs.message, usgs

    bulletin_as_stations = variant(
        "vigicrues-station-delettes", tmp_path, samples / VIGI_BULLETIN, id="bulletin-stations"
    )
    with pytest.raises(ReaderError, match="InfoVigiCru document lists no stations"):
        read_frame(bulletin_as_stations, samples / VIGI_BULLETIN)

    # A station that declares WGS84 (Sandre projection 31) while the source reads Lambert-93.
    document = json.loads((samples / VIGI_DELETTES).read_text(encoding="utf-8"))
    document["vic:StaEntVigiCru"]["vic:correspondA"]["hyd:ProjCoordStationHydro"] = "31"
    feed = write_json(tmp_path / "wgs84.json", document)
    frame, problems = read_frame(
        variant("vigicrues-station-delettes", tmp_path, feed, id="declared"), feed
    )
    assert [(p.row, p.field) for p in problems] == [(2, "longitude")]
    assert "declares its x/y in EPSG:4326 (Sandre projection 31)" in problems[0].note


def test_json_records_path_and_epoch_mapping_errors_are_clear(engine, samples, tmp_path):
    source = variant(
        "vigicrues-territories",
        tmp_path,
        samples / VIGI_TERRITORIES,
        options={"records": "$.vic:TronEntVigiCru"},
    )
    outcome = harvest_source(source)
    assert outcome.status == "failed", outcome
    assert "no 'vic:TronEntVigiCru' under $" in outcome.message
    assert "vic:TerEntVigiCru" in outcome.message  # the keys that are there

    columns = {"occurred_at": {"column": "time", "epoch": "minutes"}}
    usgs = variant(
        "usgs-earthquakes-2019-01-30", tmp_path, samples / USGS, options={"columns": columns}
    )
    with pytest.raises(ReaderError, match="epoch takes a column and a unit, s or ms"):
        read_frame(usgs, samples / USGS)
