"""Housekeeping: what the hub forgets on its own, on a clock rather than a charter.

The feed's event log carries every recent record, personal ones included (pseudonym, values,
values since corrected), so it keeps only what replay promises (hub.events.KEEP, 72 h, never
less than the 48 h horizon). The gate purges it after each batch; `sweep` does it again
wherever the hub already tidies up — `hub db purge-expired`, the daily `retention` flow, and
every SWEEP_EVERY while an API process runs — so that an idle hub forgets too.
Retention by charter (personal records) is hub.retention; README "What the hub keeps, and for
how long" lists every store.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub import events

log = logging.getLogger(__name__)

SWEEP_EVERY = 3600.0  # seconds between two sweeps of a running API process
FIRST_SWEEP = 60.0  # after start: not in the way of the first requests


@dataclass(frozen=True)
class Swept:
    """What one sweep deleted."""

    events: int = 0

    @property
    def note(self) -> str:
        """One line saying so."""
        return f"event log: {self.events:,} event(s) older than {_hours(events.KEEP)} h deleted"


def sweep(engine: Engine) -> Swept:
    """Delete what is past its keeping period; each part on its own transaction."""
    swept = Swept(events=events.purge(engine))
    if swept.events:
        log.info("housekeeping: %s", swept.note)
    return swept


async def watch(engine: Engine) -> None:
    """Sweep every SWEEP_EVERY seconds until cancelled (an API process's task)."""
    await asyncio.sleep(FIRST_SWEEP)
    while True:
        try:
            await asyncio.to_thread(sweep, engine)
        except SQLAlchemyError as exc:  # the database is away: sweep again next time
            log.warning("housekeeping skipped: %s", str(exc).splitlines()[0])
        await asyncio.sleep(SWEEP_EVERY)


def _hours(period: timedelta) -> int:
    return int(period.total_seconds() // 3600)
