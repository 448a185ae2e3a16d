"""The `tso-csv` reader: a transmission system operator's quarter-hourly demand or feed-in.

Files such as Amprion's archive (`date,time_from,time_to,demand`, or `…,feedin` for wind and
solar): one row per period in the TSO's local time, the last period of a day ending at
`00:00`, the next day. Rows become schema energy-mix rows: the perimeter is the TSO's area
(`options.perimeter`), the nature is declared (`options.nature`: real-time, consolidated or
definitive) and the value lands in `options.field` (default `consumption_mw`; `wind_mw`,
`solar_mw` … for feed-in). Its column is `options.value_column`, or the file's only column
besides the three time columns. Schema energy-mix fits without change: a TSO's demand is the
consumption of its area in mean MW per period, what éCO2mix calls « Consommation », and its
wind or solar feed-in is production by source.

Times are local to `options.timezone` (e.g. Europe/Berlin), which the source must declare: a
period lasts from `time_from` to `time_to`, in absolute time, so the hour a DST change repeats
(given twice, summer time first) and the one it skips come out right.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import polars as pl

from hub.batches import Chunk
from pipelines.normalise import load_target
from pipelines.readers import csv
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.periods import Clock
from pipelines.sources import Source

log = logging.getLogger(__name__)

OPTIONS = (*csv.OPTIONS, "perimeter", "nature", "field", "value_column")
DEFAULTS = {"delimiter": ",", "encoding": "utf-8"}
TIME_COLUMNS = ("date", "time_from", "time_to")
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M:%S")
DAY = timedelta(days=1)
REQUIRED = {  # what a TSO file never says itself
    "perimeter": "the TSO's area, e.g. 'Amprion control area'",
    "nature": "real-time, consolidated or definitive",
    "timezone": "the zone of the file's local times, e.g. Europe/Berlin",
}


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a TSO period CSV into energy-mix rows of the TSO's area."""
    options = {**DEFAULTS, **source.options}
    rules = {
        "perimeter": csv.Rule(value=_required(options, "perimeter")),
        "nature": csv.Rule(value=_required(options, "nature")),
    }
    zone = _required(options, "timezone")
    periods = Periods(Clock(zone), _field(source, options), options.get("value_column"))
    return csv.read_mapped(source, fetched.path, rules, defaults=DEFAULTS, reshape=periods)


READER = Reader("tso-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def _required(options: dict[str, Any], name: str) -> str:
    """An option the source must give: the reader does not guess a TSO's area, nature or zone."""
    value = options.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ReaderError(f"format tso-csv needs options.{name}: {REQUIRED[name]}")
    return value.strip()


def _field(source: Source, options: dict[str, Any]) -> str:
    """The target field the file's values go to: a number field of the schema."""
    name = str(options.get("field") or "consumption_mw")
    target = load_target(source.schema)
    if target.types.get(name) != "number":
        numbers = [f for f, t in target.types.items() if t == "number"]
        raise ReaderError(
            f"options.field {name!r} is not a number field of schema {target.name!r} "
            f"(its number fields: {', '.join(numbers)})"
        )
    return name


@dataclass
class Periods:
    """Turns raw rows into periods with the value in its field (the reader's `reshape`)."""

    clock: Clock
    field: str
    value_column: str | None = None

    def __call__(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """The chunk with period_start, period_end and the value field added."""
        value = self._value_column(chunk)
        text = chunk["date"].str.strip_chars() + " " + chunk["time_from"].str.strip_chars()
        naive = pl.select(
            pl.coalesce(text.str.strptime(pl.Datetime("us"), f, strict=False) for f in DATE_FORMATS)
        ).to_series()
        start, end = self.clock.stamp(naive, _lengths(chunk["time_from"], chunk["time_to"]))
        # Rows whose date or times do not parse keep their text: normalisation reports them.
        raw_end = chunk["date"] + "T" + chunk["time_to"]
        return chunk.with_columns(
            start.fill_null(chunk["date"] + "T" + chunk["time_from"]).alias("period_start"),
            (raw_end if end is None else end.fill_null(raw_end)).alias("period_end"),
            chunk[value].cast(pl.Utf8).alias(self.field),
        )

    def _value_column(self, chunk: pl.DataFrame) -> str:
        """The column holding the values: the option's, or the only one besides the times."""
        present = [c for c in chunk.columns if not c.startswith("_")]
        missing = [c for c in TIME_COLUMNS if c not in present]
        if missing:
            raise ReaderError(
                f"not a TSO period file: no column {', '.join(missing)} "
                f"(it needs {', '.join(TIME_COLUMNS)}; its columns: {', '.join(present)})"
            )
        others = [c for c in present if c not in TIME_COLUMNS]
        if self.value_column is not None:
            if self.value_column not in present:
                raise ReaderError(f"options.value_column {self.value_column!r} is not in the file")
            return self.value_column
        if len(others) != 1:
            raise ReaderError(
                f"the file has {len(others)} value columns ({', '.join(others)}): "
                "name the one to read in options.value_column"
            )
        return others[0]


def _lengths(time_from: pl.Series, time_to: pl.Series) -> pl.Series:
    """Each period's length: `time_to` minus `time_from`, a day later when it is not after."""
    start = time_from.str.strip_chars().str.strptime(pl.Time, "%H:%M", strict=False)
    end = time_to.str.strip_chars().str.strptime(pl.Time, "%H:%M", strict=False)
    length = pl.select(
        (end.cast(pl.Duration("ns")) - start.cast(pl.Duration("ns"))).cast(pl.Duration("us"))
    ).to_series()
    # 23:45 → 00:00 ends at midnight the next day.
    return length.zip_with(length > timedelta(0), length + DAY)
