"""The access log: append-only, hash-chained, and `hub audit verify` finds the first break."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from hub import audit
from hub.cli import app
from hub.db import is_sqlite
from hub.models import as_utc

runner = CliRunner()


def entry(n: int, dataset: str = "demo-restricted") -> audit.Entry:
    return audit.Entry(
        actor_id=f"t{n:04d}",
        actor_role="agency",
        organization="metropole",
        dataset_id=dataset,
        producer="atmo-demo",
        outcome="granted",
        scope="all",
        route="GET /api/v1/datasets/demo-restricted/records",
        rows=n,
        purpose="crisis planning",
        reason="member of metropole",
    )


def tamper(engine, statement: str) -> None:
    """What an attacker with write access to the database does: lift the guard, then edit."""
    with engine.begin() as connection:
        if is_sqlite(engine):
            connection.exec_driver_sql("DROP TRIGGER accessevent_no_update")
            connection.exec_driver_sql("DROP TRIGGER accessevent_no_delete")
        else:
            connection.exec_driver_sql("ALTER TABLE accessevent DISABLE TRIGGER USER")
        connection.exec_driver_sql(statement)


def migrated_to(database_url: str, revision: str) -> Engine:
    """A fresh database that the migrations brought up to `revision` only."""
    from alembic import command
    from alembic.config import Config

    from hub.db import MIGRATIONS, make_engine

    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return engine


def write_as_before(engine: Engine, entries: list[audit.Entry]) -> None:
    """Entries naming no subject as an older hub chained them: fields of its table only, unsealed,
    `rows` itself chained."""
    with engine.begin() as connection:
        head = audit.GENESIS
        for number, written in enumerate(entries, start=1):
            fields = {
                **written.__dict__,
                "id": number,
                "at": as_utc(datetime(2026, 12, 1, 12, number, tzinfo=UTC)),
                "prev_hash": head,
                "subjects": "",
                "subject_list": "",
            }
            for unsaved in ("every_subject", "counts"):
                del fields[unsaved]
            fields["hash"] = head = audit.fingerprint(fields)
            connection.execute(sa.insert(sa.table("accessevent", *map(sa.column, fields))), fields)


def test_entries_chain_each_to_the_one_before(engine):
    events = [audit.append(engine, entry(n)) for n in range(5)]
    assert [e.id for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    result = audit.verify(engine)
    assert result.intact and result.checked == 5 and result.head == events[-1].hash


def test_the_database_refuses_edits_and_deletions(engine):
    audit.append(engine, entry(1))
    for statement in ("UPDATE accessevent SET rows = 0", "DELETE FROM accessevent"):
        with pytest.raises(DatabaseError), engine.begin() as connection:
            connection.exec_driver_sql(statement)
    assert audit.verify(engine).intact


@pytest.mark.parametrize(
    "statement,broken,words",
    [
        ("UPDATE accessevent SET rows = 999999 WHERE id = 3", 3, "altered"),
        ("UPDATE accessevent SET actor_id = 'someone-else' WHERE id = 2", 2, "altered"),
        ("DELETE FROM accessevent WHERE id = 3", 3, "missing"),
        ("DELETE FROM accessevent WHERE id = 1", 1, "missing"),
    ],
)
def test_verify_names_the_first_altered_or_missing_entry(engine, statement, broken, words):
    for n in range(5):
        audit.append(engine, entry(n))
    tamper(engine, statement)
    result = audit.verify(engine)
    assert not result.intact and result.broken_at == broken and words in result.problem


def test_a_rewritten_entry_with_a_fresh_hash_breaks_the_link_after_it(engine):
    for n in range(4):
        audit.append(engine, entry(n))
    forged = {**entry(9).__dict__, "id": 2, "at": audit.utcnow(), "prev_hash": ""}
    with engine.connect() as connection:
        forged["prev_hash"] = connection.execute(
            sa.text("SELECT prev_hash FROM accessevent WHERE id = 2")
        ).scalar_one()
    new_hash = audit.fingerprint(forged)
    tamper(
        engine,
        f"UPDATE accessevent SET actor_id = 't0009', rows = 9, hash = '{new_hash}', "
        f"at = (SELECT at FROM accessevent WHERE id = 2) WHERE id = 2",
    )
    result = audit.verify(engine)
    assert result.broken_at in (2, 3) and not result.intact


def test_concurrent_readers_keep_one_unbroken_chain(engine):
    def write(worker: int) -> None:
        for n in range(10):
            audit.append(engine, entry(worker * 100 + n))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = audit.verify(engine)
    assert result.intact and result.checked == 40


def test_hub_audit_verify_exits_1_on_a_broken_chain(engine):
    for n in range(3):
        audit.append(engine, entry(n))
    intact = runner.invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0 and "intact: 3 entries" in intact.stdout
    tamper(engine, "UPDATE accessevent SET reason = 'nothing to see' WHERE id = 2")
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1 and "BROKEN at entry 2" in broken.stdout


def test_two_processes_appending_at_once_keep_one_chain(engine, database_url):
    import os
    import subprocess
    import sys

    script = (
        "import sys\nfrom hub import audit\nfrom hub.db import get_engine\n"
        "for n in range(25):\n"
        "    audit.append(get_engine(), audit.Entry('p'+sys.argv[1], 'agency', 'm', 'd', "
        "'atmo-demo', 'granted', 'all', 'GET /x', rows=n))\n"
    )
    env = {**os.environ, "HUB_DATABASE_URL": database_url}
    workers = [subprocess.Popen([sys.executable, "-c", script, str(w)], env=env) for w in range(3)]
    assert [w.wait(timeout=300) for w in workers] == [0, 0, 0]
    result = audit.verify(engine)
    assert result.intact and result.checked == 75
