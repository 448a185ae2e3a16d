"""Times in a named zone: the territory's (HUB_TIMEZONE) on the pages, or one a caller asks for
(`tz=`) in record downloads, whose default stays UTC."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.config import get_settings

if TYPE_CHECKING:
    from hub import records


def parse(text: str) -> datetime:
    """A record's ISO 8601 date-time as aware UTC (one without a zone is UTC); ValueError else."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def zone_label(zone: tzinfo) -> str:
    """How a heading names a zone: its IANA key (`Europe/Paris`), or `UTC`."""
    return str(getattr(zone, "key", None) or "UTC")


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name` (`Europe/Paris`, `UTC`), or UnknownZone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(name) from None


class UnknownZone(ValueError):
    """A name the IANA time zone database does not hold."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown time zone {name[:60]!r}: name one of the IANA database")


def territory_zone() -> ZoneInfo:
    """The territory's zone (HUB_TIMEZONE, checked when the settings are read)."""
    return zone_named(get_settings().timezone)


def offset_label(moment: datetime) -> str:
    """An aware moment's offset as people read it: `UTC`, `UTC+1`, `UTC+5:30`, `UTC−3`."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if not minutes:
        return "UTC"
    sign = "+" if minutes > 0 else "−"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def localised(
    rows: list[dict[str, Any]], layout: records.Layout, zone: tzinfo
) -> list[dict[str, Any]]:
    """Records with their date-times written in `zone`, with its offset (`…T13:00:00+01:00`)."""
    fields = [name for name, kind in layout.types.items() if kind == "datetime"]
    if not fields:
        return rows
    for row in rows:
        for field in fields:
            value = row.get(field)
            if isinstance(value, str):
                # A value the store did not write as ISO 8601 is left as it is.
                with suppress(ValueError):
                    row[field] = parse(value).astimezone(zone).isoformat()
    return rows


def localised_pages(
    pages: Iterator[list[dict[str, Any]]], layout: records.Layout, zone: tzinfo | None
) -> Iterator[list[dict[str, Any]]]:
    """Pages of records with their date-times in `zone`; as they are (UTC) without one."""
    for page in pages:
        yield page if zone is None else localised(page, layout, zone)
