"""`hub db backup`: a consistent copy of the embedded store while another connection writes,
WAL included, that opens and verifies on its own; PostgreSQL is sent to pg_dump."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub import audit
from hub.cli import app
from hub.db import is_sqlite, make_engine
from tests.test_audit import entry

runner = CliRunner()


def test_a_backup_while_another_connection_writes_holds_a_whole_verified_log(engine, tmp_path):
    if not is_sqlite(engine):
        pytest.skip("SQLite's backup API")
    for n in range(20):
        audit.append(engine, entry(n))
    wal = Path(f"{engine.url.database}-wal")
    assert wal.stat().st_size > 0  # committed entries a plain copy of hub.db would miss
    writer = make_engine(str(engine.url))  # another connection (pool) appending meanwhile
    done = threading.Event()

    def write() -> None:
        n = 100
        while not done.is_set() and n < 2000:
            audit.append(writer, entry(n))
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        target = tmp_path / "copy" / "hub-backup.db"
        target.parent.mkdir()
        result = runner.invoke(app, ["db", "backup", str(target)])
    finally:
        done.set()
        thread.join()
        writer.dispose()
    assert result.exit_code == 0, result.output
    assert "backed up to" in result.stdout
    assert not Path(f"{target}-wal").exists() and target.stat().st_mode & 0o077 == 0
    with closing(sqlite3.connect(target)) as copy:
        count = copy.execute("SELECT count(*) FROM accessevent").fetchone()[0]
    assert count >= 20 and f"holds {count} entries" in result.stdout
    copied = make_engine(f"sqlite:///{target}")
    try:
        checked = audit.verify(copied)
    finally:
        copied.dispose()
    assert checked.intact and checked.checked == count


def test_a_backup_never_overwrites_a_file(engine, tmp_path):
    if not is_sqlite(engine):
        pytest.skip("SQLite's backup API")
    target = tmp_path / "kept.db"
    target.write_text("an earlier backup")
    result = runner.invoke(app, ["db", "backup", str(target)])
    assert result.exit_code == 2 and "already exists" in result.output
    assert target.read_text() == "an earlier backup"


def test_a_postgresql_store_is_sent_to_pg_dump(engine, tmp_path):
    if is_sqlite(engine):
        pytest.skip("PostgreSQL only")
    result = runner.invoke(app, ["db", "backup", str(tmp_path / "x.db")])
    assert result.exit_code == 2 and "pg_dump" in result.output
    assert not (tmp_path / "x.db").exists()
