"""Cancelling a hub alert sent in error: the crisis authority's CAP Cancel.

CAP's answer to a message sent in error is a Cancel that `references` it. The crisis authority
(an admin token, or `hub alert cancel`) issues one for an alert the hub derived; it is published
through the gate into the hub's alerts dataset as the rules' own Cancels are, so it leaves the
Atom index, goes on the feed, and the rules never raise that episode again. Harvested alerts are
their senders' to cancel, not the hub's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from hub.alerts import current, derived
from hub.alerts.messages import Row, episode_of, error_cancel_row
from hub.models import utcnow

MAX_REASON = 500


class CancelRefused(Exception):
    """An alert that cannot be cancelled here, and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NoSuchAlert(CancelRefused, LookupError):
    """No alert of the hub has that id or identifier."""


def cancel_in_error(
    engine: Engine, alert: str, *, by: str, reason: str = "", now: datetime | None = None
) -> Row:
    """Publish the Cancel of a hub alert sent in error and return it; `alert`: its id (as in
    `/alerts/{id}.cap`) or its CAP identifier; the Cancel has one info per language of the
    alert, and its first is returned. CancelRefused (NoSuchAlert) when it cannot be."""
    identifier = episode_of(_identifier(alert))
    with Session(engine) as session:
        chain = derived.raised_by_prefix(session, identifier)
    chain = [row for row in chain if episode_of(str(row["identifier"])) == identifier]
    if not any(row["msgType"] == "Alert" for row in chain):
        raise NoSuchAlert(f"the hub raised no alert {identifier!r}")
    done = [row for row in chain if row["msgType"] == "Cancel"]
    if done:
        raise CancelRefused(f"alert {identifier!r} was cancelled already, at {done[0]['sent']}")
    rows = error_cancel_row(chain, reason[:MAX_REASON], by, now or utcnow())
    derived.publish_alerts(engine, rows)
    return rows[0]


def _identifier(alert: str) -> str:
    """The CAP identifier an alert id names (a hub alert's only), or the text as given."""
    try:
        dataset, _sender, identifier = current.parse_id(alert)
    except current.UnknownAlert:
        return alert.strip()
    if dataset != derived.DATASET:
        raise CancelRefused(
            "only the hub's own alerts are cancelled here: a harvested alert is its sender's "
            "to cancel"
        )
    return identifier
