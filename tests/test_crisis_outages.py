"""A crisis opens what is broken while it lasts: rows with a start and an end (outages, the end
empty while ongoing) are in its window when they overlap it, in SQL, on the feed and in a
records window alike."""

from __future__ import annotations

from datetime import timedelta

from crisisdata import AREA_A, CELL_A, OUTAGES, declare, publish_outages, reference
from sqlmodel import Session

from hub import crises, events, reading
from hub.access import Actor
from hub.feeds import grants
from hub.models import Dataset

SPANS: dict[str, tuple[float, float | None]] = {
    "ongoing-since-before": (-5, None),  # began before the crisis, still down: broken now
    "restored-during": (-5, 1),  # began before, restored after the crisis started
    "restored-before": (-5, -1),  # over before the crisis started
    "ongoing-since-during": (2, None),
    "after-the-end": (30, None),  # begins after the crisis's end
}
OVERLAPPING = {"ongoing-since-before", "restored-during", "ongoing-since-during"}
CELL = Actor(id="t-cell", role="crisis-cell", organizations=frozenset({CELL_A}))


def outage_ids(engine, criteria: reading.Criteria | None = None) -> set[str]:
    with Session(engine) as session:
        dataset = session.get(Dataset, OUTAGES)
        assert dataset is not None
        page = reading.read_records(
            session,
            dataset,
            reading.Caller(CELL, route="test"),
            criteria or reading.Criteria(),
            100,
        )
    return {row["outage_id"] for row in page.records}


def test_a_crisis_declared_from_now_opens_the_outages_still_ongoing(engine):
    now = reference()
    publish_outages(engine, now, SPANS)
    declare(engine, AREA_A, [CELL_A], now, 0, 24)  # from now: the natural thing in an emergency
    assert outage_ids(engine) == OVERLAPPING


def test_a_records_window_finds_the_outages_that_overlap_it(engine):
    now = reference()
    publish_outages(engine, now, SPANS)
    declare(engine, AREA_A, [CELL_A], now, -10, 48)
    window = reading.Criteria(start=now, end=now + timedelta(hours=24))
    assert outage_ids(engine, window) == OVERLAPPING


def test_the_feed_sends_a_cell_the_outages_that_overlap_its_crisis(engine):
    now = reference()
    publish_outages(engine, now, SPANS)
    crisis = declare(engine, AREA_A, [CELL_A], now, 0, 24)
    zone = crises.zone_of(crisis)
    with engine.connect() as connection:
        logged = [e for e in events.after(connection, 0) if e.dataset == OUTAGES]
    sent = {
        event.data["record"]["outage_id"]
        for event in logged
        if event.kind == "observation" and grants.inside_zones(event, (zone,))
    }
    assert sent == OVERLAPPING
