"""The `firms-csv` reader: NASA FIRMS MODIS active-fire CSV files (NRT and archive downloads).

Columns: latitude, longitude, brightness, scan, track, acq_date, acq_time, satellite,
confidence, version, bright_t31, frp, daynight (archive files add `type`). `acq_date` is the
UTC day and `acq_time` the UTC time as HHMM, which some files write without its leading zeros
(`5` for 00:05): the reader joins them into `acquired_at`. The 24-hour files name the satellite
`T` or `A`; archive downloads and the area API write `Terra` or `Aqua`, read as the same codes.
VIIRS files (bright_ti4, bright_ti5, confidence l/n/h, satellites N and 1) are refused: schema
wildfire-detection holds MODIS values.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from hub.batches import Chunk
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.csv import OPTIONS, Rule, read_mapped
from pipelines.sources import Source

# Every other field of wildfire-detection has FIRMS's own column name.
SATELLITES = {"Terra": "T", "Aqua": "A"}  # archive and API files spell out MODIS's platforms
RULES = {
    "acquired_at": Rule(column="_acquired"),
    "satellite": Rule(column="satellite", map=SATELLITES),
}
DEFAULTS = {"delimiter": ",", "encoding": "utf-8", "timezone": "UTC", "crs": "EPSG:4326"}
CLOCK = r"^\d{1,4}$"  # HHMM, leading zeros optional


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a FIRMS MODIS CSV; `options.columns` may override any field's rule."""
    return read_mapped(source, fetched.path, RULES, defaults=DEFAULTS, reshape=acquisition_times)


READER = Reader("firms-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def acquisition_times(chunk: pl.DataFrame) -> pl.DataFrame:
    """Add `_acquired`: acq_date and acq_time as `YYYY-MM-DDTHH:MM` (UTC by the defaults)."""
    if "bright_ti4" in chunk.columns:
        raise ReaderError(
            "a FIRMS VIIRS file (bright_ti4, bright_ti5): schema wildfire-detection holds MODIS "
            "detections (satellites T/A, confidence 0-100), VIIRS ones do not fit it"
        )
    missing = [c for c in ("acq_date", "acq_time") if c not in chunk.columns]
    if missing:
        found = ", ".join(c for c in chunk.columns if not c.startswith("_"))
        raise ReaderError(f"not a FIRMS file: no {' or '.join(missing)} column (it has: {found})")
    clock = pl.col("acq_time").str.strip_chars()
    padded = clock.str.zfill(4)
    joined = pl.concat_str(
        pl.col("acq_date").str.strip_chars(),
        pl.lit("T"),
        padded.str.slice(0, 2),
        pl.lit(":"),
        padded.str.slice(2, 2),
    )
    # A clock that is not HHMM stays as written, so normalisation reports it as unparseable.
    raw = pl.concat_str(pl.col("acq_date"), pl.lit(" "), pl.col("acq_time"))
    return chunk.with_columns(
        pl.when(clock.str.contains(CLOCK)).then(joined).otherwise(raw).alias("_acquired")
    )
