"""Whose rows a logged read covered: `*`, or a Merkle root of pseudonyms that each subject checks
with a proof of their own leaf; entries from before subjects were logged hash as they did."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select
from test_audit import migrated_to, tamper

from hub import audit
from hub.models import AccessEvent, AccessSubject, as_utc
from hub.pseudonyms import pseudonym

SALT = "ab" * 32


def entry(subjects: tuple[str, ...] = (), every: bool = False) -> audit.Entry:
    return audit.Entry(
        actor_id="t0001",
        actor_role="service",
        organization="",
        dataset_id="curves",
        producer="grid",
        outcome="granted",
        scope="all" if every else "subjects",
        route="GET /api/v1/datasets/curves/records",
        purpose="advice",
        rows=12,
        subjects=subjects,
        every_subject=every,
    )


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 33])
def test_every_subject_proves_their_place_and_nobody_elses(size):
    names = [pseudonym("grid", f"meter-{n}") for n in range(size)]
    root = audit.subjects_root(SALT, names)
    for name in names:
        proof = audit.subjects_proof(SALT, names, name)
        assert len(proof) <= max(1, (size - 1).bit_length())
        assert audit.includes(root, SALT, name, proof)
        assert not audit.includes(root, "cd" * 32, name, proof)  # another entry's salt
    outsider = pseudonym("grid", "meter-x")
    assert not audit.includes(root, SALT, outsider, audit.subjects_proof(SALT, names, names[0]))
    with pytest.raises(ValueError):
        audit.subjects_proof(SALT, names, outsider)
    # the same subjects under another entry's salt give unrelated leaves and root
    assert audit.subjects_root("cd" * 32, names) != root


def test_reads_record_their_subjects_and_the_chain_holds(engine):
    alice, bob = pseudonym("grid", "a"), pseudonym("grid", "b")
    plain = audit.append(engine, audit.Entry(**{**entry().__dict__, "subjects": ()}))
    named = audit.append(engine, entry((bob, alice, alice)))
    everyone = audit.append(engine, entry(every=True))
    with Session(engine) as session:
        rows = {e.id: e for e in session.exec(select(AccessEvent)).all()}
        assert rows[plain.id].subjects == "" and rows[plain.id].subject_list == ""
        assert rows[named.id].subjects == audit.subjects_root(named.prev_hash, [alice, bob])
        assert audit.listed_subjects(rows[named.id]) == sorted([alice, bob])
        assert rows[everyone.id].subjects == audit.EVERY_SUBJECT
        assert [e.id for e in audit.covering(session, {"curves": {alice}})] == [
            named.id,
            everyone.id,
        ]
        assert [e.id for e in audit.covering(session, {"other": {alice}})] == []
        assert audit.covering(session, {}) == []
        assert audit.head(session) == (everyone.id, everyone.hash)
    assert audit.verify(engine).intact


def test_an_entry_without_subjects_hashes_as_before_they_were_logged(engine):
    written = audit.append(engine, entry())
    with Session(engine) as session:
        event = session.get(AccessEvent, written.id)
        assert event is not None
        fields = event.model_dump()
    # no `subjects` key; `rows` chained through its commitment (migration 0021)
    values = {name: fields[name] for name in audit.CHAINED if name != "rows"}
    values["rows_commit"] = audit.rows_commitment(fields["rows_nonce"], 12)
    values["at"] = as_utc(fields["at"]).isoformat(timespec="microseconds")
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == written.hash


def test_changing_whose_rows_a_read_covered_breaks_the_chain(engine):
    alice, bob = pseudonym("grid", "a"), pseudonym("grid", "b")
    audit.append(engine, entry((alice,)))
    audit.append(engine, entry((bob,)))
    tamper(engine, "UPDATE accessevent SET subjects = '*' WHERE id = 1")
    broken = audit.verify(engine)
    assert not broken.intact and broken.broken_at == 1


def test_a_subjects_reads_are_found_by_index_paged_both_ways_and_counted(engine):
    alice, bob = pseudonym("grid", "a"), pseudonym("grid", "b")
    kinds = [(alice,), (bob,), (alice, bob), (), "every", "other", "denied"]
    written = []
    for n in range(70):
        kind = kinds[n % len(kinds)]
        fields = {**entry().__dict__, "actor_id": f"t{n % 3:04d}"}
        if kind == "every":
            fields.update(scope="all", subjects=(), every_subject=True)
        elif kind == "other":
            fields.update(dataset_id="other", subjects=(alice,))
        elif kind == "denied":
            fields.update(outcome="denied", subjects=())
        else:
            fields.update(subjects=kind)
        written.append((kind, fields["actor_id"], audit.append(engine, audit.Entry(**fields)).id))
    mine = [i for kind, _, i in written if kind in ((alice,), (alice, bob), "every")]
    by_others = [i for kind, actor, i in written if i in mine and actor != "t0001"]
    held = {"curves": {alice}}
    with Session(engine) as session:
        assert [e.id for e in audit.covering(session, held, limit=1000)] == mine
        assert audit.count_covering(session, held) == len(mine)
        # newest first, one page after another, as /me shows them
        pages, before = [], None
        while True:
            page = audit.covering(session, held, before=before, limit=7, newest_first=True)
            if not page:
                break
            pages += [e.id for e in page]
            before = page[-1].id
        assert pages == mine[::-1]
        assert [e.id for e in audit.covering(session, held, after=mine[3], limit=2)] == mine[4:6]
        others = audit.covering(session, held, limit=1000, excluding={"t0001"})
        assert [e.id for e in others] == by_others
        assert audit.count_covering(session, held, excluding={"t0001"}) == len(by_others)
        both = {"curves": {alice, bob}, "other": {alice}}
        assert audit.count_covering(session, both) == sum(
            kind not in ((), "denied") for kind, _, _ in written
        )


def test_the_subject_index_is_append_only_and_filled_for_entries_logged_before_it(
    database_url,
):
    from hub.db import upgrade

    alice, bob = pseudonym("grid", "a"), pseudonym("grid", "b")
    engine = migrated_to(database_url, "0010")
    # entries as a hub before the index wrote them (no index rows)
    old = [entry((alice, bob)), entry((bob,)), entry(every=True), entry()]
    with engine.begin() as connection:
        head = audit.GENESIS
        for number, written in enumerate(old, start=1):
            listed = sorted(set(written.subjects))
            fields = {
                **{
                    k: v
                    for k, v in written.__dict__.items()
                    if k not in ("subjects", "every_subject", "counts")
                },
                "id": number,
                "at": as_utc(datetime(2026, 12, 1, 12, number, tzinfo=UTC)),
                "prev_hash": head,
                "subject_list": f" {' '.join(listed)} " if listed else "",
                "subjects": "*" if written.every_subject else "r" * 64 if listed else "",
            }
            fields["hash"] = head = audit.fingerprint(fields)
            # the table as it was then (no `mac`: migration 0016)
            connection.execute(sa.insert(sa.table("accessevent", *map(sa.column, fields))), fields)
    upgrade(engine)
    with Session(engine) as session:
        indexed = session.exec(select(AccessSubject)).all()
        assert sorted((r.event_id, r.pseudonym) for r in indexed) == sorted(
            [(1, alice), (1, bob), (2, bob)]
        )
        assert [e.id for e in audit.covering(session, {"curves": {alice}})] == [1, 3]
        assert [e.id for e in audit.covering(session, {"curves": {bob}})] == [1, 2, 3]
    appended = audit.append(engine, entry((alice,)))
    with Session(engine) as session:
        assert [e.id for e in audit.covering(session, {"curves": {alice}})] == [1, 3, appended.id]
    for statement in (
        "UPDATE accesssubject SET pseudonym = 'x'",
        "DELETE FROM accesssubject",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as connection:
            connection.exec_driver_sql(statement)
    engine.dispose()


def test_the_access_log_stays_append_only_through_a_downgrade_and_back(database_url):
    """Migrations after the one that guards the log (0011) may be undone and redone without
    taking its guards away: an UPDATE or DELETE of either table is still refused after."""
    from alembic import command
    from alembic.config import Config

    from hub.db import MIGRATIONS, make_engine, upgrade

    engine = make_engine(database_url)
    upgrade(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015")
    upgrade(engine)
    audit.append(engine, entry(("ps-a", "ps-b")))
    for statement in (
        "UPDATE accessevent SET reason = 'edited'",
        "DELETE FROM accessevent",
        "UPDATE accesssubject SET dataset_id = 'other'",
        "DELETE FROM accesssubject",
    ):
        with pytest.raises(sa.exc.DatabaseError), engine.begin() as connection:
            connection.exec_driver_sql(statement)
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(AccessSubject)).one() >= 1
