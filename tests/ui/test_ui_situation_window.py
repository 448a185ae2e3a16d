"""A crisis's situation page shows what that crisis opens (its area and its window), not what
another crisis of the same cell opens; and an outage still ongoing is broken now, whenever it
began."""

from __future__ import annotations

from datetime import timedelta

from crisisdata import PRODUCER, frame, instant
from sqlmodel import Session, select
from ui.pagetext import page
from ui.test_ui_situation import (  # noqa: F401 - the fixtures
    CELL,
    INSIDE,
    OUTAGES,
    client,
    outage_rows,
    signed_in,
    situation,
)

from hub import crises
from hub.catalogue import Batch, publish
from hub.models import AccessEvent
from pipelines.demo.telecom import CRISIS_AREA


def publish_restored_outage(engine, now) -> None:
    """An outage inside the perimeter, from 5 h to 3 h ago: inside the fixture's crisis (from
    6 h ago), before a crisis declared from an hour ago."""
    row = {
        **outage_rows(now)[0],
        "outage_id": "OUT-restored",
        "element_name": "Antenna Lattes restored",
        "started_at": instant(now - timedelta(hours=5)),
        "ended_at": instant(now - timedelta(hours=3)),
        "status": "restored",
    }
    batch = Batch(
        dataset_id=OUTAGES,
        title="Network outages (test)",
        publisher=PRODUCER,
        theme="risk",
        schema="network-outage",
        charter="telecom-outages-crisis",
        chunks=[frame("network-outage", [row])],
        description="Crisis-only outages of a private operator, for tests.",
        source_url="https://example.org/outages.csv",
    )
    publish(batch, engine=engine)


def test_a_crisis_page_shows_the_rows_of_that_crisis_window_only(client, engine, situation):  # noqa: F811
    publish_restored_outage(engine, situation.now)
    later = crises.declare(
        engine,
        name="Lez flood, from an hour ago",
        area=CRISIS_AREA,
        start=situation.now - timedelta(hours=1),
        end=situation.now + timedelta(days=1),
        cells=[CELL],
        by="test",
    )
    signed_in(client, engine, "crisis-cell", CELL)
    words = page(client, f"/situation/{later.id}").words
    assert "Antenna Lattes restored" not in words  # the fixture's crisis opened it, not this one
    assert "Antenna Port Marianne" in words  # began before this crisis, still ongoing
    with Session(engine) as session:
        logged = session.exec(select(AccessEvent).where(AccessEvent.dataset_id == OUTAGES)).all()
    assert logged and later.id in logged[-1].reason and situation.crisis.id not in logged[-1].reason
    words = page(client, f"/situation/{situation.crisis.id}").words
    assert "Antenna Lattes restored" in words and "Antenna Port Marianne" in words
    listed = client.get(f"/situation/{later.id}/data/{OUTAGES}").text
    assert "Antenna Lattes restored" not in listed and "Antenna Port Marianne" in listed
