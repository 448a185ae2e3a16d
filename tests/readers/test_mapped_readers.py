"""The generic csv, json and geojson readers on real files an operator brings, not the samples.

Each test reads a short excerpt of a published file (its repository and path named) through
`read_records`, as `hub validate --source` and a harvest do: the mapping, then normalisation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from pipelines.readers import Fetched, ReaderError, read_records
from pipelines.sources import Source, load_source

SHELTERS = {
    "operator": {"id": "ville-montpellier", "name": "Ville de Montpellier", "kind": "public"},
    "theme": "risk",
    "schema": "emergency-shelter",
    "charter": "ville-montpellier-etalab",
}
AIR = {
    "operator": {"id": "atmo-occitanie", "name": "Atmo Occitanie", "kind": "public"},
    "theme": "air-quality",
    "charter": "atmo-occitanie-etalab",
}

# cunvoas/opendata-tools, geoservice-isochrone/doc/lille_geo_quartier.csv: the MEL portal's
# Opendatasoft export of Lille's quarters, its first six columns (geo_shape left out). Every
# label and most cells end with a space; geo_point_2d is "lat, lon".
LILLE_QUARTERS = (
    "commune ,quartier ,code_com ,code_quar ,code_post ,geo_point_2d \n"
    'Lille ,Lille-Moulins ,350,6,59000,"50.6190974622, 3.07017646955 "\n'
    'Lille ,Faubourg de Béthune ,350,3,59000,"50.6181640494, 3.03328805626 "\n'
    'Lomme ,Lomme ,355,200,59160,"50.6424218359, 2.99423836969 "\n'
)

# jlefebvre1997/enigma-dataviz, chart1/concentrations-horaires-de-polluants-dans-lair-ambiant-
# issues-du-reseau-permanen.json: Grand Poitiers's Opendatasoft API v1 answer, its first record.
POITIERS_RECORD = {
    "datasetid": "concentrations-horaires-de-polluants-dans-lair-ambiant-issues-du-reseau-"
    "permanen@grandpoitiers",
    "recordid": "6515958b37f780270b38a62c9f16d236d7788f6e",
    "fields": {
        "id_pll": "8", "nom_dpt": "VIENNE", "metriqu": "moyenne horaire",
        "nom_pll": "Dioxyde d'azote", "id_com": "86194",
        "geo_point_2d": [46.58691799905824, 0.35858300000000004],
        "nm_sttn": "Les Couronneries", "y_l93": 6613035.22334566, "x_l93": 497791.003588074,
        "sttt_vl": 1, "dat_dbt": "2019-01-17 00:00:00", "valeur": 4, "fid": 17,
        "unite": "ug.m-3",
        "geo_shape": {"type": "Point", "coordinates": [0.35858300000000004, 46.58691799905824]},
        "nom_com": "Poitiers", "date_fn": "2019-01-17 01:00:00", "cd_sttn": "FR09015",
    },
    "geometry": {"type": "Point", "coordinates": [0.35858300000000004, 46.58691799905824]},
    "record_timestamp": "2019-01-17T10:25:09+01:00",
}  # fmt: skip

# MLaure19/Stations-PM, layers/StationsPM10ATMO_4.js (the GeoJSON after `var … =`): Atmo's
# PM10 stations around Grenoble, their numbers written as floats by the export.
GRENOBLE_STATIONS = """{
"type": "FeatureCollection",
"name": "StationsPM10ATMO_4",
"crs": { "type": "name", "properties": { "name": "urn:ogc:def:crs:OGC:1.3:CRS84" } },
"features": [
{ "type": "Feature", "properties": { "Numéro station": 15038.0, "Station": "Saint-Martin d'Heres", "Polluant": "Particules PM10", "Latitude": 45.18303, "Longitude": 5.75325 }, "geometry": { "type": "Point", "coordinates": [ 5.75325, 45.18303 ] } },
{ "type": "Feature", "properties": { "Numéro station": 15039.0, "Station": "Grenoble Rocade Sud", "Polluant": "Particules PM10", "Latitude": 45.15843, "Longitude": 5.70376 }, "geometry": { "type": "Point", "coordinates": [ 5.70376, 45.15843 ] } }
]
}
"""  # noqa: E501


def source_for(folder: Path, feed: Path, **data: Any) -> Source:
    """A source file written next to its feed and loaded as `hub harvest FILE` does."""
    described = {"title": data["id"], "description": "an operator's file", **data}
    described["url"] = f"file://{feed}"
    path = folder / f"{data['id']}.yaml"
    path.write_text(yaml.safe_dump(described, allow_unicode=True), encoding="utf-8")
    return load_source(path)


def read_rows(source: Source, feed: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    """The normalised rows `read_records` gives, and the problems found."""
    chunks = list(read_records(source, Fetched(feed)))
    frame = pl.concat([chunk.frame for chunk in chunks])
    return frame.to_dicts(), [problem for chunk in chunks for problem in chunk.problems]


def lille_source(tmp_path: Path, feed: Path, **options: Any) -> Source:
    columns = {
        "site_id": "code_quar ",  # as the file's header writes it, trailing space included
        "name": "quartier ",
        "municipality": "commune ",
        "longitude": {"column": "geo_point_2d ", "part": 1},
        "latitude": {"column": "geo_point_2d ", "part": 0},
    }
    return source_for(
        tmp_path, feed, id="lille-quarters", format="csv", **SHELTERS,
        options={"delimiter": ",", "columns": columns, **options},
    )  # fmt: skip


def test_an_opendatasoft_geo_point_2d_cell_gives_latitude_and_longitude(tmp_path):
    feed = tmp_path / "lille_geo_quartier.csv"
    feed.write_text(LILLE_QUARTERS, encoding="utf-8")
    rows, problems = read_rows(lille_source(tmp_path, feed), feed)
    assert problems == []
    assert [(r["site_id"], r["name"], r["municipality"]) for r in rows] == [
        ("6", "Lille-Moulins", "Lille"),
        ("3", "Faubourg de Béthune", "Lille"),
        ("200", "Lomme", "Lomme"),
    ]
    # "lat, lon": latitude first, rounded to the hub's 7 decimals
    assert [(r["longitude"], r["latitude"]) for r in rows] == [
        ("3.0701765", "50.6190975"),
        ("3.0332881", "50.618164"),
        ("2.9942384", "50.6424218"),
    ]


def test_a_part_beyond_the_cell_is_missing_and_a_bad_part_is_refused(tmp_path):
    feed = tmp_path / "lille_geo_quartier.csv"
    feed.write_text(LILLE_QUARTERS, encoding="utf-8")
    columns = {
        "site_id": "code_quar",
        "name": {"template": "{quartier }({code_post })"},
        "longitude": "code_com",
        "latitude": {"column": "geo_point_2d", "part": 2},
    }
    rows, _ = read_rows(lille_source(tmp_path, feed, columns=columns), feed)
    assert {r["latitude"] for r in rows} == {""}  # no third part: a missing cell, not a guess
    assert rows[0]["name"] == "Lille-Moulins (59000)"  # template columns spelled as the file does
    for bad in ({"column": "geo_point_2d", "part": "0"}, {"value": "x", "part": 0}):
        columns["latitude"] = bad
        with pytest.raises(ReaderError, match="part needs a column and a position"):
            read_rows(lille_source(tmp_path, feed, columns=columns), feed)


def test_opendatasoft_api_records_map_nested_fields_and_the_geo_point_2d_list(tmp_path):
    feed = tmp_path / "poitiers.json"
    feed.write_text(json.dumps([POITIERS_RECORD]), encoding="utf-8")
    columns = {
        "station_id": "fields.cd_sttn",
        "station_name": "fields.nm_sttn",
        "pollutant": {"column": "fields.nom_pll", "map": {"Dioxyde d'azote": "no2"}},
        "value": "fields.valeur",
        "unit": {"column": "fields.unite", "map": {"ug.m-3": "µg/m³"}},
        "observed_at": "fields.dat_dbt",
        "longitude": {"column": "fields.geo_point_2d", "part": 1},  # [lat, lon]
        "latitude": {"column": "fields.geo_point_2d", "part": 0},
    }
    source = source_for(
        tmp_path, feed, id="poitiers-no2", format="json", schema="air-quality-observation", **AIR,
        options={"records": "$", "timezone": "Europe/Paris", "columns": columns},
    )  # fmt: skip
    rows, problems = read_rows(source, feed)
    assert problems == []
    (row,) = rows
    assert (row["station_id"], row["pollutant"], row["value"], row["unit"]) == (
        "FR09015", "no2", "4", "µg/m³",
    )  # fmt: skip
    assert row["observed_at"] == "2019-01-16T23:00:00Z"  # local midnight in winter, UTC+1
    assert (row["longitude"], row["latitude"]) == ("0.358583", "46.586918")


def test_a_station_number_a_geojson_writes_as_a_float_reads_as_its_code(tmp_path):
    feed = tmp_path / "grenoble.geojson"
    feed.write_text(GRENOBLE_STATIONS, encoding="utf-8")
    columns = {
        "station_id": "Numéro station",
        "name": "Station",
        "pollutants": {"column": "Polluant", "map": {"Particules PM10": "pm10"}},
        "longitude": {"coordinate": "lon"},
        "latitude": {"coordinate": "lat"},
    }
    source = source_for(
        tmp_path, feed, id="grenoble-pm10", format="geojson", schema="air-quality-station",
        **AIR, options={"columns": columns},
    )  # fmt: skip
    rows, problems = read_rows(source, feed)
    assert problems == []
    assert [(r["station_id"], r["pollutants"], r["longitude"]) for r in rows] == [
        ("15038", "pm10", "5.75325"),
        ("15039", "pm10", "5.70376"),
    ]


@pytest.mark.parametrize(
    ("reader", "known"),
    [
        ("csv", "column, value, map, template, part)"),
        ("json", "column, value, map, template, part, epoch)"),
        ("geojson", "column, value, map, template, part, epoch, coordinate, feature)"),
    ],
)
def test_an_unknown_key_of_a_mapping_lists_the_keys_its_reader_takes(tmp_path, reader, known):
    """A geojson source's `{coordinat: lon}` listed the csv keys, not coordinate, feature and
    epoch, which its reader takes (the bundled USGS source uses them)."""
    feed = tmp_path / f"stations.{reader}"
    feed.write_text(GRENOBLE_STATIONS if reader == "geojson" else "", encoding="utf-8")
    source = source_for(
        tmp_path, feed, id=f"typo-{reader}", format=reader, schema="air-quality-station", **AIR,
        options={"columns": {"longitude": {"coordinat": "lon"}}},
    )  # fmt: skip
    with pytest.raises(ReaderError) as raised:
        read_rows(source, feed)
    message = str(raised.value)
    assert "options.columns.longitude: unknown key(s) coordinat" in message
    assert message.endswith(f"(known: {known}")
