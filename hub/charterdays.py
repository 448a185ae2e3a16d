"""The territory's calendar: which day it is where charters are signed (HUB_TIMEZONE).

A charter "valid until 2026-12-31" is read by the lawyers who signed it in the territory's local
time, so it ends at midnight there, not at midnight UTC. Every check of a charter's dates —
reads, publications, pages — asks for the day here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from hub.config import get_settings


def zone() -> ZoneInfo:
    """The territory's time zone (Europe/Paris unless HUB_TIMEZONE says otherwise)."""
    return ZoneInfo(get_settings().timezone)


def today() -> date:
    """Today's date in the territory."""
    return datetime.now(zone()).date()


def day_of(moment: date) -> date:
    """A calendar day; an aware instant counts as its territory day, a naive one as UTC's."""
    if isinstance(moment, datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(zone()).date()
    return moment
