"""How recent a dataset's data is, as "à jour" / "up to date", the `stale` flag and the search's
`freshness` and `timeliness` facets judge it.

Data is as recent as the latest time its records cover (`time_max`), and no more recent than
when the hub last received it (`published_at`): statistics for 2007–2011 harvested this morning
are old data, and a forecast for next week received a month ago is a month old. A dataset whose
records hold no time (or a stored grid without one) is judged by when it was received.
"""

from __future__ import annotations

from datetime import datetime

from hub.models import as_utc


def data_moment(published_at: datetime | None, time_max: datetime | None) -> datetime | None:
    """The moment a dataset's freshness is measured from (None: it never received data)."""
    if published_at is None:
        return None
    received = as_utc(published_at)
    return received if time_max is None else min(received, as_utc(time_max))
