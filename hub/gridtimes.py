"""The UTC time range of a grid's time coordinate: numpy or cftime dates (model calendars),
and the `months since` axes xarray leaves undecoded."""

from __future__ import annotations

import calendar
import logging
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import xarray as xr

from hub.gridextent import finite

log = logging.getLogger(__name__)

# `months since 1960-1-1`: undecoded by xarray in a real calendar (see `_month_range`)
MONTHS_SINCE = re.compile(
    r"^\s*(months?|years?)\s+since\s+(\d{1,4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?",
    re.IGNORECASE,
)


def time_range(ds: xr.Dataset) -> dict[str, datetime | None]:
    """First and last time of the time coordinate, in UTC; none when the grid has no time."""
    var = _time_coordinate(ds)
    if var is None:
        return _month_range(ds)
    values = np.asarray(var.values).ravel()
    if np.issubdtype(values.dtype, np.datetime64):
        values = values[~np.isnat(values)]
        values = values[[values.argmin(), values.argmax()]] if values.size else values
    # (cftime dates are compared as the Gregorian dates they stand for)
    ends = sorted(m for m in map(_utc, values) if m is not None)
    return {"time_min": ends[0] if ends else None, "time_max": ends[-1] if ends else None}


def _time_coordinate(ds: xr.Dataset) -> xr.DataArray | None:
    """The decoded time coordinate: CF `standard_name: time` or `axis: T` first, else any."""
    decoded = [var for var in ds.coords.values() if _is_time(var)]
    for var in decoded:
        if var.attrs.get("standard_name") == "time" or var.attrs.get("axis") == "T":
            return var
    dimensional = [var for var in decoded if var.name in ds.dims]
    return (dimensional or decoded or [None])[0]


def _month_range(ds: xr.Dataset) -> dict[str, datetime | None]:
    """The range of an undecoded `months since` or `years since` time axis.

    xarray decodes these units in a 360_day calendar only (a CF month is 1/12 of a year); NOAA's
    and IRI's monthly files count calendar months in a real calendar (452.5: the middle of the
    453rd month), read so here.
    """
    for var in ds.coords.values():
        match = MONTHS_SINCE.match(str(var.attrs.get("units", "")))
        if match is None or var.name not in ds.dims:
            continue
        values = finite(var)
        year, month, day, hour, minute = (int(n) for n in match.groups(default="0")[1:])
        try:
            origin = datetime(year, month, day, hour, minute, tzinfo=UTC)
        except ValueError:  # month 13, day 0 …
            continue
        if values.size == 0 or np.abs(values).max() > 120_000:  # past year 9999: not months
            continue
        per = 12 if match.group(1).lower().startswith("year") else 1
        ends = [_months_after(origin, v * per) for v in (values.min(), values.max())]
        return {"time_min": ends[0], "time_max": ends[1]}
    return {"time_min": None, "time_max": None}


def _months_after(origin: datetime, months: float) -> datetime:
    """`origin` moved by whole calendar months, then by the fraction of the month reached."""
    whole = math.floor(months)
    year, month = divmod(origin.month - 1 + whole, 12)
    days = calendar.monthrange(origin.year + year, month + 1)[1]
    start = origin.replace(year=origin.year + year, month=month + 1, day=min(origin.day, days))
    return start + timedelta(days=(months - whole) * days)


def _is_time(var: xr.DataArray) -> bool:
    """Whether xarray decoded a variable into datetimes (numpy or cftime)."""
    if np.issubdtype(var.dtype, np.datetime64):
        return True
    return var.dtype == object and var.size > 0 and hasattr(var.values.flat[0], "calendar")


def _utc(value: Any) -> datetime | None:
    """One decoded time as an aware UTC datetime (xarray decodes CF times to UTC)."""
    if isinstance(value, np.datetime64):
        moment = value.astype("datetime64[us]").item()
        return moment.replace(tzinfo=UTC) if isinstance(moment, datetime) else None
    try:  # cftime: a model calendar (noleap, 360_day …); its dates may not exist in ours
        # 360_day's 29 and 30 February (30 April …) stand for the month's last day
        last = calendar.monthrange(value.year, value.month)[1]
        return datetime(
            value.year, value.month, min(value.day, last), value.hour, value.minute,
            value.second, tzinfo=UTC,
        )  # fmt: skip
    except (AttributeError, ValueError):
        log.warning("time %r has no Gregorian equivalent: left out of the time range", value)
        return None
