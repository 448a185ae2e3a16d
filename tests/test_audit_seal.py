"""The access log against someone who can write the database: entries sealed with the hub's key,
the head kept outside the database, and `hub audit verify` never calling an empty log intact."""

from __future__ import annotations

import json

from sqlmodel import Session, col, select
from typer.testing import CliRunner

from hub import audit, auditanchor
from hub.cli import app
from hub.models import AccessEvent
from tests.test_audit import entry, migrated_to, tamper, write_as_before

runner = CliRunner()


def rewrite(engine, edit, *, keep_macs: bool = False) -> None:
    """Edit entries, then recompute every hash after them as the report's attacker did (the
    unkeyed fingerprint is public); the seals cannot be recomputed without the key."""
    tamper(engine, "SELECT 1")
    with Session(engine) as session:
        previous = audit.GENESIS
        for event in session.exec(select(AccessEvent).order_by(col(AccessEvent.id))).all():
            edit(event)
            event.prev_hash = previous
            event.hash = previous = audit.fingerprint(event.model_dump())
            if not keep_macs:
                event.mac = ""
            session.add(event)
        session.commit()


def hide_denial(event: AccessEvent) -> None:
    if event.id == 2:
        event.outcome, event.reason = "granted", "nothing to see"


def test_deleting_the_last_entries_is_found_through_the_kept_head(engine):
    for n in range(6):
        audit.append(engine, entry(n))
    tamper(engine, "DELETE FROM accessevent WHERE id >= 5")
    result = audit.verify(engine)
    assert not result.intact and result.broken_at == 5
    assert "entries 5 to 6 were removed" in result.problem
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1 and "BROKEN at entry 5" in broken.stdout


def test_the_kept_head_does_not_move_on_past_a_cut(engine):
    for n in range(6):
        audit.append(engine, entry(n))
    tamper(engine, "DELETE FROM accessevent WHERE id >= 4")
    audit._heads.clear()  # a hub started afresh reads the head from the table
    for n in range(5):  # and goes on logging: ids 4 to 8 again
        audit.append(engine, entry(10 + n))
    result = audit.verify(engine)
    assert not result.intact and result.broken_at == 6 and "rewritten" in result.problem


def test_a_chain_recomputed_after_an_edit_fails_its_seals(engine):
    for n in range(6):
        audit.append(engine, entry(n))
    rewrite(engine, hide_denial, keep_macs=True)
    result = audit.verify(engine)
    assert not result.intact and result.broken_at == 2 and "seal" in result.problem


def test_a_recomputed_chain_without_seals_is_found_unsealed(engine):
    for n in range(6):
        audit.append(engine, entry(n))
    rewrite(engine, hide_denial)
    result = audit.verify(engine)
    assert not result.intact and result.broken_at == 1 and "not sealed" in result.problem


def test_an_edited_or_copied_kept_head_is_not_trusted(engine):
    for n in range(3):
        audit.append(engine, entry(n))
    path = auditanchor.path_of(engine)
    kept = json.loads(path.read_text())
    path.write_text(json.dumps({**kept, "id": 2}))
    result = audit.verify(engine)
    assert not result.intact and "seal" in result.problem
    shown = runner.invoke(app, ["audit", "verify"])
    assert shown.exit_code == 1 and "NOT VERIFIED" in shown.stdout


def test_an_empty_log_is_never_intact(engine):
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1 and "empty" in result.stdout and "intact" not in result.stdout


def test_a_mistyped_database_is_not_created(tmp_path, monkeypatch):
    typo = tmp_path / "typo.db"
    monkeypatch.setenv("HUB_DATABASE_URL", f"sqlite:///{typo}")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 2 and "no database at" in result.output and not typo.exists()


def test_a_head_recorded_elsewhere_is_checked(engine):
    for n in range(4):
        audit.append(engine, entry(n))
    printed = runner.invoke(app, ["audit", "verify"])
    assert printed.exit_code == 0
    head = printed.stdout.split("head ")[1].split()[0]
    assert head.startswith("4:")
    tamper(engine, "DELETE FROM accessevent WHERE id = 4")
    auditanchor.path_of(engine).unlink()  # even with the kept head gone
    again = runner.invoke(app, ["audit", "verify", "--head", head])
    assert again.exit_code == 1 and "the head you gave is entry 4" in again.stdout


def test_without_a_kept_head_verify_says_so_and_keeps_one(engine):
    for n in range(2):
        audit.append(engine, entry(n))
    auditanchor.path_of(engine).unlink()  # a restored backup, a new data folder
    first = runner.invoke(app, ["audit", "verify"])
    assert first.exit_code == 0 and "no head was kept" in first.stdout
    assert auditanchor.kept(engine).id == 2
    second = runner.invoke(app, ["audit", "verify"])
    assert second.exit_code == 0 and "(entry 2) is in it" in second.stdout


def test_entries_from_before_sealing_still_verify_and_are_pinned_by_the_first_seal(database_url):
    from hub.db import upgrade

    engine = migrated_to(database_url, "0018")
    write_as_before(engine, [entry(number) for number in range(1, 4)])  # unkeyed, no seal
    upgrade(engine)
    assert audit.verify(engine).sealed_from is None  # nothing sealed yet, and still intact
    for n in range(2):
        audit.append(engine, entry(n))
    result = audit.verify(engine)
    assert result.intact and result.checked == 5 and result.sealed_from == 4
    assert auditanchor.kept(engine).sealed_from == 4
    # an old entry rewritten, and the chain after it recomputed: the first seal no longer holds
    rewrite(engine, hide_denial, keep_macs=True)
    result = audit.verify(engine)
    assert not result.intact and result.broken_at == 4 and "seal" in result.problem
