"""The atoms behind public aggregates (hub.atoms) stay those of the rows the table holds: after
a batch that changes some readings and adds a household, after a retention purge, for a store
from before atoms (built on upgrade), and they go with a withdrawn dataset."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session
from test_aggregates import (
    DAY,
    GRID,
    Question,
    Reading,
    ask,
    check_against_oracle,
    frame_of,
    hours_from,
    household,
    publish_readings,
    small_k_fixture,  # noqa: F401 - the fixture
)

from hub import atoms, catalogue, resources, retention
from hub.catalogue import Batch, publish
from hub.db import upgrade

KEYS = [f"pdl-household-{i:02d}" for i in range(5)]


def five_households() -> list[Reading]:
    """Five households on two circuits over two days."""
    readings: list[Reading] = []
    for index, key in enumerate(KEYS):
        readings += household(key, 41 * index, hours_from(DAY, 48), ["main", "kitchen"])
    return readings


def every_question() -> list[Question]:
    window = (DAY - timedelta(days=1), DAY + timedelta(days=3))
    return [
        Question(by, *window, group=group)
        for by in ("hour", "day")
        for group in (None, "circuit", "unit")
    ]


def check(engine: Engine, readings: list[Reading]) -> None:
    for question in every_question():
        check_against_oracle(ask(engine, "curves", question), readings)


def atom_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count())
            .select_from(atoms.ATOMS)
            .where(atoms.ATOMS.c.dataset_id == "curves")
        ).scalar_one()


def test_atoms_follow_a_batch_that_changes_readings_and_adds_a_household(engine, small_k):
    first = five_households()
    publish_readings(engine, "curves", first, small_k)
    check(engine, first)
    # the second batch: new values for two households' afternoon, and a sixth household
    changed = [
        r._replace(value=r.value + 1000)
        for r in first
        if r.subject in KEYS[:2] and DAY.replace(hour=12) <= r.start < DAY.replace(hour=18)
    ]
    newcomer = household("pdl-household-new", 7, hours_from(DAY + timedelta(hours=30), 5), ["main"])
    run = publish(
        Batch(
            dataset_id="curves",
            title="Household load curves (curves)",
            publisher=GRID,
            theme="energy",
            schema="energy-consumption",
            charter=small_k,
            chunks=[frame_of(changed + newcomer)],
            description="Load curves, each household's for itself.",
            source_url="https://example.org/curves.csv",
        ),
        engine=engine,
    )
    assert (run.rows_published, run.rows_updated) == (len(newcomer), len(changed))
    replaced = {(r.subject, r.start, r.circuit): r for r in [*first, *changed, *newcomer]}
    check(engine, list(replaced.values()))
    day_two = ask(
        engine, "curves", Question("day", DAY + timedelta(days=1), DAY + timedelta(days=2))
    )
    assert day_two.cells[0].subjects == 6  # the newcomer counts once, whatever its atoms


def test_a_purge_past_retention_takes_the_atoms_of_the_rows_it_deletes(engine, small_k):
    readings = five_households()
    publish_readings(engine, "curves", readings, small_k)
    cut = DAY + timedelta(hours=30, minutes=30)  # inside an hour: that hour is recomputed
    with Session(engine) as session:
        dataset = catalogue.get(session, "curves")
    purge = retention.purge_dataset(engine, dataset, cut + timedelta(days=730))
    assert purge.before == cut and purge.rows == len([r for r in readings if r.start < cut])
    kept = [r for r in readings if r.start >= cut]
    check(engine, kept)
    first_day = ask(engine, "curves", Question("day", DAY, DAY + timedelta(days=1)))
    assert first_day.cells[0].suppressed


def test_a_store_from_before_atoms_builds_them_on_upgrade_and_a_withdrawal_forgets_them(
    engine, small_k
):
    readings = five_households()
    publish_readings(engine, "curves", readings, small_k)
    built = atom_rows(engine)
    assert built == 48 * 2  # an atom per hour and circuit (one unit, quantity, quality each)
    with engine.begin() as connection:
        atoms.forget(connection, "curves")
    assert atom_rows(engine) == 0
    upgrade(engine)
    assert atom_rows(engine) == built
    check(engine, readings)
    with Session(engine) as session:
        resources.remove_all(session, "curves")
        session.commit()
    with engine.connect() as connection:
        left = [
            connection.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.dataset_id == "curves")
            ).scalar_one()
            for table in (atoms.ATOMS, atoms.NUMBERS, atoms.STATE)
        ]
    assert left == [0, 0, 0]


def current_plan(engine: Engine) -> atoms.Plan:
    """The atoms' plan of "curves", as hub.aggregates makes it."""
    with Session(engine) as session:
        resource = catalogue.resource_of(session, "curves")
        fields = resource.schema_descriptor["fields"]
        plan = atoms.plan_of("curves", catalogue.layout_of(resource), fields, "subject_key")
    assert plan is not None and "circuit" in plan.groupable
    return plan


def test_atoms_built_before_a_schema_added_a_groupable_field_are_built_again(engine, small_k):
    """Atoms built under a schema version without `circuit` have no circuit values: the next
    request grouped by it finds them of another shape, builds them again and answers right."""
    readings = five_households()
    publish_readings(engine, "curves", readings, small_k)
    plan = current_plan(engine)
    older = replace(plan, groupable=tuple(g for g in plan.groupable if g != "circuit"))
    with engine.begin() as connection:
        atoms.refresh(connection, older)  # its shape differs: built whole, without circuits
        assert atoms.is_built(connection, older) and not atoms.is_built(connection, plan)
    assert atom_rows(engine) == 48  # one atom an hour: the circuits are not told apart
    check(engine, readings)
    with engine.connect() as connection:
        assert atoms.is_built(connection, plan)
    assert atom_rows(engine) == 48 * 2


def test_two_requests_that_find_atoms_unbuilt_at_once_both_answer(engine, small_k, monkeypatch):
    """Two replicas (here two threads) find a dataset's atoms unbuilt at the same moment and
    both build them: the one that loses the race reads the winner's atoms, and both answer."""
    readings = five_households()
    publish_readings(engine, "curves", readings, small_k)
    plan = current_plan(engine)
    with engine.begin() as connection:
        atoms.forget(connection, "curves")
    both_looked = threading.Barrier(2, timeout=10)
    seen = atoms.is_built

    def looked_together(connection, asked):
        built = seen(connection, asked)
        if not built and not both_looked.broken and both_looked.n_waiting < 2:
            with contextlib.suppress(threading.BrokenBarrierError):
                both_looked.wait()
        return built

    monkeypatch.setattr(atoms, "is_built", looked_together)
    start, end = DAY, DAY + timedelta(days=2)

    def read() -> list[atoms.Atom]:
        with engine.connect() as connection:
            return atoms.read(connection, plan, plan.measures[0], start, end)

    with ThreadPoolExecutor(2) as pool:
        answers = [future.result() for future in [pool.submit(read), pool.submit(read)]]
    assert len(answers[0]) == 48 * 2 and answers[0] == answers[1]
    assert atom_rows(engine) == 48 * 2
    check(engine, readings)


def test_hours_run_together_and_bitmaps_count_each_subject_once():
    assert list(atoms._runs([3, 4, 5, 9, 11, 12])) == [(3, 6), (9, 10), (11, 13)]
    bitmap = atoms._bitmap([0, 9, 9, 700])
    assert int.from_bytes(bitmap, "little") == (1 | 1 << 9 | 1 << 700)
    assert int.from_bytes(bitmap, "little").bit_count() == 3
    assert atoms.hour_start(atoms.hour_number(DAY + timedelta(minutes=59))) == DAY
