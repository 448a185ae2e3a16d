"""Housekeeping: what the hub forgets on its own, on a clock rather than a charter.

- The feed's event log carries every recent record, personal ones included (pseudonym, values,
  values since corrected), so it keeps only what replay promises (hub.events.KEEP, 72 h, never
  less than the 48 h horizon). The gate also purges it after each batch.
- Link attempts (which account tried to link to which dataset) count for an hour
  (hub.selfdata.attempts), sign-ins until they expire, tokens until they expire or are
  revoked; then they go — tokens after HUB_KEEP_TOKENS_DAYS more, so that who held one stays
  known while an incident is looked into (the access log keeps each read's token id anyway).
- Tombstones of datasets a portal dropped are listed to harvesters HUB_KEEP_TOMBSTONES_DAYS
  (a year), then go: they hold no personal data, but would otherwise grow for ever.

`sweep` runs wherever the hub already tidies up: `hub db purge-expired`, the daily `retention`
flow, and every SWEEP_EVERY while an API process runs, so that an idle hub forgets too.
Retention by charter (personal records) is hub.retention; README "What the hub keeps, and for
how long" lists every store. The access log is never swept: it is append-only by design.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from hub import events, signins, tokens, tombstones
from hub.config import get_settings
from hub.models import utcnow
from hub.selfdata import attempts

log = logging.getLogger(__name__)

SWEEP_EVERY = 3600.0  # seconds between two sweeps of a running API process
FIRST_SWEEP = 60.0  # after start: not in the way of the first requests


@dataclass(frozen=True)
class Swept:
    """What one sweep deleted."""

    events: int = 0
    link_attempts: int = 0
    sign_ins: int = 0
    tokens: int = 0
    tombstones: int = 0

    @property
    def note(self) -> str:
        """One line saying so."""
        return (
            f"event log: {self.events:,} event(s) older than {_hours(events.KEEP)} h deleted; "
            f"{self.link_attempts:,} link attempt(s), {self.sign_ins:,} expired sign-in(s) "
            f"and {self.tokens:,} token(s) ended over {get_settings().keep_tokens_days} days "
            f"ago deleted; {self.tombstones:,} tombstone(s) of datasets withdrawn over "
            f"{get_settings().keep_tombstones_days} days ago deleted"
        )


def sweep(engine: Engine, now: datetime | None = None) -> Swept:
    """Delete what is past its keeping period; each part in a transaction of its own."""
    moment = now or utcnow()
    logged = events.purge(engine)
    with Session(engine) as session:
        tried = attempts.forget_old(session, moment)
        signed = signins.forget_expired(session, moment)
        kept = timedelta(days=get_settings().keep_tokens_days)
        ended = tokens.forget_ended(session, moment - kept)
        buried = timedelta(days=get_settings().keep_tombstones_days)
        forgotten = tombstones.forget_old(session, moment - buried)
    swept = Swept(logged, tried, signed, ended, forgotten)
    if logged or tried or signed or ended or forgotten:
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
