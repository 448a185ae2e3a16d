"""The lease that lets one bridge per database publish, while the others stand by.

On PostgreSQL it is a session-level advisory lock held by the bridge's own connection: it goes
when that connection goes (the process dies, the server restarts), and a standby takes it. Its
key is derived from the schema, so hubs sharing a server in separate schemas do not contend. On
SQLite it is an exclusive `flock` on a file beside the database, released by the kernel when the
process ends; an in-memory database is one process's by nature.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Connection

log = logging.getLogger(__name__)

_KEY = "hashtextextended('hub.mqtt-bridge:' || current_schema(), 0)"


class Lease:
    """The right to publish, taken on one connection and given back before it is closed."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._postgres = connection.dialect.name == "postgresql"
        self._file: int | None = None
        self.held = False

    def take(self) -> bool:
        """Try once, without waiting; True when this bridge now holds the lease."""
        if self._postgres:
            taken = self.connection.execute(sa.text(f"SELECT pg_try_advisory_lock({_KEY})"))
            self.held = bool(taken.scalar_one())
            self.connection.commit()  # the lock is the session's: no transaction left open
            return self.held
        path = _lock_file(self.connection)
        if path is None:
            self.held = True
            return True
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._file = descriptor
        self.held = True
        return True

    def give_back(self) -> None:
        """Release the lease (a broken connection has released it already) and the connection."""
        try:
            if self._postgres and self.held and not self.connection.invalidated:
                self.connection.rollback()
                self.connection.execute(sa.text(f"SELECT pg_advisory_unlock({_KEY})"))
                self.connection.commit()
        except sa.exc.SQLAlchemyError:
            # The server dropped the session, and the lock with it; never pool a session that
            # might still hold it.
            self.connection.invalidate()
        finally:
            if self._file is not None:
                fcntl.flock(self._file, fcntl.LOCK_UN)
                os.close(self._file)
                self._file = None
            self.held = False
            self.connection.close()


def _lock_file(connection: Connection) -> Path | None:
    """The lock file of a SQLite database file, or None for an in-memory one."""
    database = connection.engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + ".mqtt-bridge.lock")
