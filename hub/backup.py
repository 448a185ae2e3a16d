"""A consistent copy of the embedded store while the hub serves (SQLite's online backup API).

Copying `hub.db` with `cp` misses what is committed but still in `hub.db-wal`; SQLite's backup
API copies the database as one transaction sees it, WAL included, without stopping writers.
The live store is checked first (a damaged one is no fault of the backup disk), the copy is
written under a temporary name and takes the target's name only once it passes SQLite's check:
a failed backup leaves nothing at the target. PostgreSQL has its own tools (pg_dump), which the
hub does not wrap.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import Engine

from hub.db import is_sqlite
from hub.keys import private_file


class BackupError(RuntimeError):
    """A backup the hub cannot make (a PostgreSQL store, an existing target, a damaged store, a
    failed write), and why."""


PG_DUMP = (
    "the store is PostgreSQL: back it up with its own tools, e.g. "
    '`(umask 077 && pg_dump --format=custom --file=hub.dump "$HUB_DATABASE_URL")` (a file only '
    "you can read; restore with pg_restore); `hub db backup` copies the embedded SQLite store only"
)


def backup(engine: Engine, target: Path) -> Path:
    """Copy the SQLite store to `target` (a new file, mode 0600), consistent as of one instant."""
    if not is_sqlite(engine):
        raise BackupError(PG_DUMP)
    if target.exists() and target.stat().st_size:
        raise BackupError(f"{target} already exists: the backup never overwrites a file")
    live = Path(str(engine.url.database))
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        with closing(sqlite3.connect(live)) as source:
            _check_live(source, live)
            _copy(source, partial)
        if target.exists() and target.stat().st_size:  # written meanwhile: still never overwrite
            raise BackupError(f"{target} already exists: the backup never overwrites a file")
        partial.replace(target)
    except sqlite3.Error as exc:
        raise BackupError(f"the copy to {target} failed: {_line(exc)}; nothing was kept") from exc
    finally:
        for leftover in (partial, *(Path(f"{partial}{end}") for end in ("-journal", "-wal"))):
            leftover.unlink(missing_ok=True)
    return target


def _check_live(source: sqlite3.Connection, live: Path) -> None:
    """Refuse to copy a live store that fails SQLite's check, saying it is the live one."""
    try:
        checked = [row[0] for row in source.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:  # too damaged to check at all
        checked = [_line(exc)]
    if checked != ["ok"]:
        raise BackupError(
            f"the live store {live} is damaged (SQLite's check: {'; '.join(checked[:3])}): "
            "no backup was made; restore it from an earlier backup"
        )


def _copy(source: sqlite3.Connection, partial: Path) -> None:
    """Write the copy to `partial` and check it (BackupError: the copy fails the check)."""
    private_file(partial)  # records may be restricted or personal: readable by the hub's user only
    with closing(sqlite3.connect(partial)) as copy:
        # In one step: a step-by-step copy restarts whenever another connection writes, and
        # under WAL one read transaction does not block the writers meanwhile.
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        checked = [row[0] for row in copy.execute("PRAGMA quick_check").fetchall()]
    if checked != ["ok"]:  # a copy that would not open whole is no backup (the live one passed)
        raise BackupError(
            f"the copy fails SQLite's check, though the live store passed it: "
            f"{'; '.join(checked[:3])}; check the backup disk; nothing was kept"
        )


def _line(exc: BaseException) -> str:
    """An error's first line."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]
