"""The `sensor-community-csv` reader: sensor.community (ex luftdaten.info) daily archive files.

The archive has one `;`-separated file per sensor and day, its columns set by the sensor type:

    sensor_id;sensor_type;location;lat;lon;timestamp;…     (every type), then
    SDS011                         P1;durP1;ratioP1;P2;durP2;ratioP2
    PPD42NS (refused, see below)   P1;durP1;ratioP1;P2;durP2;ratioP2
    PMS1003/3003/5003/6003/7003    P1;P2;P0
    HPM                            P1;P2
    SPS30 (NextPM alike)           P1;P4;P2;P0;N10;N4;N25;N1;N05;TS
    BME280                         pressure;altitude;pressure_sealevel;temperature;humidity

P0 is PM1, P1 PM10, P2 PM2.5 and P4 PM4, in µg/m³: one row gives one observation per P column
whose code the target schema's pollutant enum has. air-quality-observation has no pm4 (no limit
value, index or other feed of the hub uses PM4, and the SPS30 estimates it from the same optical
counts as PM2.5), so P4 is left out, as are the particle number counts N* (#/cm³, no unit of the
schema) and the typical particle size TS; a territory schema with `pm4` gets P4.

The Shinyei PPD42NS of the first stations (2015-2017) counts particles: its P1 and P2 come from
the sensor's low-pulse-occupancy curve in particles per 0.01 ft³ (a reading of 0.62 is the
curve's floor, no particle at all), not µg/m³, so its files are refused with a ReaderError
rather than published under a unit they do not have.

Climate sensors (BME280, BMP180/280, DHT22, HTU21D, SHT3x, DS18B20: temperature, humidity,
pressure) are refused with a ReaderError: air-quality-observation has no code, unit or sign for
them (its values are non-negative concentrations); they belong in a weather schema.
Timestamps are naive and UTC, as sensor.community documents for its archive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import partial

import polars as pl

from hub.batches import Chunk
from pipelines.normalise import load_target
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.csv import OPTIONS, Rule, read_mapped
from pipelines.sources import Source

log = logging.getLogger(__name__)

POLLUTANTS = {"P0": "pm1", "P1": "pm10", "P2": "pm25", "P4": "pm4"}  # archive column → code
# Sensor types whose P columns are particle counts, not mass concentrations.
COUNTERS = {"PPD42NS": "particles per 0.01 ft³ from the sensor's pulse-occupancy curve"}
CLIMATE = ("temperature", "humidity", "pressure", "pressure_sealevel")
IDENTITY = ("sensor_id", "sensor_type", "location", "lat", "lon", "timestamp")
RULES = {
    "station_id": Rule(template="sensor-community-{sensor_id}"),
    "station_name": Rule(template="{sensor_type} sensor {sensor_id} (location {location})"),
    "pollutant": Rule(column="_pollutant"),
    "value": Rule(column="_value"),
    "unit": Rule(value="µg/m³"),
    # The firmware averages the particulate readings over its ~150 s sending interval.
    "averaging_period": Rule(value="PT2M30S"),
    "observed_at": Rule(column="timestamp"),
    "longitude": Rule(column="lon"),
    "latitude": Rule(column="lat"),
    "quality_flag": Rule(value="unverified"),  # citizen sensors: raw, never validated
}
DEFAULTS = {"delimiter": ";", "encoding": "utf-8", "timezone": "UTC", "crs": "EPSG:4326"}


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a sensor.community archive CSV, one observation per non-empty P value."""
    codes = set(load_target(source.schema).enums.get("pollutant", []))
    published = {column: code for column, code in POLLUTANTS.items() if code in codes}
    split = partial(split_observations, pollutants=published)
    return read_mapped(source, fetched.path, RULES, defaults=DEFAULTS, reshape=split)


READER = Reader("sensor-community-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def split_observations(
    chunk: pl.DataFrame, pollutants: Mapping[str, str] = POLLUTANTS
) -> pl.DataFrame:
    """One row per pollutant measured in a source row, `_row` repeated, in source order."""
    columns = {c: p for c, p in pollutants.items() if c in chunk.columns}
    if not any(c in chunk.columns for c in POLLUTANTS):
        raise ReaderError(not_particulate(chunk))
    counted = sorted(set(types_of(chunk)) & set(COUNTERS))
    if counted:
        raise ReaderError(
            f"a {counted[0]} file: its P1/P2 are {COUNTERS[counted[0]]}, not µg/m³, and "
            "air-quality-observation has no unit for particle counts; it is not published"
        )
    left_out = [c for c in chunk.columns if c in POLLUTANTS and c not in columns]
    if not columns:
        raise ReaderError(
            f"the file's particulate columns ({', '.join(left_out)}) have no pollutant code "
            "in the target schema's enum"
        )
    if left_out:
        log.debug("columns %s have no pollutant code in the target schema", left_out)
    long = pl.concat(
        chunk.with_columns(_pollutant=pl.lit(pollutant), _value=pl.col(column).cast(pl.Utf8))
        for column, pollutant in columns.items()
    ).sort("_row", maintain_order=True)
    # An empty P cell means the sensor sent no reading for that size: there is no measurement,
    # so there is no observation to publish (nor to quarantine). A row with no reading at all
    # but a reading error still comes out once, carrying its error.
    measured = pl.col("_value").str.strip_chars().fill_null("") != ""
    nothing = ~measured.any().over("_row")
    keep = measured | (
        nothing & pl.col("_error").is_not_null() & pl.col("_row").is_first_distinct()
    )
    kept = long.filter(keep)
    log.debug("%d source rows gave %d observations", chunk.height, kept.height)
    return kept.with_columns(pl.when(measured).then(pl.col("_pollutant")).alias("_pollutant"))


def not_particulate(chunk: pl.DataFrame) -> str:
    """Why a file without any P column is refused, naming the sensor type it comes from."""
    kind = "/".join(types_of(chunk)) or "unknown-type"
    measured = [c for c in chunk.columns if not c.startswith("_") and c not in IDENTITY]
    climate = [c for c in measured if c in CLIMATE]
    what = (
        f"climate sensor ({', '.join(climate)})" if climate else f"sensor ({', '.join(measured)})"
    )
    return (
        f"not a sensor.community particulate file: no P1/P2 column. It is a {kind} {what} "
        "file, and air-quality-observation has no pollutant code or unit for those values; "
        "harvest particulate sensors' files (SDS011, PMS*003, HPM, SPS30, NextPM) only"
    )


def types_of(chunk: pl.DataFrame) -> list[str]:
    """The sensor types a chunk's rows name (upper case, sorted)."""
    if "sensor_type" not in chunk.columns:
        return []
    named = chunk["sensor_type"].drop_nulls().str.strip_chars().str.to_uppercase()
    return named.filter(named != "").unique().sort().to_list()
