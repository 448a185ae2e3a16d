"""Freshness ("up to date", `stale`, the `freshness` and `timeliness` facets) is judged from the
time the data covers, not from when it was harvested (hub.freshness)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from hub import search
from hub.access import Actor
from hub.api.shapes import is_stale
from hub.models import Dataset, Organization
from hub.search import Query

NOW = datetime.now(UTC)


def dataset(id: str, title: str, **fields) -> Dataset:
    values = {
        "organization_id": "atmo",
        "theme": "air-quality",
        "schema_name": "air-quality-observation",
        "charter_id": "open",
        "access": "open",
        **fields,
    }
    return Dataset(id=id, title=title, **values)


def test_freshness_is_judged_from_the_time_the_data_covers(engine):
    old = dataset(
        "eea-koln",
        "PM10, Köln",
        published_at=NOW,
        time_min=datetime(2007, 1, 1, tzinfo=UTC),
        time_max=datetime(2011, 12, 31, tzinfo=UTC),
    )
    recent = dataset("live", "PM10, live", published_at=NOW, time_max=NOW - timedelta(hours=2))
    forecast = dataset(
        "forecast", "PM10 forecast", published_at=NOW - timedelta(days=3), time_max=NOW
    )
    untimed = dataset("untimed", "Stations", published_at=NOW)
    assert is_stale(old) and is_stale(forecast)
    assert not is_stale(recent) and not is_stale(untimed)
    with Session(engine) as session:
        session.add(Organization(id="atmo", name="Atmo Occitanie"))
        session.flush()
        session.add_all([old, recent, forecast, untimed])
        session.commit()
        query = Query(facets=("freshness", "timeliness"))
        found = search.find(session, query, Actor())
        assert dict(found.facets["freshness"]) == {"day": 2, "week": 1, "older": 1}
        assert dict(found.facets["timeliness"]) == {"fresh": 2, "stale": 2}
        late = Query(filters={"timeliness": ["stale"]}, limit=10)
        assert set(search.find(session, late, Actor()).ids) == {"eea-koln", "forecast"}
