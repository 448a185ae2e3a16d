"""pipelines.readers: real sample files into the air-quality-observation shape, row for row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import frictionless
import polars as pl
import pytest

from hub.batches import Chunk
from hub.schemas import load_schema
from hub.validation import Validator
from hub.validation.tableerrors import describe_row_problem
from hub.validation.tables import TableReadError
from pipelines.readers import Fetched, ReaderError, read_records
from pipelines.sources import Operator, Source

SCHEMA = "air-quality-observation"
FIELDS = load_schema(SCHEMA).fields
OPENAQ = "air/openaq_location_3145071_measurements.csv"
SENSOR = "air/2018-12-25_sds011_sensor_15092.csv"
UG = next(
    u for u in load_schema(SCHEMA).field_descriptor("unit")["constraints"]["enum"] if "g/m" in u
)


def source(fmt: str, schema: str = SCHEMA, **options: Any) -> Source:
    return Source(
        id="test-source", title="Test", operator=Operator("op", "Operator"),
        theme="air-quality", format=fmt, url="file:x.csv", schema=schema, charter="c",
        options=options,
    )  # fmt: skip


def read(src: Source, path: Path) -> Iterator[Chunk]:
    """The chunks the harvest of `src` would publish from `path`: read, then normalised."""
    return read_records(src, Fetched(path))


def read_all(src: Source, path: Path) -> pl.DataFrame:
    """Every chunk, with its rows' problems as `_error` descriptor lists (null when none)."""
    frames = []
    for chunk in read(src, path):
        assert chunk.frame.columns[: len(fields_of(src))] == fields_of(src)
        assert chunk.frame.schema["_row"] == pl.Int64
        assert all(chunk.frame.schema[c] == pl.Utf8 for c in chunk.frame.columns if c != "_row")
        frames.append(with_problems(chunk))
    return pl.concat(frames)


def fields_of(src: Source) -> list[str]:
    return list(load_schema(src.schema).fields)


def with_problems(chunk: Chunk) -> pl.DataFrame:
    """The chunk's frame with its problems (and the table's own findings) as `_error` JSON."""
    frame = chunk.frame
    found: dict[int, list[dict[str, Any]]] = {}
    for problem in chunk.problems:
        found.setdefault(problem.row, []).append(
            describe_row_problem(problem.row, problem.field, problem.note)
        )
    table = frame["_error"].to_list() if "_error" in frame.columns else [None] * frame.height
    column = []
    for row, own in zip(frame["_row"].to_list(), table, strict=True):
        listed = (json.loads(own) if own else []) + found.get(row, [])
        column.append(json.dumps(listed, ensure_ascii=False) if listed else None)
    return frame.drop("_error", strict=False).with_columns(
        pl.Series("_error", column, dtype=pl.Utf8)
    )


def errors(frame: pl.DataFrame) -> dict[int, list[dict[str, Any]]]:
    """The `_error` lists by source row."""
    found: dict[int, list[dict[str, Any]]] = {}
    for row in frame.filter(pl.col("_error").is_not_null()).iter_rows(named=True):
        found.setdefault(row["_row"], []).extend(json.loads(row["_error"]))
    return found


def assert_schema_valid(frame: pl.DataFrame, tmp_path: Path, schema: str = SCHEMA) -> None:
    """The clean rows pass the publish gate's validator and frictionless itself."""
    clean = frame.filter(pl.col("_error").is_null())
    result = Validator(load_schema(schema).descriptor).validate_chunk(clean)
    assert result.errors == [] and result.valid.height == clean.height
    clean.drop("_row", "_error").write_csv(tmp_path / "clean.csv")
    resource = frictionless.Resource(
        path="clean.csv", basepath=str(tmp_path), schema=load_schema(schema).to_frictionless()
    )
    report = resource.validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "message"])[:5]


def write_csv(tmp_path: Path, text: str, name: str = "feed.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- openaq-csv ----------------------------------------------------------------------------


def test_openaq_export_reads_every_row(samples: Path, tmp_path: Path) -> None:
    frame = read_all(source("openaq-csv"), samples / OPENAQ)
    assert frame.height == 1000
    assert frame["_row"].to_list() == list(range(2, 1002))
    assert frame["_error"].null_count() == 1000
    first = frame.row(0, named=True)
    assert first == {
        "station_id": "openaq-3145071", "station_name": "NASA GSFC Rutgers Calib. N20",
        "pollutant": "pm25", "value": "6.46", "unit": UG, "averaging_period": "",
        "observed_at": "2025-09-01T00:13:59Z", "longitude": "-79.47", "latitude": "43.79",
        "quality_flag": "unverified", "_row": 2, "_error": None,
    }  # fmt: skip
    assert frame["observed_at"].str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()
    assert_schema_valid(frame, tmp_path)


def test_openaq_columns_can_be_overridden(samples: Path) -> None:
    src = source(
        "openaq-csv", columns={"quality_flag": {"value": "valid"}, "station_id": "provider"}
    )
    first = read_all(src, samples / OPENAQ).row(0, named=True)
    assert (first["quality_flag"], first["station_id"]) == ("valid", "Clarity")


# --- sensor-community-csv ------------------------------------------------------------------


def test_sensor_community_row_gives_pm10_and_pm25(samples: Path, tmp_path: Path) -> None:
    frame = read_all(source("sensor-community-csv"), samples / SENSOR)
    assert frame.height == 2 * 544
    assert frame["_error"].null_count() == frame.height
    assert frame["_row"].to_list() == [r for r in range(2, 546) for _ in (0, 1)]
    first_two = frame.head(2).select("pollutant", "value", "observed_at", "station_id")
    assert first_two.rows() == [
        ("pm10", "5.10", "2018-12-25T00:00:55Z", "sensor-community-15092"),
        ("pm25", "2.63", "2018-12-25T00:00:55Z", "sensor-community-15092"),
    ]
    assert set(frame["unit"]) == {UG} and set(frame["longitude"]) == {"-2.211"}
    assert_schema_valid(frame, tmp_path)


def test_sensor_community_naive_times_follow_options_timezone(samples: Path) -> None:
    frame = read_all(source("sensor-community-csv", timezone="Europe/Berlin"), samples / SENSOR)
    assert frame["observed_at"][0] == "2018-12-24T23:00:55Z"


def test_sensor_community_empty_and_bad_p_values(samples: Path, tmp_path: Path) -> None:
    lines = (samples / SENSOR).read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:6]

    def with_p(line: str, p1: str, p2: str, extra: str = "") -> str:
        cells = line.split(";")
        cells[6], cells[9] = p1, p2
        return ";".join(cells) + extra

    text = "\n".join([
        header,
        rows[0],  # row 2: P1 and P2 → two observations
        with_p(rows[1], "4.2", ""),  # row 3: only P1 measured → pm10 only
        with_p(rows[2], "", ""),  # row 4: no measurement at all → no observation
        with_p(rows[3], "n/a", "1.5"),  # row 5: a P value that is no number → error row
        with_p(rows[4], "", "", ";surplus"),  # row 6: nothing measured, but an extra cell
    ]) + "\n"  # fmt: skip
    frame = read_all(source("sensor-community-csv"), write_csv(tmp_path, text))
    assert frame.select("_row", "pollutant").rows() == [
        (2, "pm10"), (2, "pm25"), (3, "pm10"), (5, "pm10"), (5, "pm25"), (6, ""),
    ]  # fmt: skip
    found = errors(frame)
    assert set(found) == {5, 6}
    bad = found[5][0]
    assert bad["type"] == "normalisation-error" and bad["fieldName"] == "value"
    assert bad["rowNumber"] == 5 and "'n/a' is not a number" in bad["note"]
    assert bad["tags"] == ["#row"] and bad["message"].startswith('Row at position "5"')
    assert [e["type"] for e in found[6]] == ["extra-cell"]
    # Problems belong to the source row: the gate quarantines both of row 5's observations.


def test_sensor_community_refuses_a_file_without_particulates(tmp_path: Path) -> None:
    text = "sensor_id;sensor_type;location;lat;lon;timestamp;temperature;humidity\n"
    text += "1;DHT22;2;56.9;-2.2;2018-12-25T00:00:00;3.1;88\n"
    with pytest.raises(ReaderError, match="no P1/P2 column"):
        read_all(source("sensor-community-csv"), write_csv(tmp_path, text))


# --- csv: encoding, decimal commas, CRS ----------------------------------------------------


def test_csv_cp1252_with_decimal_commas(samples: Path, tmp_path: Path) -> None:
    src = source(
        "csv", encoding="cp1252", decimal=",",
        columns={
            "station_id": "Station_numBDQA", "station_name": "Station_nom",
            "longitude": "Station_longitude", "latitude": "Station_latitude",
            "pollutant": {"value": "NO2"}, "value": {"value": "12,5"}, "unit": {"value": "µg/m3"},
            "observed_at": {"value": "2013-07-01 14:00"},
        },
        timezone="Europe/Paris",
    )  # fmt: skip
    frame = read_all(src, samples / "air" / "AirLR_LR_StationAir.csv")
    assert frame.height == 20 and frame["_error"].null_count() == 20
    first = frame.row(0, named=True)
    assert (first["station_id"], first["station_name"]) == ("08016", "Près d'Arènes")
    assert (first["longitude"], first["latitude"]) == ("3.886814", "43.591486")
    assert (first["pollutant"], first["value"], first["unit"]) == ("no2", "12.5", UG)
    assert first["observed_at"] == "2013-07-01T12:00:00Z"  # CEST is UTC+2
    assert_schema_valid(frame, tmp_path)


def test_csv_lambert93_is_projected_and_zero_points_reported(samples: Path) -> None:
    src = source(
        "csv", encoding="cp1252", delimiter=";", decimal=",", crs="EPSG:2154",
        columns={
            "station_id": "CAR_LIEU,C,254", "longitude": "POINT_X,N,19,8",
            "latitude": "POINT_Y,N,19,8", "pollutant": {"value": "no2"}, "value": {"value": "1"},
            "unit": {"value": "µg/m³"}, "observed_at": {"value": "2013-10-15T00:00:00Z"},
        },
    )  # fmt: skip
    frame = read_all(src, samples / "geo" / "VilleMTP_MTP_Signalisation_L93.csv")
    assert frame.height == 373
    first = frame.row(0, named=True)
    assert first["station_id"] == "Passage Piéton / Pont De Lavérune"
    assert float(first["longitude"]) == pytest.approx(3.8381, abs=1e-4)
    assert float(first["latitude"]) == pytest.approx(43.6071, abs=1e-4)
    found = errors(frame)
    assert len(found) == 4  # the four junctions without coordinates (0, 0)
    for row, descriptors in found.items():
        assert descriptors[0]["rowNumber"] == row and descriptors[0]["fieldName"] == "longitude"
        assert "outside the area of use of EPSG:2154" in descriptors[0]["note"]
    lons = frame.filter(pl.col("_error").is_null())["longitude"].cast(pl.Float64)
    assert lons.min() > 3.7 and lons.max() < 4.0  # all of them in Montpellier


# --- csv: a generated operator feed --------------------------------------------------------

FEED = """\
Code;Nom;Polluant;Mesure;Unité;Début;Statut;X;Y
MTP1;Centre;NO2;21,4;ug/m3;2024-05-01 14:00;A;770633,0;6278840,8
MTP1;Centre;PM2.5;9,8;µg/m3;2024-03-31 02:30;A;770633,0;6278840,8
MTP2;Nord;Ozone;55;µg/m³;2024-10-27 02:30;N;772637,4;6282964,6
MTP2;Nord;PM10;x;µg/m3;hier;N;772637,4;6282964,6
MTP3;Sud;NO2;12;µg/m3;2024-05-01T12:00:00Z;A;773673,4;6275029,5;extra
MTP3;Sud;NO2;13;µg/m3;2024-05-01T13:00:00+02:00;A;0;0
"""
COLUMNS = {
    "station_id": "Code", "station_name": {"template": "{Nom} ({Code})"},
    "pollutant": "Polluant", "value": "Mesure", "unit": "Unité", "observed_at": "Début",
    "averaging_period": {"value": "PT1H"}, "longitude": "X", "latitude": "Y",
    "quality_flag": {"column": "Statut", "map": {"A": "valid", "N": "unverified"}},
}  # fmt: skip


def feed(tmp_path: Path, **options: Any) -> pl.DataFrame:
    settings = {
        "delimiter": ";", "decimal": ",", "crs": "EPSG:2154", "timezone": "Europe/Paris",
        "columns": COLUMNS, **options,
    }  # fmt: skip
    return read_all(source("csv", **settings), write_csv(tmp_path, FEED))


def test_csv_feed_normalises_values_and_maps_codes(tmp_path: Path) -> None:
    frame = feed(tmp_path)
    assert frame["_row"].to_list() == [2, 3, 4, 5, 6, 7]
    first = frame.row(0, named=True)
    lon, lat = float(first.pop("longitude")), float(first.pop("latitude"))
    assert (lon, lat) == pytest.approx((3.8746, 43.6051), abs=1e-6)  # 0.1 m in Lambert-93
    assert first == {
        "station_id": "MTP1", "station_name": "Centre (MTP1)", "pollutant": "no2",
        "value": "21.4", "unit": UG, "averaging_period": "PT1H",
        "observed_at": "2024-05-01T12:00:00Z", "quality_flag": "valid", "_row": 2, "_error": None,
    }  # fmt: skip
    assert frame["pollutant"].to_list() == ["no2", "pm25", "o3", "pm10", "no2", "no2"]
    assert set(frame["unit"]) == {UG}
    assert frame["observed_at"][6 - 2] == "2024-05-01T12:00:00Z"
    assert frame["observed_at"][7 - 2] == "2024-05-01T11:00:00Z"


def test_csv_feed_reports_each_bad_row_and_keeps_every_row(tmp_path: Path) -> None:
    frame = feed(tmp_path)
    found = {
        row: [(e["type"], e.get("fieldName")) for e in es] for row, es in errors(frame).items()
    }
    assert found == {
        3: [("normalisation-error", "observed_at")],  # 02:30 does not exist on 31 March
        4: [("normalisation-error", "observed_at")],  # 02:30 happens twice on 27 October
        5: [("normalisation-error", "value"), ("normalisation-error", "observed_at")],
        6: [("extra-cell", ""), ],  # frictionless's reading error passes through
        7: [("normalisation-error", "longitude")],  # (0, 0) is not in France
    }  # fmt: skip
    notes = {row: [e["note"] for e in es] for row, es in errors(frame).items()}
    assert "does not exist or is ambiguous in Europe/Paris" in notes[3][0]
    assert notes[5] == [
        "'x' is not a number",
        "unparseable timestamp 'hier' (expected ISO 8601 such as 2024-05-01T13:00:00Z)",
    ]
    # A value that could not be normalised is kept as it came, for the quarantine report.
    assert frame.filter(pl.col("_row") == 5)["observed_at"][0] == "hier"


def test_naive_timestamps_without_a_timezone_are_errors(tmp_path: Path) -> None:
    frame = feed(tmp_path, timezone=None)
    notes = {
        r: [e["note"] for e in es if e["fieldName"] == "observed_at"]
        for r, es in errors(frame).items()
    }
    assert notes[2] == [
        "timestamp '2024-05-01 14:00' has no time zone and the source sets no options.timezone"
    ]
    assert frame.filter(pl.col("_row") == 6)["_error"].str.contains("observed_at").any() is False


def test_timestamp_format_option(tmp_path: Path) -> None:
    text = "station_id;pollutant;value;unit;observed_at\nA;no2;1;µg/m³;01/05/2024 14h00\n"
    src = source("csv", timestamp_format="%d/%m/%Y %Hh%M", timezone="Europe/Paris")
    frame = read_all(src, write_csv(tmp_path, text))
    # Fields named like the schema need no mapping; absent ones are empty cells.
    assert frame.row(0, named=True) | {"_error": None} == {
        "station_id": "A", "station_name": "", "pollutant": "no2", "value": "1", "unit": UG,
        "averaging_period": "", "observed_at": "2024-05-01T12:00:00Z", "longitude": "",
        "latitude": "", "quality_flag": "", "_row": 2, "_error": None,
    }  # fmt: skip
    assert frame["_error"][0] is None


def test_coordinates_near_zero_are_plain_decimals(tmp_path: Path) -> None:
    text = "station_id,longitude,latitude\nG,-0.00000004,51.4779\nH,0.0000612,0.5\n"
    frame = read_all(source("csv"), write_csv(tmp_path, text))
    assert frame.select("longitude", "latitude").rows() == [("0", "51.4779"), ("0.0000612", "0.5")]


def test_a_mapped_column_missing_from_the_file_is_an_error_on_every_row(tmp_path: Path) -> None:
    columns = {**COLUMNS, "station_name": "Libellé"}
    frame = feed(tmp_path, columns=columns)
    assert frame.height == 6
    for descriptors in errors(frame).values():
        first = descriptors[0] if descriptors[0]["type"] != "extra-cell" else descriptors[1]
        assert first["fieldName"] == "station_name"
        assert first["note"].startswith("source column 'Libellé' (for field 'station_name')")
        assert "its columns are: Code, Nom, Polluant" in first["note"]
    assert len(errors(frame)) == 6


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": "red"}, r"unknown option\(s\) colour \(known for csv: columns, crs"),
        ({"columns": {"temperature": "T"}}, "names 'temperature', which is not a field"),
        ({"columns": {"value": {"column": "V", "scale": 2}}}, r"unknown key\(s\) scale"),
        ({"columns": {"value": {"column": "V", "value": 1}}}, "exactly one of column, value"),
        ({"columns": {"value": {"value": 1, "map": {}}}}, "map needs a column"),
        ({"columns": {"value": 3}}, "must be a column name or a mapping"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"crs": "EPSG:999999"}, "options.crs: unknown CRS 'EPSG:999999'"),
        ({"decimal": ";"}, "options.decimal must be"),
    ],
)
def test_bad_options_are_refused_before_reading(
    options: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ReaderError, match=message):
        read(source("csv", **options), tmp_path / "never-opened.csv")


def test_unknown_format_and_schema_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ReaderError, match=r"unknown format 'xls'.*known readers: .*\bcsv, .*openaq-csv"
    ):
        read(source("xls"), tmp_path / "x.csv")
    with pytest.raises(ReaderError, match="unknown schema 'no-such-schema'"):
        read(source("csv", schema="no-such-schema"), tmp_path / "x.csv")


def test_station_lists_read_into_their_own_schema(samples: Path, tmp_path: Path) -> None:
    src = source(
        "csv", schema="air-quality-station", encoding="cp1252", decimal=",",
        columns={
            "station_id": "Station_numBDQA", "name": "Station_nom",
            "longitude": "Station_longitude", "latitude": "Station_latitude",
            "area_type": {"column": "Station_Typologie", "map": {"urbain": "urban"}},
        },
    )  # fmt: skip
    frame = read_all(src, samples / "air" / "AirLR_LR_StationAir.csv")
    assert frame.height == 20 and frame["_error"].null_count() == 20
    assert (
        frame["area_type"][0] == "urban" and frame["area_type"][1] == "suburban"
    )  # the label read as its code
    assert frame["comment"][0] == ""  # a trailing field the source lacks: an empty cell
    urban = frame.filter(pl.col("area_type") == "urban")
    assert_schema_valid(urban, tmp_path, "air-quality-station")


def test_a_wrong_encoding_is_a_clear_error_not_garbage(samples: Path) -> None:
    src = source("csv", columns={"station_id": "Station_numBDQA"})  # the file is cp1252
    with pytest.raises(TableReadError, match="not valid utf-8 text.*options: {encoding: cp1252}"):
        read_all(src, samples / "air" / "AirLR_LR_StationAir.csv")


def test_headers_with_braces_do_not_break_error_notes(tmp_path: Path) -> None:
    text = "station_id;{weird} label\nA;1\n"
    frame = read_all(source("csv", columns={"value": "Valeur"}), write_csv(tmp_path, text))
    note = next(e["note"] for e in errors(frame)[2] if e.get("fieldName") == "value")
    assert note == (
        "source column 'Valeur' (for field 'value') is not in the file; "
        "its columns are: station_id, {weird} label"
    )
