"""Readiness: whether this server can serve, for a load balancer or an orchestrator's probe.

`/healthz` only says the process answers (liveness: restart it when it does not). A hub that
answers can still be unable to serve: a full disk refuses every access-log entry, so every
non-open read; a corrupt SQLite file fails reads with 500; a Redis gone leaves other replicas'
feeds to polling. `/readyz` (hub.api.health) names each check, so on-call sees which one failed.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from hub.bus import RedisBus, get_bus
from hub.db import is_sqlite
from hub.models import AccessEvent, utcnow
from hub.redaction import without_folders

log = logging.getLogger(__name__)

OK = "ok"
# Under this, the next access-log entry (a WAL frame of a few pages) or batch may not fit.
MIN_FREE_BYTES = 1024 * 1024
CHECKING = "checking"  # the start's integrity check has not ended yet
# The store's integrity as checked at this process's start, by database URL.
_integrity: dict[str, str] = {}
_lock = threading.Lock()


def check_integrity(engine: Engine) -> str:
    """Run SQLite's `PRAGMA quick_check` on the store (PostgreSQL checks its own pages); keep
    and return its verdict, logged as an error when the file is damaged."""
    key = str(engine.url)
    if not is_sqlite(engine):
        verdict = OK
    else:
        with _lock:
            _integrity[key] = CHECKING
        try:
            with engine.connect() as connection:
                found = [row[0] for row in connection.exec_driver_sql("PRAGMA quick_check")]
            verdict = OK if found == [OK] else "; ".join(str(f) for f in found[:5])
        except sa.exc.SQLAlchemyError as exc:  # "file is not a database", "malformed"
            verdict = _first_line(exc)
        if verdict != OK:
            log.error(
                "the SQLite store failed its integrity check (PRAGMA quick_check): %s; restore "
                "it from a backup (hub db restore)",
                verdict,
            )
    with _lock:
        _integrity[key] = verdict
    return verdict


def checks(engine: Engine) -> dict[str, str]:
    """Each check by name, `ok` or what is wrong."""
    found = {"store": _store_writes(engine)}
    if is_sqlite(engine):
        with _lock:
            found["integrity"] = _integrity.get(str(engine.url), "not checked since the start")
    bus = get_bus()
    if isinstance(bus, RedisBus):  # HUB_BUS_URL set: other processes' events come through it
        try:
            bus.ping()
            found["bus"] = OK
        except Exception as exc:  # noqa: BLE001 — any failure of the client is a failed check
            found["bus"] = f"Redis does not answer: {_first_line(exc)}"
    return found


def _store_writes(engine: Engine) -> str:
    """Whether the store answers and takes what reads of non-open data need: an entry of the
    access log (inserted, then rolled back: the log is append-only), and on SQLite room on its
    disk, since its writes reach the disk only as they commit."""
    table = AccessEvent.__table__  # type: ignore[attr-defined]
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.execute(
                sa.insert(table).values(
                    id=-1 - secrets.randbelow(2**31 - 1), at=utcnow(), actor_id="readiness",
                    dataset_id="", outcome="probe", scope="none",
                    prev_hash=f"probe-{secrets.token_hex(16)}", hash="",
                )
            )  # fmt: skip
            transaction.rollback()
    except sa.exc.SQLAlchemyError as exc:
        return _first_line(exc)
    if is_sqlite(engine) and engine.url.database not in (None, "", ":memory:"):
        folder = Path(engine.url.database).resolve().parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            return _first_line(exc)
        if free < MIN_FREE_BYTES:
            return f"database or disk is full: {free:,} bytes free where the store is"
    return OK


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return without_folders(text.splitlines()[0] if text else type(exc).__name__)
