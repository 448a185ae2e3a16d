"""A series judged by a rule: its values gathered into periods, and its exceedance episodes.

A period is one observation (`none`), a clock hour or a day (`hourly-mean`, `daily-mean`, in
the rule's time zone); a time stamped at the end of its averaging period counts in the period
it closes. An episode is a run of consecutive judged periods over the threshold; it ends at the
first judged period that is not. Periods with fewer than the rule's `min_count` values are not
judged: they neither extend nor end an episode.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

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


@lru_cache(maxsize=65_536)
def _local_floor(timezone: str, aggregation: str, quarter: int) -> datetime:
    """The UTC start of the local hour or day holding the quarter that starts at `quarter`."""
    local = datetime.fromtimestamp(quarter, ZoneInfo(timezone))
    floor = local.replace(minute=0, second=0, microsecond=0)
    if aggregation == "daily-mean":
        floor = floor.replace(hour=0)
    return floor.astimezone(UTC)


def periods_of(rule: Rule, observations: Iterable[tuple[datetime, float]]) -> list[Period]:
    """The judged periods of a series, in time order."""
    gathered: dict[datetime, list[tuple[datetime, float]]] = {}
    for moment, value in observations:
        gathered.setdefault(period_start(rule, moment), []).append((moment, value))
    found = []
    for start in sorted(gathered):
        values = gathered[start]
        if len(values) < rule.min_count:
            continue
        mean = sum(v for _, v in values) / len(values)
        found.append(Period(start, mean, len(values), max(m for m, _ in values)))
    return found


def episodes_of(rule: Rule, periods: list[Period]) -> list[Episode]:
    """The exceedance episodes of judged periods in time order."""
    found: list[Episode] = []
    running: list[Period] = []
    for period in periods:
        if rule.exceeds(period.value):
            running.append(period)
        elif running:
            found.append(Episode(tuple(running), period))
            running = []
    if running:
        found.append(Episode(tuple(running), None))
    return found
