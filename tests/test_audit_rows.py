"""An entry's `rows` (everyone's) is chained through a salted commitment that a subject can hash
without learning it; `hub audit verify` checks rows and nonce against it; entries written before
the commitment (migration 0021) chain `rows` itself and still verify."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from test_audit import entry, migrated_to, runner, tamper, write_as_before

from hub import audit
from hub.cli import app
from hub.models import AccessEvent


def test_the_hash_covers_a_salted_commitment_to_the_rows_not_the_rows(engine):
    first, second = (audit.append(engine, entry(18)) for _ in range(2))
    with Session(engine) as session:
        events = [session.get(AccessEvent, w.id) for w in (first, second)]
    one, two = (e.model_dump() for e in events if e is not None)
    assert one["rows_commit"] == audit.rows_commitment(one["rows_nonce"], 18)
    assert len(one["rows_nonce"]) == 32 and one["rows_nonce"] != two["rows_nonce"]
    # the same count under another nonce: nobody matches entries by their commitment
    assert one["rows_commit"] != two["rows_commit"]
    # whoever is not shown the rows (nor the nonce) still recomputes the hash
    assert audit.fingerprint({**one, "rows": None, "rows_nonce": ""}) == first.hash
    assert audit.verify(engine).intact


@pytest.mark.parametrize(
    "change",
    [
        "rows = 17",
        "rows = NULL",
        "rows_nonce = '" + "0" * 32 + "'",
        "rows_commit = '" + "f" * 64 + "'",
        "rows_commit = '', rows_nonce = ''",  # made to look like an entry from before 0021
    ],
)
def test_verify_reports_changed_rows_nonce_or_commitment_as_an_altered_entry(engine, change):
    for n in (5, 18, 7):
        audit.append(engine, entry(n))
    tamper(engine, f"UPDATE accessevent SET {change} WHERE id = 2")
    result = audit.verify(engine)
    assert result.broken_at == 2 and "entry 2 was altered" in result.problem
    cli = runner.invoke(app, ["audit", "verify"])
    assert cli.exit_code == 1 and "BROKEN at entry 2" in cli.stdout


def test_the_migration_keeps_entries_written_before_it_verifiable(database_url):
    from hub.db import upgrade

    engine = migrated_to(database_url, "0020")
    write_as_before(engine, [entry(number * 6) for number in (1, 2, 3)])  # `rows` chained
    upgrade(engine)
    audit._heads.pop(engine.url, None)  # this process wrote behind the appender's back
    assert audit.verify(engine, anchored=False).intact
    appended = audit.append(engine, entry(24))
    with Session(engine) as session:
        events = session.exec(select(AccessEvent).order_by(AccessEvent.id)).all()
    assert [(e.rows, e.rows_nonce, e.rows_commit) for e in events[:3]] == [
        (6, "", ""),
        (12, "", ""),
        (18, "", ""),
    ]
    assert events[3].id == appended.id and events[3].rows_commit
    result = audit.verify(engine, anchored=False)
    assert result.intact and result.checked == 4
    # an old entry's rows are still held by its hash
    tamper(engine, "UPDATE accessevent SET rows = 7 WHERE id = 2")
    assert audit.verify(engine, anchored=False).broken_at == 2
    engine.dispose()
