"""Times of alerts: stored instants (UTC, `Z`) read back, and written as CAP 1.2 wants them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from hub.records import SQLITE_DATETIME

INSTANTS = pl.Datetime("us", "UTC")


def instant(value: Any) -> datetime | None:
    """A stored time (text or datetime; SQLite's are naive UTC) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def instants(times: pl.Series) -> pl.Series:
    """Stored times as `instant` reads each, as one UTC column: SQLite's text parsed at once, a
    server's datetimes converted; anything else read one by one."""
    if times.dtype == pl.Utf8:
        for form in (SQLITE_DATETIME, None):
            parsed = times.str.to_datetime(form, time_unit="us", time_zone="UTC", strict=False)
            if parsed.null_count() == times.null_count():
                return parsed
    elif isinstance(times.dtype, pl.Datetime):
        if times.dtype.time_zone is None:
            return times.dt.cast_time_unit("us").dt.replace_time_zone("UTC")
        return times.dt.cast_time_unit("us").dt.convert_time_zone("UTC")
    return pl.Series(times.name, [instant(v) for v in times.to_list()], dtype=INSTANTS)


def cap_time(value: Any) -> str | None:
    """A time as CAP 1.2 writes it: whole seconds and a numeric offset (`+00:00`, never `Z`)."""
    moment = instant(value)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def stored_time(moment: datetime) -> str:
    """A time as risk-alert rows hold it: UTC, with `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
