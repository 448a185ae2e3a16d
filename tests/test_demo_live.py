"""The demo's live feed: micro-sensor readings written and harvested each minute (live.py)."""

from __future__ import annotations

import csv
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from hub.models import Event
from pipelines.demo import DEFAULT_SEED, generate, live, telecom
from pipelines.orchestration import harvest_ref

NOW = datetime(2026, 12, 3, 6, 17, 42, tzinfo=UTC)
PER_MINUTE = len(live.SENSORS) * 2  # PM10 and PM2.5


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def test_the_window_holds_the_last_half_hour_up_to_the_current_minute(tmp_path: Path) -> None:
    rows = rows_of(live.write_live(tmp_path / "live.csv", NOW, NOW, DEFAULT_SEED))
    assert len(rows) == 30 * PER_MINUTE
    stamps = sorted({r["horodatage_fin"] for r in rows})
    assert stamps[0] == "2026-12-03T05:48:00Z" and stamps[-1] == "2026-12-03T06:17:00Z"
    assert {r["polluant"] for r in rows} == {"PM10", "PM2.5"}
    by_key = {
        (r["id_capteur"], r["horodatage_fin"], r["polluant"]): float(r["valeur"]) for r in rows
    }
    for (sensor, stamp, pollutant), value in by_key.items():
        if pollutant == "PM10":
            assert 0 < by_key[(sensor, stamp, "PM2.5")] < value < 150


def test_a_reading_never_changes_when_the_window_moves(tmp_path: Path) -> None:
    first = rows_of(live.write_live(tmp_path / "a.csv", NOW, NOW, DEFAULT_SEED))
    later = rows_of(
        live.write_live(tmp_path / "b.csv", NOW + timedelta(minutes=5), NOW, DEFAULT_SEED)
    )
    other = rows_of(live.write_live(tmp_path / "c.csv", NOW, NOW, DEFAULT_SEED + 1))
    as_set = lambda rows: {tuple(r.values()) for r in rows}  # noqa: E731
    assert len(as_set(first) & as_set(later)) == 25 * PER_MINUTE
    assert as_set(first) != as_set(other)


def observation_events(engine: Engine) -> int:
    table = Event.__table__  # type: ignore[attr-defined]
    query = sa.select(sa.func.count()).where(
        table.c.kind == "observation", table.c.dataset_id == live.SOURCE_ID
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def test_each_tick_publishes_the_new_minutes_and_logs_their_events(
    engine: Engine, hub_env: Path
) -> None:
    folder = hub_env / "demo"
    folder.mkdir(parents=True)
    start = datetime.now(UTC).replace(second=5, microsecond=0)
    ticker = live.Ticker(folder, DEFAULT_SEED, anchor=start)
    first = ticker.tick(start)
    assert (first.status, first.published, first.quarantined) == ("succeeded", 30 * PER_MINUTE, 0)
    logged = observation_events(engine)
    assert logged == 30 * PER_MINUTE
    second = ticker.tick(start + timedelta(minutes=1))
    assert (second.published, second.updated, second.skipped) == (PER_MINUTE, 0, 29 * PER_MINUTE)
    third = ticker.tick(start + timedelta(minutes=3))
    assert third.published == 2 * PER_MINUTE
    assert observation_events(engine) == logged + 3 * PER_MINUTE


def test_the_ticker_ticks_in_a_thread_and_stops_with_nothing_left_running(
    engine: Engine, hub_env: Path
) -> None:
    folder = hub_env / "demo"
    folder.mkdir(parents=True)
    ticker = live.Ticker(folder, DEFAULT_SEED, anchor=datetime.now(UTC), every=0.2)
    ticker.start()
    try:
        deadline = time.monotonic() + 60  # a wait, not a timing assertion
        while observation_events(engine) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert observation_events(engine) > 0 and ticker.running
    finally:
        ticker.stop()
    assert not ticker.running
    assert "demo-live" not in {thread.name for thread in threading.enumerate()}
    ticker.start()  # stopped for good: never again
    assert not ticker.running


def test_a_ticker_stopped_before_it_started_never_starts(tmp_path: Path) -> None:
    ticker = live.Ticker(tmp_path, DEFAULT_SEED, anchor=NOW)
    ticker.stop()
    ticker.start()
    assert not ticker.running and not (tmp_path / live.LIVE_FEED).exists()


def test_refreshed_outages_restore_the_flood_one_by_one(engine: Engine, hub_env: Path) -> None:
    generate(hub_env / "demo", now=NOW)
    assert harvest_ref(telecom.OUTAGES_SOURCE).status == "succeeded"
    later = NOW + timedelta(hours=3)
    before = {o.reference: o.end for o in telecom.outages(NOW, 7, DEFAULT_SEED)}
    after = {o.reference: o.end for o in telecom.outages(later, 7, DEFAULT_SEED, flood_at=NOW)}
    restored = [ref for ref, end in before.items() if end is None and after[ref] is not None]
    assert restored and any(end is None for end in after.values())  # some, not all
    ticker = live.Ticker(hub_env / "demo", DEFAULT_SEED, anchor=NOW)
    outcome = ticker.refresh_outages(later)
    assert (outcome.status, outcome.quarantined) == ("succeeded", 0)
    assert (outcome.updated, outcome.published) == (len(restored), len(after.keys() - before))
