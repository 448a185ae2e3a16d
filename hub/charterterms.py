"""How long a charter shares its datasets, as all its versions decide today (not one file).

A dataset stores the version it was last published under, but a newer version replaces it from
its first day (hub.charters): one ending sooner ends the sharing early, one starting later takes
over then. Pages and the API show this term, the one reads are judged by (hub.access).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from hub import charterdays, charters
from hub.charters import Charter


@dataclass(frozen=True)
class Term:
    """The version that rules today (in force, or the last one started when it has ended), the
    last day of its terms, and the version that takes over later, if one is written."""

    ruling: Charter | None  # None: no version has started yet
    ends: date | None  # the ruling version's last day: its own end, or the eve of `upcoming`
    ended: bool  # no version is in force today: sharing has ended
    upcoming: Charter | None  # the next version to start, from its valid_from


def term(charter_id: str, on: date | None = None) -> Term | None:
    """The charter's term on `on` (default the territory's today); None if it cannot be read."""
    try:
        versions = charters.read_versions(charter_id)
    except charters.CharterError:
        return None
    day = on or charterdays.today()
    started = [version for version in versions if version.valid_from <= day]
    later = sorted((v for v in versions if v.valid_from > day), key=lambda v: v.valid_from)
    ruling = started[-1] if started else None
    upcoming = later[0] if later else None
    ends = ruling.valid_until if ruling else None
    ended = ruling is not None and ends is not None and ends < day
    if upcoming is not None and not ended and (ends is None or upcoming.valid_from <= ends):
        ends = upcoming.valid_from - timedelta(days=1)  # replaced, not ended: see `upcoming`
    return Term(ruling, ends, ended, upcoming)
