"""A batch with more recent records than the feed takes from one: which are sent, and the `gap`
event that tells clients about the others.

The newest records are the news, so they are the ones kept; the cut falls between two times where
it can, so every record left out is older than every one sent, and the `gap` event (logged before
them, with an id like any event) gives the records API query that serves the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy import Connection

from hub.alerts.moments import instant
from hub.models import as_utc

if TYPE_CHECKING:
    from hub.events import Published

log = logging.getLogger("hub.events")


def newest(rows: Sequence[Any], time_column: str | None, cap: int) -> Sequence[Any]:
    """The newest `cap` of rows (oldest first, one more than the cap at most), cut
    between two times where it can: every record left out is then older than every one kept."""
    if len(rows) <= cap:
        return rows
    kept = rows[1:]
    if time_column is None:
        return kept
    newest_left_out = rows[0]._mapping[time_column]
    later = [row for row in kept if row._mapping[time_column] != newest_left_out]
    return later or kept


def left_out(
    connection: Connection, statement: sa.Select[Any], batch: Published, kept: int, first_kept: Any
) -> dict[str, Any]:
    """The `gap` event of a batch whose oldest recent records get no event."""
    found = statement.order_by(None).subquery()
    time_column = found.c[batch.layout.time] if batch.layout.time else None
    columns = [sa.func.count()] + ([sa.func.min(time_column)] if time_column is not None else [])
    total, oldest = [*connection.execute(sa.select(*columns)).one(), None][:2]
    missing = int(total) - kept
    log.warning(
        "%s: %d recent records in one run; the newest %d are on the feed, the %d older ones "
        "only in the records API",
        batch.dataset_id,
        total,
        kept,
        missing,
    )
    window = {"from": _text(oldest), "to": first_kept} if oldest is not None else {}
    query = urlencode({name: value for name, value in window.items() if value})
    payload = {
        "dataset": batch.dataset_id,
        "theme": batch.theme,
        "time": first_kept,
        "geometry": None,
        "run": batch.run_id,
        "left_out": missing,
        "records": f"/api/v1/datasets/{batch.dataset_id}/records" + (f"?{query}" if query else ""),
        "reason": (
            f"this batch stored {total} recent records, more than the feed takes from one batch: "
            f"its {kept} newest follow, and the {missing} older ones are left out; the records "
            "API serves them (`records`: from the oldest left out to the first sent, exclusive)"
        ),
    }
    return {
        "kind": "gap",
        "dataset_id": batch.dataset_id,
        "theme": batch.theme,
        "access": batch.access,
        "payload": payload,
    }


def _text(value: Any) -> str:
    """A stored time as ISO 8601 text (SQLite's are naive UTC text)."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    moment = instant(value)
    return moment.isoformat() if moment else ""
