"""Withdrawal of published rows (hub.withdrawal), as CKAN's datastore_delete calls it: a personal
dataset's aggregates and events follow the rows; bad filters change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from loadcurves import curves, frame_of, reading, records_of
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import atoms, withdrawal
from hub.catalogue import publish
from hub.models import Event, utcnow
from hub.pseudonyms import pseudonym

ALICE, BOB = "30002512345678", "30002598765432"
RECENT = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


def readings_in_atoms(engine: Engine) -> int:
    with engine.connect() as connection:
        total = sa.select(sa.func.sum(atoms.ATOMS.c.readings)).where(
            atoms.ATOMS.c.dataset_id == "household-curves"
        )
        return int(connection.execute(total).scalar() or 0)


def test_a_meter_pushed_by_mistake_leaves_rows_atoms_and_events(engine: Engine):
    rows = [reading(ALICE, hour, RECENT) for hour in range(3)]
    rows += [reading(BOB, hour, RECENT) for hour in range(2)]
    publish(curves(frame_of(rows)), engine=engine)
    before = readings_in_atoms(engine)
    assert before > 0
    done = withdrawal.withdraw(engine, "household-curves", [("subject_key", BOB)], "cli")
    assert (done.rows, done.events) == (2, 2)
    alice = pseudonym("grid-demo", ALICE)
    assert {r["subject_key"] for r in records_of(engine, "household-curves")} == {alice}
    assert readings_in_atoms(engine) == before * 3 // 5  # the measures of Alice's hours only
    with Session(engine) as session:
        logged = session.exec(select(Event).where(Event.kind == "observation")).all()
    assert {e.subject for e in logged} == {alice}


def test_filters_the_dataset_cannot_take_delete_nothing(engine: Engine):
    publish(curves(frame_of([reading(ALICE, 0, RECENT)])), engine=engine)
    for filters in ([("colour", "red")], [("value", "high")], [("subject_key", " ")]):
        with pytest.raises(withdrawal.WithdrawalRefused):
            withdrawal.withdraw(engine, "household-curves", filters, "cli")
    assert len(records_of(engine, "household-curves")) == 1
