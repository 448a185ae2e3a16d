"""The `sensor-community-csv` reader: sensor.community (ex luftdaten.info) daily archive files.

`;`-separated: sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;...
P1 is PM10 and P2 PM2.5 (P0 PM1 on some sensors), in µg/m³. One row gives one observation
per P column. Timestamps are naive and UTC, as sensor.community documents for its archive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import polars as pl

from hub.batches import Chunk
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.csv import OPTIONS, Rule, read_mapped
from pipelines.sources import Source

log = logging.getLogger(__name__)

POLLUTANTS = {"P0": "pm1", "P1": "pm10", "P2": "pm25"}
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
    return read_mapped(source, fetched.path, RULES, defaults=DEFAULTS, reshape=split_observations)


READER = Reader("sensor-community-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def split_observations(chunk: pl.DataFrame) -> pl.DataFrame:
    """One row per pollutant measured in a source row, `_row` repeated, in source order."""
    columns = {c: p for c, p in POLLUTANTS.items() if c in chunk.columns}
    if not columns:
        raise ReaderError(
            "not a sensor.community particulate file: no P1/P2 column in "
            f"{', '.join(c for c in chunk.columns if not c.startswith('_'))}"
        )
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
