"""The feed's filters and grant verdicts, tested on logged-event shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub import events
from hub.access import Actor, Grant, Zone
from hub.crises import areas
from hub.feeds import filters, grants
from hub.feeds.filters import FilterError
from hub.models import Dataset

NOW = datetime.now(UTC)


def event(
    kind: str = "observation",
    *,
    geometry: dict[str, Any] | None = None,
    dataset: str = "air",
    theme: str = "air-quality",
    access: str = "open",
    subject: str = "",
    **data: Any,
) -> events.FeedEvent:
    payload = {"dataset": dataset, "theme": theme, "geometry": geometry, **data}
    return events.FeedEvent(
        1, kind, dataset, theme, NOW, payload, access, subject, events.bounds(geometry)
    )


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def square(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def passes(chosen: filters.Filters, item: events.FeedEvent) -> bool:
    return chosen.matches(item, filters.event_shape(item))


def parse(**raw: Any) -> filters.Filters:
    within = raw.pop("within", None)
    values = {k: v if isinstance(v, list) else [v] for k, v in raw.items()}
    return filters.parse(values, (within, "") if within else None)


def test_no_filter_passes_everything_but_alerts_that_are_not_actual() -> None:
    chosen = parse()
    assert passes(chosen, event())
    assert passes(chosen, event("crisis"))
    assert passes(chosen, event("alert", severity="Minor", status="Actual"))
    assert not passes(chosen, event("alert", severity="Minor", status="Exercise"))


def test_types_take_comma_lists_and_repeats() -> None:
    chosen = parse(types=["alert,crisis", "dataset"])
    assert chosen.types == {"alert", "crisis", "dataset"}
    assert not passes(chosen, event())
    with pytest.raises(FilterError, match="unknown event type 'rumour'"):
        parse(types="observation,rumour")


def test_theme_and_dataset_filters() -> None:
    assert not passes(parse(theme="risk"), event())
    assert passes(parse(theme="risk,air-quality"), event())
    assert passes(parse(dataset=["x", "air"]), event())
    assert not passes(parse(dataset="x"), event())
    with pytest.raises(FilterError, match="not a dataset id"):
        parse(dataset="../etc")


def test_min_severity_ranks_alerts_and_leaves_other_events_alone() -> None:
    chosen = parse(min_severity="moderate")
    assert passes(chosen, event("alert", severity="Severe"))
    assert passes(chosen, event("alert", severity="Moderate"))
    assert not passes(chosen, event("alert", severity="Minor"))
    assert not passes(chosen, event("alert"))  # no severity: Unknown
    assert passes(chosen, event("observation"))
    with pytest.raises(FilterError, match="CAP severity"):
        parse(min_severity="Huge")


def test_status_is_actual_unless_asked() -> None:
    exercise = event("alert", status="Exercise")
    assert passes(parse(status="Exercise"), exercise)
    assert not passes(parse(status="Exercise"), event("alert", status="Actual"))
    assert passes(parse(status="all"), exercise)
    with pytest.raises(FilterError, match="CAP status"):
        parse(status="Rumour")


def test_bbox_includes_its_edges_and_crosses_the_antimeridian() -> None:
    city = parse(bbox="-1.75,48.0,-1.55,48.2")
    assert passes(city, event(geometry=point(-1.75, 48.0)))
    assert not passes(city, event(geometry=point(-1.7500001, 48.1)))
    assert not passes(city, event())  # no geometry: a spatial filter never matches it
    pacific = parse(bbox="170,-10,-170,10")
    assert passes(pacific, event(geometry=point(179.5, 0)))
    assert passes(pacific, event(geometry=point(-175, 0)))
    assert not passes(pacific, event(geometry=point(0, 0)))
    for bad in ("1,2,3", "a,b,c,d", "0,0,1,95", "0,10,1,5", "nan,0,1,1"):
        with pytest.raises(FilterError):
            parse(bbox=bad)


def test_within_is_exact_for_concave_areas_and_holes() -> None:
    ring = [[0, 0], [4, 0], [4, 4], [0, 4], [0, 0]]
    hole = [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]
    donut = parse(within={"type": "Polygon", "coordinates": [ring, hole]})
    assert passes(donut, event(geometry=point(0.5, 0.5)))
    assert not passes(donut, event(geometry=point(2, 2)))  # in the hole, inside the bbox
    assert passes(donut, event("alert", geometry=square(2, 2, 5, 5)))  # overlaps the ring
    assert not passes(donut, event("alert", geometry=square(1.5, 1.5, 2.5, 2.5)))
    both = parse(within=square(0, 0, 4, 4), bbox="3,3,10,10")
    assert passes(both, event(geometry=point(3.5, 3.5)))
    assert not passes(both, event(geometry=point(1, 1)))  # every spatial filter must hold


@pytest.mark.parametrize(
    ("area", "reason"),
    [
        ({"type": "Point", "coordinates": [0, 0]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}, "at least 4"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not closed"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}, "valid"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 100], [0, 0]]]}, "WGS84"),
        ({"type": "Polygon", "coordinates": "nope"}, "non-empty list"),
    ],
)
def test_malformed_areas_say_why(area: dict[str, Any], reason: str) -> None:
    with pytest.raises(FilterError, match=reason):
        parse(within=area)


def dataset(access: str) -> Dataset:
    return Dataset(
        id="d",
        title="d",
        organization_id="op",
        theme="air-quality",
        schema_name="air-quality-observation",
        charter_id="c",
        access=access,
    )


def keeper_with(level: str, given: Grant | None) -> tuple[grants.Keeper, grants.Key]:
    keeper = grants.Keeper()
    key = (Actor(id="t", role="agency", organizations=frozenset({"org"})), "")
    keeper.datasets["d"] = dataset(level)
    if given is not None:
        keeper.books[key] = {"d": given}
    return keeper, key


def test_verdicts_follow_the_grant() -> None:
    closed = event(dataset="d", access="restricted", geometry=point(0, 0))
    keeper, key = keeper_with("restricted", None)
    assert keeper.verdict(key, closed) is None  # no grant computed: refused, not opened
    keeper, key = keeper_with("restricted", Grant("none", "restricted_members"))
    assert keeper.verdict(key, closed) is None
    keeper, key = keeper_with("restricted", Grant("all", "member"))
    assert keeper.verdict(key, closed) == "as-is"
    # an event logged as open, of a dataset restricted since: the dataset's level wins
    keeper, key = keeper_with("restricted", None)
    assert keeper.verdict(key, event(dataset="d")) is None


def test_personal_events_go_to_their_subjects_and_dataset_counts_to_whole_grants() -> None:
    mine = Grant("subjects", "subject_own_rows", subjects=frozenset({"p-alice"}))
    keeper, key = keeper_with("personal", mine)
    assert keeper.verdict(key, event(dataset="d", access="personal", subject="p-alice"))
    assert not keeper.verdict(key, event(dataset="d", access="personal", subject="p-bob"))
    assert not keeper.verdict(key, event(dataset="d", access="personal"))
    changed = event("dataset", dataset="d", access="personal", published=12, events=3, run=4)
    assert keeper.verdict(key, changed) == "withheld"
    assert grants.withhold_counts(changed.data) == {
        "dataset": "d",
        "theme": "air-quality",
        "geometry": None,
        "run": 4,
    }


def test_crisis_events_go_inside_the_zone_and_its_window() -> None:
    area = square(0, 0, 2, 2)
    zone = Zone(
        "c1",
        frozenset({"org"}),
        areas.shape_text(area),
        (0.0, 0.0, 2.0, 2.0),
        NOW - timedelta(hours=1),
        NOW + timedelta(hours=1),
    )
    keeper, key = keeper_with("crisis", Grant("area", "crisis_cell", zones=(zone,)))
    now = NOW.isoformat()

    def sent(geometry: dict[str, Any], time: str | None = now) -> bool:
        return (
            keeper.verdict(key, event(dataset="d", access="crisis", geometry=geometry, time=time))
            is not None
        )

    assert sent(point(1, 1))
    assert sent(point(2, 2))  # on the edge, as the rows' SQL condition decides
    assert not sent(point(3, 1))
    assert not sent(point(1, 1), (NOW - timedelta(hours=2)).isoformat())  # before the crisis
    assert not sent(point(1, 1), "not a time")
    assert sent(square(0.5, 0.5, 1, 1)) and not sent(square(1, 1, 3, 3))
