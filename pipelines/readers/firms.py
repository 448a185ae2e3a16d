"""The `firms-csv` reader: NASA FIRMS active-fire CSV files, MODIS and VIIRS (NRT and archive).

MODIS columns: latitude, longitude, brightness, scan, track, acq_date, acq_time, satellite,
confidence, version, bright_t31, frp, daynight; the area API and archive downloads add
`instrument`, archives `type`. `acq_date` is the UTC day and `acq_time` the UTC time as HHMM,
which some files write without its leading zeros (`5` for 00:05): the reader joins them into
`acquired_at`. Satellites are coded as the 24-hour files code them (T, A; N, 1, 2); the names
other FIRMS files write (Terra, Aqua, Suomi NPP, NOAA-20 or N20, NOAA-21 or N21) are read as those
codes.

VIIRS rows are told by the file's `instrument` column, or, without one, by a `bright_ti4`
header (the 24-hour files). Their I-4 and I-5 brightness temperatures (bright_ti4, bright_ti5)
go to `brightness` and `bright_t31` (archive downloads already name them so), and their
confidence, a class (l/n/h or low/nominal/high), to `confidence_class`, leaving the MODIS
percentage `confidence` empty.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from hub.batches import Chunk
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.csv import OPTIONS, Rule, read_mapped
from pipelines.sources import Source

# Every other field of wildfire-detection has FIRMS's own (MODIS) column name.
SATELLITES = {
    "Terra": "T", "Aqua": "A",  # archive and API files spell out MODIS's platforms
    "Suomi NPP": "N", "NOAA-20": "1", "J1": "1", "N20": "1", "NOAA-21": "2", "J2": "2", "N21": "2",
}  # fmt: skip
CLASSES = {"l": "low", "n": "nominal", "h": "high"}  # VIIRS confidence; some files spell it out
RULES = {
    "acquired_at": Rule(column="_acquired"),
    "satellite": Rule(column="satellite", map=SATELLITES),
    "instrument": Rule(column="_instrument"),
    "confidence": Rule(column="_percent"),
    "confidence_class": Rule(column="_class", map=CLASSES),
}
VIIRS_CHANNELS = {"bright_ti4": "brightness", "bright_ti5": "bright_t31"}  # I-4, I-5: kelvin
DEFAULTS = {"delimiter": ",", "encoding": "utf-8", "timezone": "UTC", "crs": "EPSG:4326"}
CLOCK = r"^\d{1,4}$"  # HHMM, leading zeros optional


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a FIRMS MODIS or VIIRS CSV; `options.columns` may override any field's rule."""
    return read_mapped(source, fetched.path, RULES, defaults=DEFAULTS, reshape=detections)


READER = Reader("firms-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def detections(chunk: pl.DataFrame) -> pl.DataFrame:
    """Add the helper columns RULES read: acquisition time, instrument and confidence."""
    return instruments(acquisition_times(chunk))


def instruments(chunk: pl.DataFrame) -> pl.DataFrame:
    """Add `_instrument`, `_percent` (MODIS confidence) and `_class` (VIIRS confidence).

    A file's bright_ti4 and bright_ti5 (VIIRS 24-hour and API files) are copied to `brightness`
    and `bright_t31`; a row without an `instrument` cell is of the instrument the header says.
    """
    by_header = pl.lit("VIIRS" if "bright_ti4" in chunk.columns else "MODIS", dtype=pl.Utf8)
    instrument = by_header
    if "instrument" in chunk.columns:
        given = pl.col("instrument").cast(pl.Utf8).str.strip_chars()
        instrument = pl.when(given.str.len_chars() > 0).then(given).otherwise(by_header)
    is_viirs = instrument.str.to_uppercase() == "VIIRS"
    confidence = (
        pl.col("confidence").cast(pl.Utf8)
        if "confidence" in chunk.columns
        else pl.lit(None, dtype=pl.Utf8)
    )
    copies = [
        pl.col(raw).alias(field)
        for raw, field in VIIRS_CHANNELS.items()
        if raw in chunk.columns and field not in chunk.columns
    ]
    return chunk.with_columns(
        *copies,
        instrument.alias("_instrument"),
        pl.when(is_viirs).then(None).otherwise(confidence).alias("_percent"),
        pl.when(is_viirs).then(confidence).otherwise(None).alias("_class"),
    )


def acquisition_times(chunk: pl.DataFrame) -> pl.DataFrame:
    """Add `_acquired`: acq_date and acq_time as `YYYY-MM-DDTHH:MM` (UTC by the defaults)."""
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
