"""Where a stream starts in the event log: after a `Last-Event-ID`, from a `since` time or id,
or live.

An id the log no longer holds (purged: the log keeps at least hub.events.HORIZON) replays from
the oldest event it holds, after a `gap` message that says so; an id that is no event id, or one
beyond the newest event, is refused (ReplayError: the API answers 400). `Last-Event-ID` wins over
`since`, as a browser reconnecting keeps the URL it first opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from hub import events
from hub.models import utcnow

_ID = re.compile(r"^[0-9]{1,18}$")
SLACK = timedelta(minutes=5)  # clocks disagree a little: `since` a bit ahead is "now"


class ReplayError(ValueError):
    """A resume point the hub cannot take, and why."""


@dataclass(frozen=True)
class Start:
    """Replay the events after `after` (None: live, from when the client is registered);
    `gap`: the notice to send first when the log no longer holds all that was asked."""

    after: int | None = None
    gap: dict[str, Any] | None = None


def resolve(engine: Engine, last_event_id: str | None, since: str | None) -> Start:
    """The start a request asks for (ReplayError if it is malformed or forged)."""
    if last_event_id is not None and last_event_id.strip():
        return _from_id(engine, last_event_id.strip(), "Last-Event-ID")
    if since is None or not since.strip():
        return Start()
    text = since.strip()
    if _ID.match(text):
        return _from_id(engine, text, "since")
    return _from_time(engine, text)


def _from_id(engine: Engine, text: str, name: str) -> Start:
    if not _ID.match(text):
        raise ReplayError(f"{name} {text[:40]!r} is not an event id (a non-negative integer)")
    wanted = int(text)
    with engine.connect() as connection:
        newest, oldest = events.newest_id(connection), events.oldest_id(connection)
    if wanted > newest:
        raise ReplayError(
            f"{name} {wanted} is beyond the newest event ({newest}): it was not sent by this hub"
        )
    if oldest and wanted < oldest - 1:
        return Start(oldest - 1, _gap(str(wanted), oldest))
    return Start(wanted)


def _from_time(engine: Engine, text: str) -> Start:
    try:
        moment = datetime.fromisoformat(text.replace(" ", "+"))  # `+` decoded from a query
    except ValueError:
        raise ReplayError(
            f"since {text[:60]!r} is neither an ISO 8601 time nor an event id"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > utcnow() + SLACK:
        raise ReplayError(f"since {text[:60]!r} is in the future")
    with engine.connect() as connection:
        after = events.last_before(connection, moment)
        oldest = events.oldest_id(connection)
        first = events.after(connection, oldest - 1, 1) if oldest else []
    if first and oldest > 1 and moment < first[0].logged_at:
        return Start(oldest - 1, _gap(text, oldest))
    return Start(after)


def _gap(asked: str, oldest: int) -> dict[str, Any]:
    hours = int(events.HORIZON.total_seconds() // 3600)
    return {
        "requested": asked,
        "oldest": str(oldest),
        "reason": (
            f"the event log no longer holds events before {oldest} (it keeps at least "
            f"{hours} h): replaying from there; read what came before from the records API"
        ),
    }


def newest(engine: Engine) -> int:
    """The newest event id (blocking)."""
    with engine.connect() as connection:
        return events.newest_id(connection)


def read_after(engine: Engine, last_id: int, limit: int) -> list[events.FeedEvent]:
    """Events logged after `last_id` (blocking)."""
    with engine.connect() as connection:
        return events.after(connection, last_id, limit)
