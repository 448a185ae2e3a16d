"""Retention: personal rows older than their charter's retention_days go, with the quarantined
rows and listed errors of old runs; the dataset's computed fields follow; each purge says what
it did, in the dataset's history (withheld from the public) and in the event log."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from api.support import air_batch, bearer, client_for, observation_rows
from loadcurves import curves, frame_of, reading, records_of
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from hub import catalogue
from hub.catalogue import publish
from hub.cli import app
from hub.config import PROJECT_ROOT, get_settings
from hub.models import Event, HarvestRun, QuarantinedRow, Resource, as_utc, utcnow
from hub.pseudonyms import pseudonym
from hub.retention import purge_expired

ALICE, BOB = "30002512345678", "30002598765432"
NOW = utcnow().replace(minute=0, second=0, microsecond=0)
OLD = NOW - timedelta(days=800)  # past the demo charter's 730 days
RECENT = NOW - timedelta(days=10)


def publish_ages(engine: Engine) -> HarvestRun:
    """Alice: 3 old hours and 2 recent ones; Bob: 2 old hours."""
    rows = [reading(ALICE, hour, OLD) for hour in range(3)]
    rows += [reading(ALICE, hour, RECENT) for hour in range(2)]
    rows += [reading(BOB, hour, OLD) for hour in range(2)]
    run = publish(curves(frame_of(rows)), engine=engine)
    assert (run.status, run.rows_published) == ("succeeded", 7)
    return run


def dataset_of(engine: Engine, dataset_id: str = "household-curves"):
    with Session(engine) as session:
        return catalogue.get(session, dataset_id)


def runs_of(engine: Engine, dataset_id: str = "household-curves") -> list[HarvestRun]:
    with Session(engine) as session:
        return catalogue.runs_of(session, dataset_id)


def test_rows_past_retention_go_and_the_dataset_follows(engine: Engine):
    publish_ages(engine)
    before = dataset_of(engine)
    assert before.record_count == 7 and as_utc(before.time_min) == OLD
    (purge,) = purge_expired(engine)
    assert (purge.dataset_id, purge.rows, purge.quarantined, purge.reports) == (
        "household-curves",
        5,
        0,
        0,
    )
    assert purge.before is not None and OLD < purge.before < RECENT
    stored = records_of(engine, "household-curves")
    assert [(r["subject_key"], as_utc(r["period_start"])) for r in stored] == [
        (pseudonym("grid-demo", ALICE), RECENT),
        (pseudonym("grid-demo", ALICE), RECENT + timedelta(hours=1)),
    ]
    after = dataset_of(engine)
    assert after.record_count == 2
    assert (as_utc(after.time_min), as_utc(after.time_max)) == (
        RECENT,
        RECENT + timedelta(hours=1),
    )
    assert as_utc(after.published_at) > as_utc(before.published_at)  # what readers see changed
    with Session(engine) as session:
        resource = session.exec(
            select(Resource).where(Resource.dataset_id == "household-curves")
        ).one()
        assert resource.row_count == 2
    # the purge's own run says what went, under which charter; the event log too
    latest = runs_of(engine)[0]
    assert (latest.id, latest.status, latest.error) == (purge.run_id, "succeeded", purge.note)
    assert purge.note.startswith("retention: 5 rows older than ")
    assert "730 days of charter grid-demo-load-curves 2.0" in purge.note
    with Session(engine) as session:
        event = session.exec(select(Event).order_by(col(Event.id).desc())).first()
    assert (
        event is not None and event.payload["purged"] == 5 and event.payload["run"] == purge.run_id
    )
    # nothing left to purge: no run of nothing
    (again,) = purge_expired(engine)
    assert (again.rows, again.run_id, again.deleted) == (0, None, False)
    assert again.note.startswith("nothing older than")
    assert len(runs_of(engine)) == 2


def test_open_and_restricted_datasets_are_never_purged(engine: Engine):
    publish(air_batch("open-air", "atmo-demo-open", "Air", observation_rows()), engine=engine)
    count = dataset_of(engine, "open-air").record_count
    assert purge_expired(engine, now=datetime(2060, 1, 1, tzinfo=UTC)) == []
    assert dataset_of(engine, "open-air").record_count == count == 144


def test_old_runs_lose_their_quarantined_rows_and_listed_errors(engine: Engine):
    rows = [reading(ALICE, hour) for hour in range(3)]
    rows += [reading(BOB, 0, value="-2"), reading(BOB, 1, period_start="never")]
    run = publish(curves(frame_of(rows)), engine=engine)
    assert (run.status, run.rows_quarantined) == ("partial", 2)
    assert len(run.report["tasks"][0]["errors"]) == 2
    # two years on, everything this run stored or reported is past retention
    (purge,) = purge_expired(engine, now=NOW + timedelta(days=731))
    assert (purge.rows, purge.quarantined, purge.reports) == (3, 2, 1)
    with Session(engine) as session:
        assert session.exec(select(QuarantinedRow)).all() == []
        kept = session.get(HarvestRun, run.id)
        assert kept is not None and kept.report is not None
        task = kept.report["tasks"][0]
        assert task["errors"] == [] and task["stats"]["errors"] == 2  # still counted
        assert "the errors listed were withdrawn on" in task["warnings"][-1]
        assert (kept.rows_read, kept.rows_quarantined) == (5, 2)
    emptied = dataset_of(engine)
    assert (emptied.record_count, emptied.time_min, emptied.time_max) == (0, None, None)
    assert records_of(engine, "household-curves") == []


def test_the_public_sees_that_a_purge_ran_not_what_it_deleted(engine: Engine):
    publish_ages(engine)
    (purge,) = purge_expired(engine)
    path = "/api/v1/datasets/household-curves/runs"
    with client_for(engine) as client:
        public = client.get(path).json()["runs"]
        agency = client.get(path, headers=bearer(engine, "agency", "metropole-demo")).json()
        operator = client.get(path, headers=bearer(engine, "operator", "grid-demo")).json()
    for seen in (public, agency["runs"]):
        assert seen[0]["error"].startswith("retention (details withheld")
        assert "5 rows" not in json.dumps(seen)
    assert operator["runs"][0]["error"] == purge.note


def test_the_cli_purges_at_once(engine: Engine):
    publish_ages(engine)
    result = CliRunner().invoke(app, ["db", "purge-expired"])
    assert result.exit_code == 0, result.output
    assert "household-curves: retention: 5 rows older than" in result.stdout
    assert len(records_of(engine, "household-curves")) == 2


# --- a schema without a time column; a charter that is gone ---------------------------------


@pytest.fixture
def timeless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A personal schema with no time column, and a 30-day charter for it; the charter folder."""
    descriptor = json.loads(
        (PROJECT_ROOT / "schemas" / "energy-consumption.schema.json").read_text(encoding="utf-8")
    )
    descriptor["name"] = "household-readings"
    descriptor["hub"] = {"subject": "subject_key"}
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "household-readings.schema.json").write_text(json.dumps(descriptor))
    charter = yaml.safe_load(
        (PROJECT_ROOT / "charters" / "grid-demo-load-curves@2.0.yaml").read_text(encoding="utf-8")
    )
    charter = copy.deepcopy(charter) | {
        "id": "grid-readings",
        "version": "1.0",
        "schemas": ["household-readings"],
        "valid_from": "2026-01-01",
    }
    charter["personal_data"]["retention_days"] = 30
    folder = tmp_path / "charters"
    folder.mkdir()
    (folder / "grid-readings.yaml").write_text(yaml.safe_dump(charter, allow_unicode=True))
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(schemas))
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    get_settings.cache_clear()
    return folder


def publish_timeless(engine: Engine) -> None:
    rows = frame_of([reading(ALICE, hour, OLD) for hour in range(4)])
    batch = curves(
        rows, dataset_id="readings", charter="grid-readings", schema="household-readings"
    )
    assert publish(batch, engine=engine).rows_published == 4


def test_rows_without_a_time_are_kept_from_the_run_that_stored_them(engine: Engine, timeless):
    publish_timeless(engine)  # rows from long ago, stored today: counted from today
    assert purge_expired(engine)[0].rows == 0
    assert purge_expired(engine, now=NOW + timedelta(days=29))[0].rows == 0
    (purge,) = purge_expired(engine, now=NOW + timedelta(days=31))
    assert purge.rows == 4 and "30 days of charter grid-readings 1.0" in purge.note
    assert records_of(engine, "readings") == []


def test_rows_whose_charter_cannot_be_read_are_kept_and_said_so(
    engine: Engine, timeless, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    publish_timeless(engine)
    elsewhere = tmp_path / "no-charters"
    elsewhere.mkdir()
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(elsewhere))
    get_settings.cache_clear()
    (purge,) = purge_expired(engine, now=datetime(2060, 1, 1, tzinfo=UTC))
    assert (purge.before, purge.rows, purge.run_id) == (None, 0, None)
    assert "charter grid-readings 1.0 cannot be read" in purge.note
    assert len(records_of(engine, "readings")) == 4


def test_every_table_of_a_purged_dataset_is_free_of_its_old_rows(engine: Engine):
    publish_ages(engine)
    purge_expired(engine)
    with engine.connect() as connection:
        name = catalogue.layout_of_dataset(connection, "household-curves").table.name
        times = connection.execute(sa.text(f'SELECT period_start FROM "{name}"')).scalars().all()
    assert len(times) == 2
    assert all(
        as_utc(t if isinstance(t, datetime) else datetime.fromisoformat(t)) >= RECENT for t in times
    )


def test_a_purge_that_breaks_changes_nothing_and_stops_no_other(engine: Engine, monkeypatch):
    publish_ages(engine)
    rows = [reading(BOB, hour, OLD) for hour in range(3)]
    publish(curves(frame_of(rows), dataset_id="more-curves"), engine=engine)
    real = catalogue.refresh_extent

    def broken(connection, dataset_id, *args):
        if dataset_id == "household-curves":
            raise RuntimeError("disk full")
        return real(connection, dataset_id, *args)

    monkeypatch.setattr(catalogue, "refresh_extent", broken)
    result = CliRunner().invoke(app, ["db", "purge-expired"])
    assert result.exit_code == 1
    assert "household-curves: failed: RuntimeError: disk full" in result.stdout
    assert len(records_of(engine, "household-curves")) == 7  # rolled back whole
    assert dataset_of(engine).record_count == 7
    failed = runs_of(engine)[0]
    assert (failed.status, failed.error) == ("failed", "retention: RuntimeError: disk full")
    assert records_of(engine, "more-curves") == []  # the other dataset was purged all the same


# --- the feed's event log ----------------------------------------------------------------------


def logged_records(engine: Engine, dataset_id: str) -> list[tuple[str, str, float]]:
    """(subject, time, value) of a dataset's record events, oldest first."""
    with Session(engine) as session:
        found = session.exec(
            select(Event)
            .where(Event.dataset_id == dataset_id, Event.kind == "observation")
            .order_by(col(Event.id))
        ).all()
    return [(e.subject, e.payload["time"], e.payload["record"]["value"]) for e in found]


def test_the_events_carrying_purged_rows_go_with_them(engine: Engine):
    """Rows of the last hours ride in the feed's log too (pseudonym, values, and the values a
    correction replaced): a purge that deletes the rows deletes those events, at once."""
    recent = NOW - timedelta(hours=3)
    publish(curves(frame_of([reading(ALICE, hour, recent) for hour in range(3)])), engine=engine)
    corrected = [reading(ALICE, 0, recent, value="9.9")]  # its first value was wrong
    publish(curves(frame_of(corrected)), engine=engine)
    publish(air_batch("open-air", "atmo-demo-open", "Air", observation_rows()), engine=engine)
    alice = pseudonym("grid-demo", ALICE)
    assert [(s, v) for s, _, v in logged_records(engine, "household-curves")] == [
        (alice, 0.5),
        (alice, 0.6),
        (alice, 0.7),
        (alice, 9.9),
    ]
    others = logged_records(engine, "open-air")
    # two years on, 90 minutes before this hour: the rows of 3 h and 2 h ago are past retention
    (purge,) = purge_expired(engine, now=NOW + timedelta(days=730, minutes=-90))
    assert purge.rows == 2
    left = logged_records(engine, "household-curves")
    assert [(s, v) for s, _, v in left] == [(alice, 0.7)]  # the row kept, and its event
    assert logged_records(engine, "open-air") == others  # no other dataset's events
    with Session(engine) as session:
        last = session.exec(select(Event).order_by(col(Event.id).desc())).first()
    assert last is not None and (last.kind, last.payload["purged"]) == ("dataset", 2)


def test_the_cli_also_purges_the_event_log(engine: Engine):
    publish(air_batch("open-air", "atmo-demo-open", "Air", observation_rows()), engine=engine)
    with engine.begin() as connection:
        logged = connection.execute(sa.select(sa.func.count()).select_from(Event.__table__))
        count = logged.scalar_one()
        connection.execute(sa.update(Event.__table__).values(time=utcnow() - timedelta(days=4)))
    result = CliRunner().invoke(app, ["db", "purge-expired"])
    assert result.exit_code == 0, result.output
    assert f"event log: {count:,} event(s) older than 72 h deleted" in result.stdout
    with Session(engine) as session:
        assert session.exec(select(Event)).all() == []
