"""The alerts a caller may read, and which of them are current.

Alerts are the rows of every risk-alert dataset, read through hub.reading (its grants and access
log), grouped by (sender, identifier, sent). An Update or a Cancel supersedes the alerts its
`references` name (matched by sender and identifier: CAP makes the identifier unique for its
sender); a Cancel itself is never current; an alert leaves the index EXPIRED_GRACE after its
last info's `expires`, and one sent after it expired (an episode of old data the hub judged
late) never enters it. An alert's id (for `/alerts/{id}.cap`) encodes its dataset, sender and
identifier, so it is stable across harvests and resolves without a scan.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from hub import jsontext, reading
from hub.access import AccessDenied
from hub.alerts.moments import instant
from hub.models import Dataset

SCHEMA = "risk-alert"
EXPIRED_GRACE = timedelta(hours=48)
PAGE = 1_000
SUPERSEDING = ("Update", "Cancel")

Record = dict[str, Any]


class UnknownAlert(LookupError):
    """No alert with that id that the caller may read (it may exist: the caller cannot know)."""


@dataclass
class Alert:
    """One CAP alert as stored: its dataset and its rows, one per info block."""

    dataset_id: str
    rows: list[Record]

    @property
    def sender(self) -> str:
        return str(self.rows[0]["sender"])

    @property
    def identifier(self) -> str:
        return str(self.rows[0]["identifier"])

    @property
    def sent(self) -> datetime:
        return instant(self.rows[0]["sent"]) or datetime.min.replace(tzinfo=UTC)

    @property
    def msg_type(self) -> str:
        return str(self.rows[0]["msgType"])

    @property
    def signed(self) -> bool:
        return any(row.get("signed_xml") for row in self.rows)

    @property
    def id(self) -> str:
        return alert_id(self.dataset_id, self.sender, self.identifier)

    def references(self) -> set[tuple[str, str]]:
        """(sender, identifier) of each alert this one names in `references`."""
        found = set()
        for triple in (self.rows[0].get("references") or "").split():
            parts = triple.split(",")
            if len(parts) >= 2:
                found.add((parts[0], parts[1]))
        return found

    def expires(self) -> datetime | None:
        """When the last of its infos expires; None when one never does."""
        moments = [instant(row.get("expires")) for row in self.rows]
        return None if any(m is None for m in moments) else max(m for m in moments if m)


def alert_id(dataset_id: str, sender: str, identifier: str) -> str:
    """A stable, url-safe id of an alert of a dataset."""
    text = json.dumps([dataset_id, sender, identifier], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")


def parse_id(text: str) -> tuple[str, str, str]:
    """(dataset, sender, identifier) of an id; UnknownAlert if it is none."""
    try:
        decoded = jsontext.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise UnknownAlert(text) from None
    if not (isinstance(decoded, list) and len(decoded) == 3):
        raise UnknownAlert(text)
    if not all(isinstance(part, str) and part for part in decoded):
        raise UnknownAlert(text)
    return decoded[0], decoded[1], decoded[2]


def find_alert(session: Session, caller: reading.Caller, text: str) -> Alert:
    """The alert of an id, read with the caller's grant; UnknownAlert when it cannot be read."""
    dataset_id, sender, identifier = parse_id(text)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.schema_name != SCHEMA or not _may_try(dataset, caller):
        raise UnknownAlert(text)
    filters = (("sender", _escaped(sender)), ("identifier", _escaped(identifier)))
    try:
        rows = list(_rows(session, dataset, caller, filters))
    except AccessDenied:
        raise UnknownAlert(text) from None
    if not rows:
        raise UnknownAlert(text)
    rows.sort(key=lambda row: int(row.get("info_index") or 0))
    return Alert(dataset_id, rows)


def current_alerts(
    session: Session, caller: reading.Caller, now: datetime, status: str | None = "Actual"
) -> list[Alert]:
    """The caller's current alerts, newest first: the latest of each chain, not cancelled,
    not expired for more than EXPIRED_GRACE nor when sent (never in force: a backfill's
    alert); of `status` only unless it is None."""
    cutoff = now - EXPIRED_GRACE
    alerts = _deduplicated(readable_alerts(session, caller, cutoff))
    superseded = {
        ref for alert in alerts if alert.msg_type in SUPERSEDING for ref in alert.references()
    }
    current = [
        alert
        for alert in alerts
        if alert.msg_type not in ("Cancel", "Ack", "Error")
        and (alert.sender, alert.identifier) not in superseded
        and (status is None or alert.rows[0].get("status") == status)
        and ((expiry := alert.expires()) is None or expiry > max(cutoff, alert.sent))
    ]
    return sorted(current, key=lambda alert: alert.sent, reverse=True)


def readable_alerts(session: Session, caller: reading.Caller, cutoff: datetime) -> list[Alert]:
    """Alerts of every risk-alert dataset the caller may read that may still be current:
    unexpired at `cutoff`, without expiry, or updating or cancelling others."""
    found: list[Alert] = []
    datasets = session.exec(select(Dataset).where(Dataset.schema_name == SCHEMA)).all()
    for dataset in sorted(datasets, key=lambda d: d.id):
        if not _may_try(dataset, caller):
            continue
        rows: dict[tuple[str, str, int], Record] = {}
        try:
            for filters in (
                (("expires__gte", cutoff.isoformat()),),
                (("expires__null", "true"),),
                (("msgType", ",".join(SUPERSEDING)),),
            ):
                for row in _rows(session, dataset, caller, filters):
                    rows[(row["sender"], row["identifier"], int(row["info_index"]))] = row
        except AccessDenied:
            continue  # a grant withdrawn, a crisis over: nothing of it is shown
        found += _grouped(dataset.id, list(rows.values()))
    return found


def _may_try(dataset: Dataset, caller: reading.Caller) -> bool:
    """Whether reading the dataset is worth asking for: anonymous callers read open data only
    (asking would log a refusal on every request of the index)."""
    return dataset.access == "open" or not caller.actor.anonymous


def _rows(
    session: Session,
    dataset: Dataset,
    caller: reading.Caller,
    filters: tuple[tuple[str, str], ...],
) -> Iterator[Record]:
    """Every row of a dataset matching `filters` that the caller's grant opens."""
    criteria = reading.Criteria(filters=filters)
    cursor: str | None = None
    while True:
        page = reading.read_records(session, dataset, caller, criteria, PAGE, cursor)
        yield from page.records
        cursor = page.next_cursor
        if not cursor:
            return


def _grouped(dataset_id: str, rows: list[Record]) -> list[Alert]:
    """Rows grouped into alerts by (sender, identifier, sent), info blocks in order."""
    groups: dict[tuple[str, str, str], list[Record]] = {}
    for row in sorted(rows, key=lambda r: int(r.get("info_index") or 0)):
        groups.setdefault((row["sender"], row["identifier"], str(row["sent"])), []).append(row)
    return [Alert(dataset_id, group) for group in groups.values()]


def _deduplicated(alerts: list[Alert]) -> list[Alert]:
    """One of each alert met in several datasets: the signed copy if there is one."""
    chosen: dict[tuple[str, str, datetime], Alert] = {}
    for alert in alerts:
        key = (alert.sender, alert.identifier, alert.sent)
        if key not in chosen or (alert.signed and not chosen[key].signed):
            chosen[key] = alert
    return list(chosen.values())


def _escaped(value: str) -> str:
    """A filter value taken whole (the records query splits values on commas)."""
    return value.replace(",", "\\,")
