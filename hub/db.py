"""Engines and sessions: SQLite (WAL) by default, PostgreSQL through HUB_DATABASE_URL."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlmodel import Session

from hub import outage, searchindex, searchpostings
from hub.alerts.moments import instant
from hub.config import get_settings
from hub.crises import areas
from hub.keys import private_file, private_folder

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Point plain `postgresql://` URLs at the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine: Engine) -> bool:
    """Whether this engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def clock(connection: Connection) -> datetime:
    """The database's time now, in UTC: the one clock every writer shares (a process whose own
    clock runs ahead must not age what others wrote)."""
    if connection.dialect.name == "sqlite":
        query = "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"  # CURRENT_TIMESTAMP drops the ms
    else:
        query = "SELECT CURRENT_TIMESTAMP"
    moment = instant(connection.execute(text(query)).scalar())
    assert moment is not None  # noqa: S101 — a database always tells its time
    return moment


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys."""
    url = normalise_url(url)
    parsed = make_url(url)
    searchindex.install()  # every session writing the catalogue keeps its search rows in step
    if parsed.get_backend_name() != "sqlite":
        # A restarting server refuses at once; an unreachable one must not hang a request either:
        # both become a 503 (hub.api.outages) and pre-ping replaces the dead connections after.
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            pool_timeout=10,
            connect_args={"connect_timeout": 5},
        )
        # A connection handed out has passed its pre-ping: an outage logged as started ends.
        event.listen(engine, "checkout", _answers)
        return engine
    if (
        parsed.database
        and parsed.database != ":memory:"
        and not parsed.database.startswith("file:")
    ):
        # Records may be restricted or personal: the file (and the -wal/-shm files SQLite
        # creates with its mode) is readable by the hub's user only.
        database = Path(parsed.database)
        private_file(database)
        if database.parent.resolve() == get_settings().data_dir.resolve():
            private_folder(database.parent)
    busy = get_settings().sqlite_busy_seconds
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "before_cursor_execute", _note_start)
    event.listen(engine, "handle_error", _name_lock)
    return engine


def _answers(*_: object) -> None:
    outage.DATABASE.recovered()


MMAP_BYTES = 2**31 - 2**16  # SQLite's default ceiling, SQLITE_MAX_MMAP_SIZE


def _configure_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the API read while a harvest writes; NORMAL is durable enough under WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(get_settings().sqlite_busy_seconds * 1000)}")
    # Reads straight from the OS's page cache, shared by every connection and process, up to
    # SQLite's cap (2 GiB): a common term's postings are a megabyte, read in 0.5 ms mapped and
    # 1.8 ms through SQLite's own 2 MB cache at 100 000 datasets.
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.close()
    areas.install(dbapi_connection)  # the exact test of a crisis area (hub.reading)


class DatabaseLocked(Exception):
    """Another writer held SQLite's write lock for longer than this write could wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the database was locked by another writer for {seconds:.0f} s")
        self.seconds = seconds


def _note_start(
    connection,
    _cursor,
    _statement,
    _parameters,
    _context,  # type: ignore[no-untyped-def]
    _many,
) -> None:
    connection.info["hub_statement_started"] = time.monotonic()


def _name_lock(context: ExceptionContext) -> Exception | None:
    """Turn SQLite's "database is locked" (a page of SQL and parameters) into one clear line."""
    original = context.original_exception
    if not isinstance(original, sqlite3.OperationalError) or not str(original).startswith(
        ("database is locked", "database table is locked")
    ):
        return None
    connection = context.connection
    started = connection.info.get("hub_statement_started") if connection is not None else None
    return DatabaseLocked(time.monotonic() - started if started else 0.0)


def retry_locked(write: Callable[[], T], patience: float | None = None) -> T:
    """Run a short write, retrying while another writer holds SQLite's lock, up to `patience` s.

    The busy timeout already waits; the retries cover the lock errors SQLite returns at once
    (a reader's transaction turning writer after another writer committed).
    """
    patience = get_settings().sqlite_busy_seconds if patience is None else patience
    started, pause = time.monotonic(), 0.05
    while True:
        try:
            return write()
        except DatabaseLocked as locked:
            waited = time.monotonic() - started
            if waited >= patience:
                raise DatabaseLocked(waited) from locked
            time.sleep(min(pause, patience - waited))
            pause = min(pause * 2, 1.0)


_engines: dict[str, Engine] = {}


def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    url = get_settings().effective_database_url
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def reset_engines() -> None:
    """Dispose cached engines (tests, and after a settings change)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


_UPGRADE_LOCK = 1_102_027  # pg_advisory_xact_lock key of migrations


def upgrade(engine: Engine | None = None) -> None:
    """Bring the catalogue tables to the latest migration (Alembic)."""
    from alembic import command
    from alembic.config import Config

    engine = engine or get_engine()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas that start together on an empty database migrate one after the other.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        if searchindex.incomplete(connection):  # a catalogue from before the search index
            searchindex.rebuild(connection)
        elif searchindex.unposted(connection):  # an index from before its term postings
            searchpostings.build(connection)
    # After the migrations are committed: SQLite runs DDL outside the transaction, so a failure
    # here inside it would leave new tables behind a version that says they are not there.
    with engine.begin() as connection:
        build_missing_atoms(connection)
    log.info("database at the latest migration")


def build_missing_atoms(connection: Connection) -> None:
    """Build the aggregate atoms of personal datasets published before atoms were kept (or
    whose record table was replaced outside the gate), so no aggregate request builds them."""
    from sqlmodel import select

    from hub import atoms, catalogue, charters  # they need this module themselves
    from hub.models import Dataset

    session = Session(bind=connection)
    for dataset in session.exec(select(Dataset).where(Dataset.access == "personal")).all():
        terms = charters.personal_terms(dataset.charter_id, dataset.charter_version)
        try:
            resource = catalogue.resource_of(session, dataset.id)
        except catalogue.NotFound:
            continue
        layout = catalogue.layout_of(resource)
        fields = resource.schema_descriptor.get("fields", [])
        plan = atoms.plan_of(dataset.id, layout, fields, terms.subject_field) if terms else None
        if plan is not None and not atoms.is_built(connection, plan):
            log.info("%s: building its aggregate atoms", dataset.id)
            try:
                with connection.begin_nested():
                    atoms.refresh(connection, plan)
            except Exception:  # noqa: BLE001 — its first aggregate request builds them instead
                log.exception("%s: its aggregate atoms could not be built", dataset.id)
