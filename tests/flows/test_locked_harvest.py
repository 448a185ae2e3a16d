"""`hub harvest` meeting another writer's SQLite lock: one failed source, the others go on."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from hub.cli import app
from hub.config import get_settings
from hub.db import get_engine, is_sqlite, reset_engines
from hub.models import HarvestRun
from tests.test_faults import Releaser, source_file

pytestmark = pytest.mark.flows


def test_a_locked_source_fails_in_one_line_the_next_is_harvested_and_the_exit_is_1(
    engine, tmp_path, samples, monkeypatch
):
    if not is_sqlite(engine):
        pytest.skip("SQLite's database-wide write lock only")
    monkeypatch.setenv("HUB_SQLITE_BUSY_SECONDS", "0.5")
    get_settings.cache_clear()
    reset_engines()
    engine = get_engine()
    locked, after = (source_file(tmp_path, samples, name) for name in ("locked-out", "after-it"))
    holder = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    releaser = Releaser(holder)
    logging.getLogger("pipelines.harvesting").addHandler(releaser)
    try:
        result = CliRunner().invoke(app, ["harvest", str(locked), str(after)])
    finally:
        logging.getLogger("pipelines.harvesting").removeHandler(releaser)
        holder.close()
    assert result.exit_code == 1, result.output
    assert "the database was locked by another writer for" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) < 40
    with Session(engine) as session:
        status = {r.dataset_id: r.status for r in session.exec(select(HarvestRun))}
    assert status == {"locked-out": "failed", "after-it": "succeeded"}


def test_the_demo_harvests_a_locked_out_source_again_once_the_others_are_done(
    engine, tmp_path, samples, monkeypatch, capsys
):
    """`hub demo` is patient: a source that waited out another writer's lock gets a second turn."""
    if not is_sqlite(engine):
        pytest.skip("SQLite's database-wide write lock only")
    from hub.cli import _harvest
    from pipelines.orchestration import Orchestration

    monkeypatch.setenv("HUB_SQLITE_BUSY_SECONDS", "0.5")
    get_settings.cache_clear()
    reset_engines()
    engine = get_engine()
    locked = source_file(tmp_path, samples, "locked-out")
    holder = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    releaser = Releaser(holder)  # the long writer finishes once the source has given up
    logging.getLogger("pipelines.harvesting").addHandler(releaser)
    try:
        failures = _harvest([str(locked)], Orchestration(None, "a test"), live=False, patient=True)
    finally:
        logging.getLogger("pipelines.harvesting").removeHandler(releaser)
        holder.close()
    assert failures == 0
    # the first try's warning says "failed": the console says it is tried again
    assert "Harvesting again, now that the others are done: locked-out" in capsys.readouterr().err
    with Session(engine) as session:
        runs = [
            (r.dataset_id, r.status)
            for r in session.exec(select(HarvestRun).order_by(HarvestRun.id))
        ]
    assert runs == [("locked-out", "failed"), ("locked-out", "succeeded")]


def test_a_cursor_locked_out_after_publication_leaves_the_harvest_published(
    engine, tmp_path, samples, monkeypatch, caplog
):
    """The batch is in: a lock that outlasts the cursor's write costs a re-read next time, not
    a broken harvest with a traceback."""
    from hub.db import DatabaseLocked
    from hub.models import SourceCursor
    from pipelines import harvesting
    from pipelines.orchestration import harvest_ref

    def locked_out(*_args, **_kwargs):
        raise DatabaseLocked(61)

    monkeypatch.setattr(harvesting, "save_cursor", locked_out)
    source = source_file(tmp_path, samples, "cursor-locked")
    with caplog.at_level(logging.WARNING):
        outcome = harvest_ref(str(source))
    assert outcome.status == "succeeded" and outcome.published > 0
    assert "cursor-locked: published; its cursor stays where it was" in caplog.text
    assert "broke" not in caplog.text and "Traceback" not in caplog.text
    with Session(engine) as session:
        assert session.get(SourceCursor, "cursor-locked") is None
