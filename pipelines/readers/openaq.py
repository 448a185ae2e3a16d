"""The `openaq-csv` reader: OpenAQ measurement exports, in the three shapes OpenAQ has published.

Told apart by their header, never by options:

- OpenAQ Explorer / API v3 export: location_id, location_name, parameter, value, unit,
  datetimeUtc, datetimeLocal, timezone, latitude, longitude, country_iso, isMobile, isMonitor,
  owner_name, provider.
- The AWS archive (`openaq-data-archive`, one `location-ID-YYYYMMDD.csv.gz` per location and day):
  location_id, sensors_id, location, datetime, lat, lon, parameter, units, value; `datetime`
  carries its offset.
- The older openaq.org CSV download (API v1/v2): location, city, country, utc, local, parameter,
  value, unit, latitude, longitude, attribution. It has no location id: the station is its
  country and location name (`openaq-GB-Cardiff Centre`), as OpenAQ itself keyed them then.

Gases keep the unit OpenAQ gives (ppm, ppb, µg/m³); `options.units` converts them if a
territory wants one unit. A location's export holds every sensor of it: rows of parameters that
are no air pollutant (temperature, relativehumidity, pressure, wind, and the um003…um100 particle
counts of low-cost sensors, in particles/cm³) are left out, the run's report counting them; any
other parameter the schema has no code for is kept, so the gate reports it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

import polars as pl

from hub.batches import Chunk
from pipelines.readers.base import Fetched, Reader
from pipelines.readers.csv import OPTIONS, Rule, read_mapped
from pipelines.sources import Source

log = logging.getLogger(__name__)

RULES = {
    # OpenAQ location ids are only unique within OpenAQ: prefix them to keep stations apart.
    "station_id": Rule(template="openaq-{location_id}"),
    "station_name": Rule(column="location_name"),
    "pollutant": Rule(column="parameter"),
    "value": Rule(column="value"),
    "unit": Rule(column="unit"),
    "observed_at": Rule(column="datetimeUtc"),
    "longitude": Rule(column="longitude"),
    "latitude": Rule(column="latitude"),
    # OpenAQ relays providers' real-time values as they come: nobody has checked them yet.
    "quality_flag": Rule(value="unverified"),
}
DEFAULTS = {"delimiter": ",", "encoding": "utf-8", "crs": "EPSG:4326"}
# Explorer column ← the same value in the archive's and the old download's own columns.
ARCHIVE = {
    "location_name": "location",
    "datetimeUtc": "datetime",
    "unit": "units",
    "latitude": "lat",
    "longitude": "lon",
}
DOWNLOAD = {"location_name": "location", "datetimeUtc": "utc"}
# OpenAQ parameters that are no air pollutant: weather, and particle number counts.
NOT_POLLUTANTS = {"temperature", "relativehumidity", "pressure", "wind_speed", "wind_direction"}
PARTICLE_COUNT = r"^um[0-9]+$"  # um003 … um100, particles/cm³


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read an OpenAQ export in any of its shapes; each chunk counts the rows it left out."""
    left_out: Counter[str] = Counter()

    def reshape(chunk: pl.DataFrame) -> pl.DataFrame:
        kept, dropped = as_explorer(chunk)
        left_out.update(dropped)
        return kept

    for chunk in _read(source, fetched, reshape):
        chunk.left_out = {f"no air pollutant: {name}": n for name, n in left_out.items()}
        left_out.clear()  # each chunk's own: the gate adds them up
        yield chunk


def _read(
    source: Source, fetched: Fetched, reshape: Callable[[pl.DataFrame], pl.DataFrame]
) -> Iterator[Chunk]:
    """Read an OpenAQ measurements CSV; `options.columns` may override any field's rule."""
    return read_mapped(source, fetched.path, RULES, defaults=DEFAULTS, reshape=reshape)


READER = Reader("openaq-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def as_explorer(chunk: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """The chunk with the Explorer export's columns, its non-pollutant rows left out and
    counted by parameter."""
    present = set(chunk.columns)
    if "location_id" not in present and {"location", "utc"} <= present:
        country = pl.col("country") if "country" in present else pl.lit("")
        chunk = chunk.with_columns(
            location_id=pl.concat_str(country.fill_null(""), pl.lit("-"), pl.col("location"))
        )
        chunk = _copied(chunk, DOWNLOAD)
    elif "sensors_id" in present:
        chunk = _copied(chunk, ARCHIVE)
    if "parameter" not in chunk.columns:
        return chunk, {}
    parameter = pl.col("parameter").str.strip_chars().str.to_lowercase()
    other = parameter.is_in(list(NOT_POLLUTANTS)) | parameter.str.contains(PARTICLE_COUNT)
    left_out = chunk.filter(other.fill_null(False))
    counted: dict[str, int] = {}
    if left_out.height:
        counted = dict(left_out["parameter"].value_counts(sort=True).rows())
        log.info(
            "OpenAQ rows of parameters that are no air pollutant left out: %s",
            ", ".join(f"{name} ({count})" for name, count in counted.items()),
        )
    return chunk.filter(~other.fill_null(False)), counted


def _copied(chunk: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    """Explorer-named copies of a shape's own columns (the originals stay for options.columns)."""
    return chunk.with_columns(
        pl.col(own).alias(explorer)
        for explorer, own in columns.items()
        if own in chunk.columns and explorer not in chunk.columns
    )
