"""Solr's date math, as CKAN clients send it in ranges on date fields: `NOW` or an ISO 8601 time,
then steps applied left to right in UTC: `+N UNIT` and `-N UNIT` (calendar arithmetic: a month
after 31 January is the last day of February) and `/UNIT` (rounded down to the unit's start)."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

# Solr's unit names (DateMathParser.CALENDAR_UNITS), singular and plural, and what one step is.
_UNITS = {
    "YEAR": "year",
    "MONTH": "month",
    "DAY": "day",
    "DATE": "day",
    "HOUR": "hour",
    "MINUTE": "minute",
    "SECOND": "second",
    "MILLI": "milli",
    "MILLISECOND": "milli",
}
_SPANS = {
    "day": timedelta(days=1),
    "hour": timedelta(hours=1),
    "minute": timedelta(minutes=1),
    "second": timedelta(seconds=1),
    "milli": timedelta(milliseconds=1),
}
# Rounding down to a unit keeps this many of month, day, hour, minute, second, microsecond
# and resets the others to their floor.
_KEPT = {"year": 0, "month": 1, "day": 2, "hour": 3, "minute": 4, "second": 5}
_FLOOR = (1, 1, 0, 0, 0, 0)
_STEP = re.compile(r"([+-])(\d{1,9})([A-Z]+)|/([A-Z]+)")


def moment(text: str, now: datetime) -> datetime:
    """The UTC time `text` names, `now` being NOW; ValueError when it names none."""
    upper = text.strip().upper()
    if upper.startswith("NOW"):
        at, steps = now.astimezone(UTC), upper[3:]
    else:
        # Math follows an ISO time only after its `Z`, as Solr writes times.
        stamp, zulu, steps = upper.partition("Z")
        at = _iso(stamp + zulu)
    position = 0
    for step in _STEP.finditer(steps):
        if step.start() != position:
            break
        sign, count, unit, rounding = step.groups()
        at = _round(at, _unit(rounding)) if rounding else _add(at, int(sign + count), _unit(unit))
        position = step.end()
    if position != len(steps):
        raise ValueError(f"not date math: {steps[position:]!r}")
    return at


def _iso(text: str) -> datetime:
    found = datetime.fromisoformat(text)
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def _unit(name: str) -> str:
    unit = _UNITS.get(name) or (_UNITS.get(name[:-1]) if name.endswith("S") else None)
    if unit is None:
        raise ValueError(f"unknown date unit {name!r}")
    return unit


def _add(at: datetime, count: int, unit: str) -> datetime:
    """`count` units after `at` (before it when negative); ValueError past year 1 or 9999."""
    try:
        if unit in _SPANS:
            return at + count * _SPANS[unit]
        months = at.month - 1 + count * (12 if unit == "year" else 1)
        year, month = at.year + months // 12, months % 12 + 1
        if not 1 <= year <= 9999:
            raise ValueError("date out of range")
        return at.replace(year=year, month=month, day=min(at.day, _days(year, month)))
    except OverflowError as error:
        raise ValueError("date out of range") from error


def _days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _round(at: datetime, unit: str) -> datetime:
    """`at` rounded down to the start of its unit."""
    if unit == "milli":
        return at.replace(microsecond=at.microsecond // 1000 * 1000)
    kept = _KEPT[unit]
    fields = (at.month, at.day, at.hour, at.minute, at.second, at.microsecond)
    month, day, hour, minute, second, micro = (*fields[:kept], *_FLOOR[kept:])
    return at.replace(
        month=month, day=day, hour=hour, minute=minute, second=second, microsecond=micro
    )
