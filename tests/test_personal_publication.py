"""The gate pseudonymises personal rows: no raw subject key is stored, quarantined, reported or
logged, on SQLite and PostgreSQL, whatever the rows' errors (the subject field's own included)."""

from __future__ import annotations

import json
import logging
import re
from datetime import date

import polars as pl
import pytest
import sqlalchemy as sa
from loadcurves import curves, every_stored_text, frame_of, reading, records_of
from sqlalchemy import Engine
from sqlmodel import Session

from hub import catalogue
from hub.batches import Batch, Chunk, RowProblem
from hub.catalogue import BatchRejected, publish
from hub.models import QuarantinedRow
from hub.pseudonyms import empty_subject, is_pseudonym, pseudonym

# Raw delivery-point numbers (14-digit PDLs) that must never be found anywhere once published.
ALICE, BOB = "30002512345678", "30002598765432"
CAROL = "30002511111111"  # only on invalid rows
DAVE = "30002522222222"  # named by a reader's problem, and in a structural error's cells
EVE = "30002533333333"  # every row of a batch refused whole
RAW_KEYS = (ALICE, BOB, CAROL, DAVE, EVE)


def messy_batch() -> Batch:
    """Valid rows of two households, then rows the gate must quarantine, in two chunks."""
    first = [reading(ALICE, hour) for hour in range(4)] + [reading(BOB, hour) for hour in range(3)]
    second = [
        reading(BOB, 3),
        reading(CAROL, 0, value="-1"),  # negative energy
        reading(CAROL, 1, period_start="yesterday"),  # not a time
        reading(BOB, 0),  # the subject's primary key again: an error of the subject field itself
        reading("", 5),  # nobody's row
        reading("   ", 6),  # nobody's either
        reading(f"  {ALICE} ", 4),  # spaces around a key: the same household
        reading(DAVE, 0),  # a reader found something wrong with it, quoting the key
        reading(DAVE, 1),  # a cell beyond the header, whose error lists the row's cells
    ]
    extra = frame_of(second, first=2 + len(first))
    cells = [*second[-1].values(), "stray"]
    structural = [
        {
            "type": "extra-cell",
            "title": "Extra Cell",
            "description": "",
            "message": f'Row at position "{extra["_row"][-1]}" has an extra value in field at '
            'position "9"',
            "tags": ["#table", "#row", "#cell"],
            "note": "",
            "cells": cells,
            "rowNumber": extra["_row"][-1],
            "cell": "stray",
            "fieldName": "",
            "fieldNumber": 9,
        }
    ]
    errors = [None] * (len(second) - 1) + [json.dumps(structural)]
    extra = extra.with_columns(pl.Series("_error", errors, dtype=pl.String))
    problem = RowProblem(
        int(extra["_row"][-2]), "value", f"meter {DAVE} sent a reading twice for this hour"
    )
    return curves(frame_of(first), Chunk(extra, [problem]))


def assert_no_raw_key(*texts: str) -> None:
    for text in texts:
        for key in RAW_KEYS:
            assert key not in text, key


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record at DEBUG, SQLAlchemy's statements and parameters included."""
    caplog.set_level(logging.DEBUG)
    for name in ("sqlalchemy.engine", "hub", "pipelines"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_no_raw_key_is_stored_quarantined_reported_or_logged(engine: Engine, all_logs):
    run = publish(messy_batch(), engine=engine)
    assert (run.status, run.rows_read, run.rows_quarantined) == ("partial", 16, 7)
    assert run.rows_published == 9  # Alice's 5 hours (one with spaces) and Bob's 4
    assert_no_raw_key(every_stored_text(engine), all_logs.text, json.dumps(run.report), run.error)
    # the log did see the rows' values (SQLAlchemy's parameters): as pseudonyms
    assert re.search(r"ps-[a-z2-7]{32}", all_logs.text)
    # the rows are there, under the hub's pseudonyms
    stored = records_of(engine, "household-curves")
    assert {row["subject_key"] for row in stored} == {
        pseudonym("grid-demo", ALICE),
        pseudonym("grid-demo", BOB),
    }
    assert sum(row["subject_key"] == pseudonym("grid-demo", ALICE) for row in stored) == 5


def test_quarantined_rows_hold_pseudonyms_and_say_why(engine: Engine):
    run = publish(messy_batch(), engine=engine)
    with Session(engine) as session:
        held = catalogue.quarantined(session, "household-curves", run.id)
    assert len(held) == 7
    keys = {q.cells["subject_key"] for q in held}
    assert keys == {
        pseudonym("grid-demo", CAROL),
        pseudonym("grid-demo", BOB),
        pseudonym("grid-demo", DAVE),
        "",
    }
    nobody = [q for q in held if q.cells["subject_key"] == ""]
    assert len(nobody) == 2
    for row in nobody:
        notes = [e.get("note", "") for e in row.errors]
        assert empty_subject("subject_key") in notes
    dave = {q.row_number: q for q in held if q.cells["subject_key"] == pseudonym("grid-demo", DAVE)}
    notes = " ".join(e["note"] for q in dave.values() for e in q.errors)
    assert f"meter {pseudonym('grid-demo', DAVE)} sent a reading twice" in notes
    duplicate = next(q for q in held if q.cells["subject_key"] == pseudonym("grid-demo", BOB))
    assert [e["type"] for e in duplicate.errors] == ["primary-key"]
    assert pseudonym("grid-demo", BOB) in json.dumps(duplicate.errors)


def test_a_batch_refused_whole_keeps_no_raw_key_in_its_report(engine: Engine, all_logs):
    rows = [reading(EVE, hour, value="-1") for hour in range(5)]
    with pytest.raises(BatchRejected) as refused:
        publish(curves(frame_of(rows), dataset_id="refused-curves"), engine=engine)
    report = refused.value.report
    assert report["tasks"][0]["stats"]["errors"] == 5
    assert pseudonym("grid-demo", EVE) in json.dumps(report)
    assert_no_raw_key(every_stored_text(engine), all_logs.text, json.dumps(report))


def test_checking_a_batch_reports_pseudonyms_only(engine: Engine):
    report = catalogue.check(messy_batch())
    assert report["tasks"][0]["stats"]["errors"] >= 7
    assert_no_raw_key(json.dumps(report))


def test_the_same_household_keeps_one_pseudonym_across_batches_and_charter_versions(
    engine: Engine,
):
    publish(curves(frame_of([reading(ALICE, 0)])), engine=engine, on=date(2026, 6, 1))  # v1.0
    run = publish(curves(frame_of([reading(ALICE, 1)])), engine=engine)  # v2.0
    assert run.charter_version == "2.0"
    stored = records_of(engine, "household-curves")
    assert [row["subject_key"] for row in stored] == [pseudonym("grid-demo", ALICE)] * 2
    assert_no_raw_key(every_stored_text(engine))


def test_an_open_dataset_keeps_its_values_as_they_are(engine: Engine):
    from api.support import air_batch, observation_rows

    publish(air_batch("open-air", "atmo-demo-open", "Air", observation_rows()), engine=engine)
    stored = records_of(engine, "open-air")
    assert {row["station_id"] for row in stored} == {"st-a", "st-b", "st-c"}
    with Session(engine) as session:
        held = session.exec(sa.select(QuarantinedRow.cells)).scalars().all()  # type: ignore[call-overload]
    assert {cells["station_id"] for cells in held} == {"bad-0", "bad-1", "bad-2"}


def test_pseudonyms_have_their_shape(engine: Engine):
    publish(messy_batch(), engine=engine)
    stored = records_of(engine, "household-curves")
    assert all(is_pseudonym(row["subject_key"]) for row in stored)
