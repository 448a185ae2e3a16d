"""The access log: append-only, each entry chained to the one before by its hash.

Entry N stores the hash of entry N-1 and its own hash over its fields and that link, so editing,
removing or inserting an entry breaks the chain from there on; `verify` names the first break.
The database also refuses UPDATE and DELETE on the table (triggers in migration 0002).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session, col, select

from hub.models import AccessEvent, as_utc, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64
CHAINED = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "organization",
    "dataset_id",
    "producer",
    "outcome",
    "scope",
    "purpose",
    "rows",
    "route",
    "reason",
    "prev_hash",
)
ATTEMPTS = 50
UNAVAILABLE = "the access log cannot be written just now, so the read was not served: retry later"
_appending = threading.Lock()  # one appender per process; the unique prev_hash orders processes


class AuditUnavailable(RuntimeError):
    """The access log could not be written: the read it would record must not happen."""


@dataclass(frozen=True)
class Entry:
    """What one read (or refused read) leaves in the log."""

    actor_id: str
    actor_role: str
    organization: str
    dataset_id: str
    producer: str
    outcome: str  # granted | denied
    scope: str
    route: str
    reason: str = ""
    purpose: str = ""
    rows: int | None = None


@dataclass(frozen=True)
class Written:
    """Where an entry landed in the chain."""

    id: int
    hash: str
    prev_hash: str


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify`: how many entries hold, and the first that does not."""

    checked: int
    head: str
    broken_at: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        """Whether every entry is where and as it was written."""
        return self.broken_at is None


def fingerprint(fields: dict[str, Any]) -> str:
    """The SHA-256 of an entry's chained fields in a canonical JSON form."""
    values = {name: fields[name] for name in CHAINED}
    values["at"] = as_utc(values["at"]).isoformat(timespec="microseconds")
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def append(engine: Engine, entry: Entry) -> Written:
    """Add an entry after the current head; AuditUnavailable if that keeps failing."""
    with _appending:
        for attempt in range(ATTEMPTS):
            try:
                return _append_once(engine, entry)
            except (IntegrityError, OperationalError) as exc:
                if not _contended(exc):
                    log.exception("access log unavailable")
                    raise AuditUnavailable(UNAVAILABLE) from exc
                # Another process appended after the head we read (or held the write lock).
                log.debug("access log append retried (%s)", type(exc).__name__)
                time.sleep(min(0.002 * (attempt + 1), 0.05))
            except SQLAlchemyError as exc:
                log.exception("access log unavailable")
                raise AuditUnavailable(UNAVAILABLE) from exc
    log.error("access log append gave up after %d attempts", ATTEMPTS)
    raise AuditUnavailable(UNAVAILABLE)


def _contended(exc: Exception) -> bool:
    """Whether an append lost a race (another head, a held lock) rather than hit a fault."""
    text = str(exc).lower()
    return isinstance(exc, IntegrityError) or "locked" in text or "busy" in text


def _append_once(engine: Engine, entry: Entry) -> Written:
    table = AccessEvent.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        # The head this process wrote last saves a read; if another process appended since,
        # the insert collides on the id or prev_hash, and the retry reads the real head.
        head = (
            _heads.get(engine.url)
            or connection.execute(
                sa.select(table.c.id, table.c.hash).order_by(table.c.id.desc()).limit(1)
            ).first()
        )
        fields: dict[str, Any] = {
            **entry.__dict__,
            "at": utcnow(),
            "id": head[0] + 1 if head else 1,
            "prev_hash": head[1] if head else GENESIS,
        }
        fields["hash"] = fingerprint(fields)
        try:
            # Parameters apart from the statement: it is compiled once, not once per read.
            connection.execute(_INSERT, fields)
        except Exception:
            _heads.pop(engine.url, None)
            raise
    _heads[engine.url] = (fields["id"], fields["hash"])
    return Written(fields["id"], fields["hash"], fields["prev_hash"])


_INSERT = sa.insert(AccessEvent.__table__)  # type: ignore[attr-defined]
_heads: dict[Any, tuple[int, str]] = {}


def verify(engine: Engine, batch: int = 5000) -> Verification:
    """Walk the chain from the first entry; report the first altered, missing or added one."""
    previous_id, previous_hash, checked = 0, GENESIS, 0
    for event in _walk(engine, batch):
        fields = event.model_dump()
        if event.id != previous_id + 1:
            return Verification(
                checked,
                previous_hash,
                previous_id + 1,
                f"entry {previous_id + 1} is missing (next is {event.id})",
            )
        if event.prev_hash != previous_hash:
            return Verification(
                checked,
                previous_hash,
                event.id,
                f"entry {event.id} does not follow entry {previous_id}: one of "
                "them was altered, removed or inserted",
            )
        if fingerprint(fields) != event.hash:
            return Verification(
                checked,
                previous_hash,
                event.id,
                f"entry {event.id} was altered after it was written",
            )
        previous_id, previous_hash, checked = event.id or 0, event.hash, checked + 1
    return Verification(checked, previous_hash)


def _walk(engine: Engine, batch: int) -> Iterator[AccessEvent]:
    after = 0
    while True:
        with Session(engine) as session:
            page = session.exec(
                select(AccessEvent)
                .where(col(AccessEvent.id) > after)
                .order_by(col(AccessEvent.id))
                .limit(batch)
            ).all()
        if not page:
            return
        yield from page
        after = page[-1].id or 0


def entries(
    session: Session,
    *,
    producers: set[str] | None = None,
    dataset: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[AccessEvent]:
    """Entries in id order, of some producers' datasets (None: all), filtered."""
    statement = select(AccessEvent).where(col(AccessEvent.id) > after)
    if producers is not None:
        statement = statement.where(col(AccessEvent.producer).in_(sorted(producers)))
    if dataset:
        statement = statement.where(AccessEvent.dataset_id == dataset)
    if start is not None:
        statement = statement.where(col(AccessEvent.at) >= start)
    if end is not None:
        statement = statement.where(col(AccessEvent.at) < end)
    return list(session.exec(statement.order_by(col(AccessEvent.id)).limit(limit)).all())
