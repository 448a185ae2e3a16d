"""A series judged by a rule: its values gathered into periods, and its exceedance episodes.

A period is one observation (`none`), a clock hour or a day (`hourly-mean`, `daily-mean`, in
the rule's time zone); a time stamped at the end of its averaging period counts in the period
it closes. An episode is a run of consecutive judged periods over the threshold; it ends at the
first judged period that is not. Periods with fewer than the rule's `min_count` values are not
judged: they neither extend nor end an episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl

from hub.alerts.rules import Rule

JUST_BEFORE = timedelta(microseconds=1)
QUARTER = 900  # seconds
LENGTHS = {"none": timedelta(0), "hourly-mean": timedelta(hours=1), "daily-mean": timedelta(days=1)}


@dataclass(frozen=True)
class Period:
    """One judged period: its start (UTC), mean value, count and its newest time."""

    start: datetime
    value: float
    count: int
    last_seen: datetime


@dataclass(frozen=True)
class Episode:
    """Consecutive periods over the threshold, and the period that ended them, if one has."""

    periods: tuple[Period, ...]
    end: Period | None

    @property
    def start(self) -> datetime:
        return self.periods[0].start

    @property
    def peak(self) -> Period:
        return max(self.periods, key=lambda p: p.value)


def period_length(rule: Rule) -> timedelta:
    """How long one of the rule's periods lasts (zero for single observations)."""
    return LENGTHS[rule.aggregation]


def period_start(rule: Rule, moment: datetime) -> datetime:
    """The start (UTC) of the period an observation time falls in."""
    if rule.aggregation == "none":
        return moment.astimezone(UTC)
    shifted = moment - JUST_BEFORE if rule.stamped == "end" else moment
    # Every zone's offset is a whole number of quarter hours: the quarter an instant lies in
    # decides its local hour and day, and the series of a batch share their quarters.
    quarter = math.floor(shifted.timestamp() / QUARTER) * QUARTER
    return _local_floor(rule.timezone, rule.aggregation, quarter)


def period_end(rule: Rule, start: datetime) -> datetime:
    """The end (UTC) of the period starting at `start`: a daily period ends at the next local
    midnight (23 or 25 hours later on a clock change), a single observation where it starts."""
    if rule.aggregation == "daily-mean":
        # Aware arithmetic within one zone moves the wall clock: the next local midnight.
        return (start.astimezone(ZoneInfo(rule.timezone)) + LENGTHS["daily-mean"]).astimezone(UTC)
    return start + period_length(rule)


@lru_cache(maxsize=65_536)
def _local_floor(timezone: str, aggregation: str, quarter: int) -> datetime:
    """The UTC start of the local hour or day holding the quarter that starts at `quarter`."""
    local = datetime.fromtimestamp(quarter, ZoneInfo(timezone))
    floor = local.replace(minute=0, second=0, microsecond=0)
    if aggregation == "daily-mean":
        floor = floor.replace(hour=0)
    return floor.astimezone(UTC)


def period_frame(rule: Rule, observations: pl.DataFrame) -> pl.DataFrame:
    """The judged periods of many series at once: from columns `series` (any id), `time` (UTC)
    and `value`, one row per period (`series`, `start`, `value` the mean, `count`, `last_seen`)
    in series then time order. Periods are found per quarter
    hour (a batch's series share their quarters), so the time zone is asked once a quarter."""
    time = pl.col("time")
    if rule.aggregation == "none":
        placed = observations.with_columns(start=time)
    else:
        shifted = time - pl.duration(microseconds=1) if rule.stamped == "end" else time
        quarter = shifted.dt.epoch("us") // (QUARTER * 1_000_000) * QUARTER
        placed = observations.with_columns(quarter=quarter)
        quarters = placed["quarter"].unique().to_list()
        starts = pl.DataFrame(
            {
                "quarter": quarters,
                "start": [_local_floor(rule.timezone, rule.aggregation, q) for q in quarters],
            },
            schema={"quarter": pl.Int64, "start": pl.Datetime("us", "UTC")},
        )
        placed = placed.join(starts, on="quarter", how="left")
    periods = placed.group_by("series", "start").agg(
        value=pl.col("value").mean(), count=pl.len(), last_seen=time.max()
    )
    return periods.filter(pl.col("count") >= rule.min_count).sort("series", "start")


def episodes_by_series(rule: Rule, observations: pl.DataFrame) -> dict[object, list[Episode]]:
    """The exceedance episodes of many series at once (columns as `period_frame` takes them),
    by series, each in time order. Only the periods of an episode, and the one that ends it,
    become Python objects."""
    value, series, limit = pl.col("value"), pl.col("series"), rule.threshold
    over = {">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit}
    same = (series == series.shift(1)).fill_null(False)
    periods = period_frame(rule, observations).with_columns(over=over[rule.comparison])
    marked = periods.with_columns(
        run=(~same | (pl.col("over") != pl.col("over").shift(1)).fill_null(True)).cum_sum()
    ).filter(pl.col("over") | (pl.col("over").shift(1).fill_null(False) & same))
    found: dict[object, list[Episode]] = {}
    running: list[Period] = []
    owner: object = None
    run_of: object = None

    def close(end: Period | None) -> None:
        found.setdefault(owner, []).append(Episode(tuple(running), end))
        running.clear()

    columns = ("series", "start", "value", "count", "last_seen", "over", "run")
    for key, start, mean, count, last_seen, exceeding, run in marked.select(columns).iter_rows():
        period = Period(start, mean, count, last_seen)
        if not exceeding:  # the first period back under the threshold: the episode's end
            close(period)
            continue
        if running and run != run_of:  # the last run of the series before: never ended
            close(None)
        running.append(period)
        owner, run_of = key, run
    if running:
        close(None)
    return found
