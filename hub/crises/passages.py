"""A crisis's start and end as the clock passes them: `crisis` events `status: "started"` (a
scheduled crisis whose window opens) and `"ended"` (one that reaches its end without being
closed), each said once, whichever process sees it first (a claim in one UPDATE).

No request says so, so the API process looks every PASS_EVERY seconds (`watch`), as
housekeeping sweeps. A crisis declared already started is not `started` again (its declaration
says so); a closed one does not end (its close says so).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from hub import crises
from hub.models import Crisis, as_utc, utcnow

log = logging.getLogger(__name__)

PASS_EVERY = 10.0  # seconds: a cell's page learns a crisis ended within this long


def tell(engine: Engine, now: datetime | None = None) -> list[tuple[str, str]]:
    """Announce the starts and ends the clock has passed and nobody told yet: (id, status)."""
    moment = as_utc(now or utcnow())
    told = []
    for column, boundary, state in (
        ("started_told_at", Crisis.starts_at, "started"),
        ("ended_told_at", Crisis.ends_at, "ended"),
    ):
        with Session(engine) as session:
            due = session.exec(
                select(Crisis.id).where(
                    col(Crisis.closed_at).is_(None),
                    col(getattr(Crisis, column)).is_(None),
                    col(boundary) <= moment,
                )
            ).all()
        for crisis_id in due:
            if _claim(engine, crisis_id, column, moment):
                crises.announce(engine, crises.get(engine, crisis_id), state)
                told.append((crisis_id, state))
    return told


def _claim(engine: Engine, crisis_id: str, column: str, moment: datetime) -> bool:
    """Whether this process is the one to tell it (one UPDATE: of two, one wins)."""
    table = Crisis.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        done = connection.execute(
            table.update()
            .where(table.c.id == crisis_id, table.c[column].is_(None))
            .values({column: moment})
        )
    return bool(done.rowcount)


async def watch(engine: Engine) -> None:
    """Tell every PASS_EVERY seconds until cancelled (an API process's task)."""
    while True:
        try:
            await asyncio.to_thread(tell, engine)
        except SQLAlchemyError as exc:  # the database is away: tell next time
            log.warning("crisis passages skipped: %s", str(exc).splitlines()[0])
        await asyncio.sleep(PASS_EVERY)
