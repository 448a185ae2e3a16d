"""Whose rows a logged read covered: `*`, or a Merkle root of pseudonyms that each subject checks
with a proof of their own leaf; entries from before subjects were logged hash as they did."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlmodel import Session, select
from test_audit import tamper

from hub import audit
from hub.models import AccessEvent, as_utc
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
    values = {name: fields[name] for name in audit.CHAINED}
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
