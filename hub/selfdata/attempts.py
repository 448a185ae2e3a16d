"""How often a subject account, and all accounts together, may try to link to a dataset.

Matching values can be guessed (a postcode, a meter number a few digits off); each try costs the
operator a check. Attempts are rows in the database, so every API process counts the same ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from hub.models import LinkAttempt, as_utc, utcnow


@dataclass(frozen=True)
class Limit:
    """At most `attempts` in any `window`."""

    attempts: int
    window: timedelta


PER_ACCOUNT = Limit(10, timedelta(hours=1))  # one citizen's tries at one dataset
PER_DATASET = Limit(300, timedelta(hours=1))  # everybody's tries at one dataset
KEPT = max(PER_ACCOUNT.window, PER_DATASET.window)  # older attempts count for nothing


class TooManyAttempts(Exception):
    """Over a limit: try again in `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


def spend(session: Session, account: str, dataset_id: str, now: datetime | None = None) -> None:
    """Count one attempt of `account` at `dataset_id`, or TooManyAttempts (then none counted)."""
    moment = now or utcnow()
    mine = col(LinkAttempt.account) == account
    ours = col(LinkAttempt.dataset_id) == dataset_id
    checks = (
        (PER_ACCOUNT, sa.and_(mine, ours), "this account's attempts at linking to this dataset"),
        (PER_DATASET, ours, "attempts at linking to this dataset"),
    )
    for limit, which, what in checks:
        wait = _wait(session, limit, which, moment)
        if wait:
            raise TooManyAttempts(
                f"too many {what} ({limit.attempts} per {_span(limit.window)}): retry in {wait} s",
                wait,
            )
    oldest = moment - KEPT
    session.execute(sa.delete(LinkAttempt).where(ours, col(LinkAttempt.at) < oldest))
    session.add(LinkAttempt(account=account, dataset_id=dataset_id, at=moment))
    session.commit()


def forget_old(session: Session, now: datetime | None = None) -> int:
    """Delete the attempts no limit counts any more, at every dataset (`spend` only prunes the
    dataset it counts at): an account's tries are kept an hour, not for ever."""
    oldest = (now or utcnow()) - KEPT
    deleted = session.connection().execute(
        sa.delete(LinkAttempt).where(col(LinkAttempt.at) < oldest)
    )
    session.commit()
    return int(deleted.rowcount or 0)


def _wait(session: Session, limit: Limit, which: sa.ColumnElement[bool], now: datetime) -> int:
    """Seconds until one more attempt fits under `limit` (0: it fits now)."""
    recent = (
        select(LinkAttempt.at)
        .where(which, col(LinkAttempt.at) > now - limit.window)
        .order_by(col(LinkAttempt.at).desc())
        .limit(limit.attempts)
    )
    times = list(session.exec(recent).all())
    if len(times) < limit.attempts:
        return 0
    # The oldest of the last `attempts` tries must leave the window first.
    free = as_utc(times[-1]) + limit.window - now
    return max(1, math.ceil(free.total_seconds()))


def _span(window: timedelta) -> str:
    minutes = int(window.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
