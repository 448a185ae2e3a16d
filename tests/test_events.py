"""The event log: the gate appends one event per recent record it wrote, in commit order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlmodel import Session, select

from hub import events, housekeeping
from hub.catalogue import Batch, Publisher, publish
from hub.models import Event
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source

ATMO = Publisher("atmo-demo", "Atmo Démo", "public")
SOURCES = Path(__file__).resolve().parents[1] / "pipelines" / "sources"


def readings(hours_ago: list[int], *, value: str = "21.5", station: str = "FR-DEMO-01"):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = [
        {
            "station_id": station,
            "station_name": "Comédie",
            "pollutant": "no2",
            "value": value,
            "unit": "µg/m³",
            "averaging_period": "PT1H",
            "observed_at": (now - timedelta(hours=h)).isoformat().replace("+00:00", "Z"),
            "longitude": "3.8800",
            "latitude": "43.6100",
            "quality_flag": "valid",
        }
        for h in hours_ago
    ]
    frame = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]})
    return frame.with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))


def batch(frame: pl.DataFrame, dataset_id: str = "demo-no2") -> Batch:
    return Batch(
        dataset_id=dataset_id,
        title="NO2, demo station",
        publisher=ATMO,
        theme="air-quality",
        schema="air-quality-observation",
        charter="atmo-demo-open",
        chunks=[frame],
        source_url="file:///demo.csv",
    )


def logged(engine) -> list[events.FeedEvent]:
    with engine.connect() as connection:
        return events.after(connection, 0, limit=10_000)


def test_recent_records_become_observations_and_history_does_not(engine):
    publish(batch(readings([1, 2, 3, 24 * 3, 24 * 30])))  # three within 48 h, two older
    kinds = [(e.kind, e.dataset) for e in logged(engine)]
    assert kinds == [("observation", "demo-no2")] * 3 + [("dataset", "demo-no2")]
    first = logged(engine)[0]
    assert first.data["geometry"] == {"type": "Point", "coordinates": [3.88, 43.61]}
    assert first.data["record"]["value"] == 21.5 and first.data["theme"] == "air-quality"
    assert first.data["time"] == first.data["record"]["observed_at"]  # oldest first
    assert first.bbox == (3.88, 43.61, 3.88, 43.61) and first.access == "open"
    assert logged(engine)[-1].data["events"] == 3


def test_an_unchanged_harvest_adds_only_its_dataset_event(engine):
    publish(batch(readings([1, 2])))
    publish(batch(readings([1, 2])))
    publish(batch(readings([1, 2], value="30.0")))  # both corrected: two updates
    kinds = [e.kind for e in logged(engine)]
    assert kinds == ["observation"] * 2 + ["dataset"] * 2 + ["observation"] * 2 + ["dataset"]
    assert [e.data["record"]["value"] for e in logged(engine)[-3:-1]] == [30.0, 30.0]


def test_alerts_carry_their_severity_status_and_area(engine, samples: Path):
    source = load_source(SOURCES / "cap-seychelles-aldabra-winds.yaml")
    assert harvest_source(source).status == "succeeded"
    alerts = [e for e in logged(engine) if e.kind == "alert"]
    assert len(alerts) == 1  # sent in 2024: still news for a feed that starts now
    alert = alerts[0]
    assert alert.data["severity"] == "Moderate" and alert.severity == 2
    assert alert.status == "Actual" and alert.data["geometry"]["type"] == "Polygon"
    west, south, east, north = alert.bbox or (0, 0, 0, 0)
    assert 45 < west < east < 48 and -11 < south < north < -8  # Aldabra, lon/lat


def test_ids_replay_in_order_and_since_finds_the_first_logged_after(engine):
    publish(batch(readings([1])))
    middle = datetime.now(UTC)
    publish(batch(readings([2]), dataset_id="demo-no2-b"))
    every = logged(engine)
    assert [e.id for e in every] == sorted(e.id for e in every)
    with engine.connect() as connection:
        resume = events.last_before(connection, middle)
        assert [e.dataset for e in events.after(connection, resume)] == ["demo-no2-b"] * 2
        assert events.last_before(connection, datetime.now(UTC)) == events.newest_id(connection)


def test_emit_logs_one_event_and_wakes_the_bus(engine):
    from hub.bus import get_bus

    subscription = get_bus().subscribe()
    try:
        emitted = events.emit(engine, "crisis", theme="risk", payload={"id": "c1", "name": "Lez"})
        assert subscription.get(1.0) == {"event": "feed"}
    finally:
        subscription.close()
    (crisis,) = logged(engine)
    assert crisis.id == emitted and crisis.kind == "crisis" and crisis.data["name"] == "Lez"


def test_concurrent_writers_hand_out_ids_in_commit_order(engine):
    """Readers that resume after the newest id they saw must never find an older one later."""
    seen: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        last = 0
        while not stop.is_set():
            with engine.connect() as connection:
                for event in events.after(connection, last):
                    seen.append(event.id)
                    last = event.id

    reader = threading.Thread(target=follow)
    reader.start()
    writers = [
        threading.Thread(
            target=lambda n=n: [
                events.emit(engine, "crisis", payload={"writer": n, "i": i}) for i in range(15)
            ]
        )
        for n in range(3)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    stop.set()
    reader.join()
    with engine.connect() as connection:
        missed = [e.id for e in events.after(connection, seen[-1] if seen else 0)]
    assert seen + missed == sorted(set(seen + missed)) and len(seen + missed) == 45


def age_events(engine, dataset_id: str, days: float) -> None:
    """Make a dataset's events look logged `days` ago."""
    table = Event.__table__
    with engine.begin() as connection:
        connection.execute(
            sa.update(table)
            .where(table.c.dataset_id == dataset_id)
            .values(time=datetime.now(UTC) - timedelta(days=days))
        )


def logged_datasets(engine) -> set[str]:
    with Session(engine) as session:
        return {e.dataset_id for e in session.exec(select(Event))}


def test_purge_keeps_at_least_the_replay_horizon(engine):
    publish(batch(readings([1])))
    publish(batch(readings([2]), dataset_id="demo-no2-b"))
    age_events(engine, "demo-no2", days=4)
    age_events(engine, "demo-no2-b", days=47 / 24)  # inside the 48 h horizon
    assert events.purge(engine, keep=timedelta(hours=1)) == 2  # four days old: gone
    assert logged_datasets(engine) == {"demo-no2-b"}
    assert events.purge(engine, keep=timedelta(hours=1)) == 0  # nothing due: nothing written


def test_each_batch_purges_the_log_of_what_replay_no_longer_needs(engine):
    publish(batch(readings([1])))
    publish(batch(readings([1]), dataset_id="demo-no2-c"))
    age_events(engine, "demo-no2", days=4)  # past KEEP (72 h)
    age_events(engine, "demo-no2-c", days=2.5)  # past the horizon, not yet past KEEP
    publish(batch(readings([2]), dataset_id="demo-no2-b"))
    assert logged_datasets(engine) == {"demo-no2-b", "demo-no2-c"}


def test_housekeeping_sweeps_the_log_without_a_batch(engine):
    publish(batch(readings([1])))
    age_events(engine, "demo-no2", days=4)
    swept = housekeeping.sweep(engine)
    assert swept.events == 2 and logged(engine) == []
    assert swept.note.startswith("event log: 2 event(s) older than 72 h deleted")


def test_a_batch_over_the_cap_sends_its_newest_records_after_a_gap_event(engine, monkeypatch):
    monkeypatch.setattr(events, "BATCH_EVENTS_CAP", 3)
    publish(batch(readings([1, 2, 3, 4, 5, 6, 24 * 3])))  # six recent, one history
    every = logged(engine)
    assert [e.kind for e in every] == ["gap"] + ["observation"] * 3 + ["dataset"]
    gap, *sent = every[:4]
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    newest = [(now - timedelta(hours=h)).isoformat() for h in (3, 2, 1)]
    assert [datetime.fromisoformat(e.data["time"]).isoformat() for e in sent] == newest
    assert gap.data["left_out"] == 3 and gap.data["time"] == sent[0].data["time"]
    records_url = gap.data["records"]
    assert records_url.startswith("/api/v1/datasets/demo-no2/records?from=")
    assert "&to=" in records_url and "records API" in gap.data["reason"]


def test_a_writer_whose_clock_runs_ahead_neither_purges_the_log_nor_ages_its_batch(
    engine, monkeypatch
):
    publish(batch(readings([1])))
    ahead = datetime.now(UTC) + timedelta(days=4)  # a VM resumed without NTP, a mis-set worker
    monkeypatch.setattr(events, "utcnow", lambda: ahead)
    publish(batch(readings([1, 2]), dataset_id="demo-no2-b"))
    kinds = [(e.kind, e.dataset) for e in logged(engine)]
    assert kinds == [("observation", "demo-no2"), ("dataset", "demo-no2")] + [
        ("observation", "demo-no2-b")
    ] * 2 + [("dataset", "demo-no2-b")]
    assert all(e.logged_at < ahead - timedelta(days=3) for e in logged(engine))


def test_a_dataset_event_names_the_terms_and_which_changed_since_the_last_run(engine):
    from hub.models import HarvestRun

    publish(batch(readings([1])))
    first = [e for e in logged(engine) if e.kind == "dataset"][-1].data
    assert first["schema"]["name"] == "air-quality-observation" and first["schema"]["version"]
    assert first["charter"]["id"] == "atmo-demo-open" and first["licence"] == "etalab-2.0"
    assert first["terms_changed"] == []  # a first run changes nothing it could compare
    with Session(engine) as session:  # as if the last run had been published under 0.9
        run = session.exec(select(HarvestRun)).one()
        run.charter_version = "0.9"
        session.add(run)
        session.commit()
    publish(batch(readings([1])))
    again = [e for e in logged(engine) if e.kind == "dataset"][-1].data
    assert again["terms_changed"] == ["charter"]
    publish(batch(readings([1])))
    assert [e for e in logged(engine) if e.kind == "dataset"][-1].data["terms_changed"] == []
