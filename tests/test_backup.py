"""`hub db backup`: a consistent copy of the embedded store while another connection writes,
WAL included, that opens and verifies on its own; PostgreSQL is sent to pg_dump."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
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


def damaged_store(path: Path) -> Path:
    """A SQLite file whose middle pages were overwritten, as a failing disk leaves one."""
    with closing(sqlite3.connect(path)) as store:
        store.execute("CREATE TABLE reading (id INTEGER PRIMARY KEY, note TEXT)")
        store.executemany("INSERT INTO reading (note) VALUES (?)", [("x" * 200,)] * 2000)
        store.commit()
    with path.open("r+b") as raw:
        raw.seek(40 * 4096)
        raw.write(b"\xa5" * (8 * 4096))
    return path


def test_a_damaged_live_store_is_named_and_leaves_nothing_at_the_target(tmp_path):
    from hub.backup import BackupError, backup

    store = make_engine(f"sqlite:///{damaged_store(tmp_path / 'hub.db')}")
    (tmp_path / "backups").mkdir()
    target = tmp_path / "backups" / "bk.db"
    try:
        with pytest.raises(BackupError, match="the live store .*hub.db is damaged"):
            backup(store, target)
    finally:
        store.dispose()
    assert list((tmp_path / "backups").iterdir()) == []


def test_a_backup_that_cannot_be_written_leaves_nothing_and_says_so_in_one_line(engine, tmp_path):
    if not is_sqlite(engine):
        pytest.skip("SQLite's backup API")
    for n in range(200):
        audit.append(engine, entry(n))
    (tmp_path / "full").mkdir()
    target = tmp_path / "full" / "bk.db"
    full_disk = (  # a copy that cannot grow past 64 KB, as on a full disk
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); "
        "from hub.cli import app; sys.argv[0] = 'hub'; app()"
    )
    result = subprocess.run(
        [sys.executable, "-c", full_disk, "db", "backup", str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "HUB_DATABASE_URL": str(engine.url), "COLUMNS": "200"},
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: the copy to {target} failed"), lines
    assert list((tmp_path / "full").iterdir()) == []
