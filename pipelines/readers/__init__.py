"""Readers: turn a fetched file into chunks in its target schema's shape, by source format.

Every chunk a reader yields is a polars DataFrame with one Utf8 column per field of the source's
target schema, in the schema's order (no value is an empty string, never null: a field the
source lacks is all ""), then `_row` (Int64, the source row number as frictionless counts it,
header = 1; a row giving several observations repeats it) and `_error` (Utf8: null, or a JSON
list of frictionless-style error descriptors).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from pipelines.normalise import ReaderError
from pipelines.readers import csv, openaq, sensor_community
from pipelines.sources import Source

__all__ = ["READERS", "ReaderError", "known_formats", "read"]

Reader = Callable[[Source, Path], Iterator[pl.DataFrame]]

READERS: dict[str, Reader] = {
    "csv": csv.read,
    "openaq-csv": openaq.read,
    "sensor-community-csv": sensor_community.read,
}


def known_formats() -> list[str]:
    """The formats a source file may name."""
    return sorted(READERS)


def read(source: Source, data: Path) -> Iterator[pl.DataFrame]:
    """Read the fetched file `data` of `source` as chunks in its target schema's shape."""
    reader = READERS.get(source.format)
    if reader is None:
        raise ReaderError(
            f"source {source.id!r}: unknown format {source.format!r} "
            f"(known readers: {', '.join(known_formats())})"
        )
    return reader(source, data)
