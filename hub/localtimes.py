"""Times in a named zone: record values read back from their ISO text, and the zone's label."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def parse(text: str) -> datetime:
    """A record's ISO 8601 date-time as aware UTC (one without a zone is UTC); ValueError else."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def zone_label(zone: tzinfo) -> str:
    """How a heading names a zone: its IANA key (`Europe/Paris`), or `UTC`."""
    return str(getattr(zone, "key", None) or "UTC")
