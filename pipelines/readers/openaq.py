"""The `openaq-csv` reader: OpenAQ v3 / OpenAQ Explorer measurement exports.

Columns: location_id, location_name, parameter, value, unit, datetimeUtc, datetimeLocal,
timezone, latitude, longitude, country_iso, isMobile, isMonitor, owner_name, provider.
"""

from __future__ import annotations

from collections.abc import Iterator

from hub.batches import Chunk
from pipelines.readers.base import Fetched, Reader
from pipelines.readers.csv import OPTIONS, Rule, read_mapped
from pipelines.sources import Source

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


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read an OpenAQ measurements CSV; `options.columns` may override any field's rule."""
    return read_mapped(source, fetched.path, RULES, defaults=DEFAULTS)


READER = Reader("openaq-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)
