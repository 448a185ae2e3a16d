"""Times of alerts: stored instants (UTC, `Z`) read back, and written as CAP 1.2 wants them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def instant(value: Any) -> datetime | None:
    """A stored time (text or datetime; SQLite's are naive UTC) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def cap_time(value: Any) -> str | None:
    """A time as CAP 1.2 writes it: whole seconds and a numeric offset (`+00:00`, never `Z`)."""
    moment = instant(value)
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def stored_time(moment: datetime) -> str:
    """A time as risk-alert rows hold it: UTC, with `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
