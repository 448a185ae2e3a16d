"""`hub audit reanchor`: after a restore or a key change the kept head is replaced on purpose,
once the chain itself holds; never over a tampered chain."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest
from typer.testing import CliRunner

from hub import audit, auditanchor
from hub.backup import backup
from hub.cli import app
from hub.config import get_settings
from tests.test_audit import entry
from tests.test_audit_seal import hide_denial, rewrite

runner = CliRunner()


def restore(engine, copy) -> None:
    """Put a backup in place of the store, as the README says: hub stopped, no -wal beside it."""
    engine.dispose()
    with (
        closing(sqlite3.connect(str(copy))) as source,
        closing(sqlite3.connect(str(engine.url.database))) as target,
    ):
        source.backup(target)
    audit._heads.clear()  # a hub started afresh reads the head from the table


def test_after_a_restore_the_head_is_replaced_once_confirmed(engine, tmp_path):
    if engine.dialect.name != "sqlite":
        pytest.skip("hub db backup copies the embedded store only")
    for n in range(3):
        audit.append(engine, entry(n))
    backup(engine, tmp_path / "hub-backup.db")
    for n in range(3, 6):
        audit.append(engine, entry(n))
    restore(engine, tmp_path / "hub-backup.db")
    refused = runner.invoke(app, ["audit", "verify"])
    assert refused.exit_code == 1 and "kept in" in refused.stdout and "entry 6" in refused.stdout
    declined = runner.invoke(app, ["audit", "reanchor"], input="n\n")
    assert declined.exit_code == 1 and "nothing changed" in declined.stdout
    assert "kept head: entry 6:" in declined.stdout and "chain end: entry 3:" in declined.stdout
    assert auditanchor.kept(engine).id == 6
    done = runner.invoke(app, ["audit", "reanchor"], input="y\n")
    assert done.exit_code == 0, done.stdout
    assert auditanchor.kept(engine).id == 3
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
    folder = auditanchor.path_of(engine).parent
    (aside,) = folder.glob("*.replaced-*.json")  # the head from before the restore, kept
    assert json.loads(aside.read_text())["id"] == 6 and str(aside) in done.stdout
    trail = [json.loads(line) for line in (folder / "reanchored.log").read_text().splitlines()]
    assert [(t["head"], t["replaced"]) for t in trail] == [(3, str(aside))]
    audit.append(engine, entry(9))  # and the head moves on as before
    assert auditanchor.kept(engine).id == 4
    again = runner.invoke(app, ["audit", "reanchor", "--yes"])
    assert again.exit_code == 0 and "nothing to re-anchor" in again.stdout


def test_after_a_key_change_the_former_seals_are_accepted_only_when_said(engine, monkeypatch):
    for n in range(3):
        audit.append(engine, entry(n))
    monkeypatch.setenv("HUB_SECRET_KEY", "a-new-key-for-this-hub-" + "x" * 20)
    get_settings.cache_clear()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 1
    unsaid = runner.invoke(app, ["audit", "reanchor", "--yes"])
    assert unsaid.exit_code == 1 and "NOT re-anchored" in unsaid.stdout
    assert "--new-key" in unsaid.stdout
    done = runner.invoke(app, ["audit", "reanchor", "--yes", "--new-key"])
    assert done.exit_code == 0, done.stdout
    assert "NOT sealed with this key" in done.stdout and "entries 1 to 3" in done.stdout
    assert auditanchor.kept(engine).keyed_from == 4
    for n in range(3, 5):  # entries sealed with the new key: checked with it
        audit.append(engine, entry(n))
    checked = runner.invoke(app, ["audit", "verify"])
    assert checked.exit_code == 0 and "intact: 5 entries" in checked.stdout
    assert "entries 1 to 3 carry a former key's seals" in checked.stdout
    rewrite(engine, hide_denial, keep_macs=True)  # an old entry edited, the chain recomputed
    assert not audit.verify(engine).intact


def test_a_tampered_chain_is_never_reanchored(engine):
    for n in range(6):
        audit.append(engine, entry(n))
    kept = auditanchor.path_of(engine).read_text()
    rewrite(engine, hide_denial, keep_macs=True)
    for flags in ([], ["--new-key"]):
        refused = runner.invoke(app, ["audit", "reanchor", "--yes", *flags])
        assert refused.exit_code == 1 and "NOT re-anchored: entry 2" in refused.stdout
    assert auditanchor.path_of(engine).read_text() == kept
    assert not list(auditanchor.path_of(engine).parent.glob("*.replaced-*"))
