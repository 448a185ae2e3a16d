"""A consistent copy of the embedded store while the hub serves (SQLite's online backup API).

Copying `hub.db` with `cp` misses what is committed but still in `hub.db-wal`; SQLite's backup
API copies the database as one transaction sees it, WAL included, without stopping writers.
PostgreSQL has its own tools (pg_dump), which the hub does not wrap.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import Engine

from hub.db import is_sqlite
from hub.keys import private_file


class BackupError(RuntimeError):
    """A backup the hub cannot make (a PostgreSQL store, an existing target)."""


PG_DUMP = (
    "the store is PostgreSQL: back it up with its own tools, e.g. "
    '`pg_dump --format=custom --file=hub.dump "$HUB_DATABASE_URL"` (restore with pg_restore); '
    "`hub db backup` copies the embedded SQLite store only"
)


def backup(engine: Engine, target: Path) -> Path:
    """Copy the SQLite store to `target` (a new file, mode 0600), consistent as of one instant."""
    if not is_sqlite(engine):
        raise BackupError(PG_DUMP)
    if target.exists() and target.stat().st_size:
        raise BackupError(f"{target} already exists: the backup never overwrites a file")
    private_file(target)  # records may be restricted or personal: readable by the hub's user only
    with (
        closing(sqlite3.connect(str(engine.url.database))) as source,
        closing(sqlite3.connect(str(target))) as copy,
    ):
        # In one step: a step-by-step copy restarts whenever another connection writes, and
        # under WAL one read transaction does not block the writers meanwhile.
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        checked = [row[0] for row in copy.execute("PRAGMA quick_check").fetchall()]
    if checked != ["ok"]:  # a copy that would not open whole is no backup
        raise BackupError(f"the copy {target} fails SQLite's check: {'; '.join(checked[:3])}")
    return target
