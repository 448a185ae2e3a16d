"""Time steps of energy files: a file's step, and local wall-clock times made unambiguous.

Energy feeds (éCO2mix, TSO quarter-hours, meter load curves) give the start of each period in
local time and leave its end implicit. Two things only a reader can do, because they need the
file's order and all of its rows rather than one value at a time:

- derive the file's step (15 min, 30 min, 1 min …) from the gaps between its timestamps;
- resolve the hour that a daylight-saving change repeats: the first time a file gives a
  repeated local time it is the summer-time one, the second time the winter-time one.

Resolved times are written as local ISO 8601 with their offset (`2013-10-27T02:00:00+01:00`),
so the flow's normalisation still turns them into UTC; a local time that does not exist (the
hour skipped in spring) or that is ambiguous but given once stays naive, and normalisation
reports it with its row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from pipelines.readers.base import ReaderError

LOCAL_ISO = "%Y-%m-%dT%H:%M:%S%:z"
NAIVE_ISO = "%Y-%m-%dT%H:%M:%S"
ISO_DURATION = re.compile(r"^PT(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")


def parse_step(text: object) -> timedelta:
    """`options.step` as a duration: an ISO 8601 time duration such as PT15M or PT1H."""
    match = ISO_DURATION.match(str(text).strip().upper())
    hours, minutes, seconds = (int(v or 0) for v in match.groups()) if match else (0, 0, 0)
    step = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if step <= timedelta(0):
        raise ReaderError(f"options.step must be a duration such as PT15M or PT1H, got {text!r}")
    return step


def derive_step(instants: pl.Series) -> timedelta | None:
    """The most common gap between a file's successive distinct times, or None if it has one."""
    ordered = instants.drop_nulls().unique().sort()
    gaps = ordered.diff().drop_nulls()
    gaps = gaps.filter(gaps > timedelta(0))
    if gaps.is_empty():
        return None
    # The mode, not the minimum: one stray timestamp must not set the step of a whole file.
    counted = gaps.value_counts(sort=True)
    step: timedelta = counted[gaps.name][0]
    return step


@dataclass
class Clock:
    """Local wall-clock times of one file, stamped with their offset in `zone`, in file order."""

    zone: str | None
    met: set[str] = field(default_factory=set)  # ambiguous times (per series) already given

    def resolve(self, naive: pl.Series, series: pl.Series | None = None) -> pl.Series:
        """Aware times (null: skipped by DST, or ambiguous but given once in its series)."""
        if self.zone is None:
            return pl.Series(naive.name, [None] * naive.len(), dtype=pl.Datetime("us", "UTC"))
        frame = _readings(naive, series, self.zone)
        ambiguous = (pl.col("early") != pl.col("late")).fill_null(False)
        met = pl.col("key").is_in(pl.Series(sorted(self.met), dtype=pl.Utf8).implode())
        # A repeated hour comes twice in a series, summer time first; one given once stays null.
        chosen = (
            pl.when(~ambiguous).then(pl.col("early"))
            .when(met).then(pl.col("late"))
            .when(~pl.col("key").is_duplicated()).then(None)
            .when(pl.col("key").is_first_distinct()).then(pl.col("early"))
            .otherwise(pl.col("late"))
        )  # fmt: skip
        self.met.update(frame.filter(ambiguous)["key"].to_list())
        return frame.select(chosen.alias(naive.name))[:, 0]

    def stamp(
        self, naive: pl.Series, step: timedelta | pl.Series | None, series: pl.Series | None = None
    ) -> tuple[pl.Series, pl.Series | None]:
        """(start, end) as text, offset-stamped where resolved, naive where not.

        The end is the start plus `step` (one duration, or one per row); None without a step.
        """
        aware = self.resolve(naive, series)
        start = write_times(aware, naive, self.zone)
        if step is None:
            return start, None
        # The step is added in absolute time: a period across a DST change lasts one step too.
        end = write_times(aware + step, naive + step, self.zone)
        return start, end


def _readings(naive: pl.Series, series: pl.Series | None, zone: str) -> pl.DataFrame:
    """Each time's series key, and its summer-time and winter-time readings (equal if one)."""
    return (
        pl.DataFrame({"t": naive})
        .with_columns(
            key=pl.lit("") if series is None else series.cast(pl.Utf8).fill_null(""),
            early=pl.col("t").dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null"),
            late=pl.col("t").dt.replace_time_zone(zone, ambiguous="latest", non_existent="null"),
        )
        .with_columns(key=pl.col("key") + "|" + pl.col("t").dt.strftime(NAIVE_ISO))
    )


def write_times(aware: pl.Series, naive: pl.Series, zone: str | None) -> pl.Series:
    """Resolved times as local ISO with offset; the others as the naive local time."""
    plain = naive.dt.strftime(NAIVE_ISO)
    if zone is None:
        return plain
    local = aware.dt.convert_time_zone(zone).dt.strftime(LOCAL_ISO)
    return local.fill_null(plain).alias(naive.name)


def write_instants(instants: pl.Series, zone: str | None) -> pl.Series:
    """Aware instants as local ISO with offset in `zone` (UTC with Z when no zone is set)."""
    if zone is None:
        return instants.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return instants.dt.convert_time_zone(zone).dt.strftime(LOCAL_ISO)
