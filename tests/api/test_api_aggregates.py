"""GET /api/v1/datasets/{id}/aggregates: thirty households of real load curves under the bundled
personal charter (k = 10); anyone reads the aggregates, nobody recovers a hidden group by
differencing them (windows, levels, groups, fields, one household's only day)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api.support import bearer, client_for
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select
from test_aggregates import CHANNELS, Reading, hours_from, household, publish_readings

from hub.models import AccessEvent

URL = "/api/v1/datasets/household-load-curves/aggregates"
DAY = datetime(2026, 11, 2, tzinfo=UTC)
HOMES = [f"pdl-home-{i:02d}" for i in range(30)]
LONE = "pdl-home-lone"
EV = "pdl-home-00"
FIELDS = ("circuit", "quantity", "unit", "quality")


def at(moment: datetime) -> str:
    """An instant as a query value."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def readings(engine: Engine, published: Any) -> list[Reading]:
    """Thirty households on 2 November (six of them only at 03:00, one with an EV charger, four
    more with one estimated hour), twelve on 3 November, one alone on 4 November."""
    rows: list[Reading] = []
    for index, key in enumerate(HOMES):
        hours = [h for h in hours_from(DAY, 24) if index < 6 or h.hour != 3]
        rows += household(key, 53 * index, hours, ["main", "water-heater-ac"])
    rows += household(EV, 7, hours_from(DAY, 24), ["ev-charger"])
    for index in range(4):
        rows += household(f"pdl-home-e{index}", 31 * index, [DAY.replace(hour=10)], ["main"])
        rows[-1] = rows[-1]._replace(quality="estimated")
    for index, key in enumerate(HOMES[:12]):
        rows += household(key, 19 * index, hours_from(DAY + timedelta(days=1), 24), ["main"])
    rows += household(LONE, 3, hours_from(DAY + timedelta(days=2), 24), ["main"])
    publish_readings(engine, "household-load-curves", rows, "grid-demo-load-curves")
    return rows


@pytest.fixture
def client(engine: Engine, readings: list[Reading]) -> Iterator[TestClient]:
    with client_for(engine) as client:
        yield client


def get(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get(URL, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def cells(answer: dict[str, Any]) -> dict[tuple[str, Any], dict[str, Any]]:
    return {(c["bucket"], c.get("group")): c for c in answer["cells"]}


def truth(rows: list[Reading], start: datetime, end: datetime, keep: Callable[[Reading], bool]):
    """The true sum and subjects of some readings: what a leak would give away."""
    chosen = [r for r in rows if start <= r.start < end and keep(r)]
    return sum(r.value for r in chosen), {r.subject for r in chosen}


def balanced(parent: dict[str, Any], children: list[dict[str, Any]]) -> bool:
    """Whether a published cell is the sum of the published cells inside it, so that their
    difference (what hidden cells would be, were it a total of every row) is 0."""
    parts = sum(c["sum"] for c in children if not c["suppressed"])
    return math.isclose(parent["sum"], parts, rel_tol=1e-9, abs_tol=1e-9)


def test_anyone_reads_the_same_suppressed_aggregates(client, engine) -> None:
    window = {"by": "day", "from": at(DAY), "to": at(DAY + timedelta(days=3))}
    answer = get(client, **window)
    assert {k: answer[k] for k in ("dataset", "by", "group", "measure", "from", "to", "k")} == {
        "dataset": "household-load-curves",
        "by": "day",
        "group": None,
        "measure": "value",
        "from": "2026-11-02T00:00:00Z",
        "to": "2026-11-05T00:00:00Z",
        "k": 10,
    }
    shown = [
        (c["bucket"][:10], c["subjects"], c["suppressed"], c["complete"]) for c in answer["cells"]
    ]
    assert shown == [
        ("2026-11-02", 30, False, False),  # 03:00 (six homes) and the estimated hour left out
        ("2026-11-03", 12, False, True),
        ("2026-11-04", None, True, None),  # one household alone
    ]
    assert all(c["sum"] is None and c["mean"] is None for c in answer["cells"] if c["suppressed"])
    assert "group" not in answer["cells"][0]
    for token in (bearer(engine, "operator", "grid-demo"), bearer(engine, "admin")):
        again = client.get(URL, params=window, headers=token)
        assert again.status_code == 200 and again.json() == answer  # no caller sees more


def test_a_token_holders_read_is_logged_an_anonymous_flood_is_not(client, engine) -> None:
    window = {"from": at(DAY), "to": at(DAY.replace(hour=6))}
    for _ in range(20):
        get(client, by="hour", group="circuit", **window)
    agency = client.get(
        URL,
        params={"by": "hour", "group": "circuit", **window},
        headers=bearer(engine, "agency", "city"),
    )
    assert agency.status_code == 200
    with Session(engine) as session:
        events = session.exec(
            select(AccessEvent).where(AccessEvent.dataset_id == "household-load-curves")
        ).all()
    assert [(e.actor_role, e.scope, e.outcome, e.rows) for e in events] == [
        ("agency", "aggregates", "granted", 0)
    ]
    assert "by hour, grouped by circuit" in events[0].reason
    assert "fewer than 10 data subjects suppressed" in events[0].reason
    assert events[0].route == f"GET {URL}"


def test_bad_questions_get_a_400_that_says_why(client) -> None:
    day = {"from": at(DAY), "to": at(DAY + timedelta(days=1))}
    cases = [
        ({"by": "week", **day}, "aggregates are by hour, day, month"),
        ({"by": "day", "from": at(DAY)}, "need from and to"),
        ({"by": "day", "from": "yesterday", "to": at(DAY)}, "not an ISO 8601"),
        ({"by": "day", "from": at(DAY.replace(hour=5)), "to": day["to"]}, "use from=2026-11-02"),
        ({"by": "hour", "from": at(DAY), "to": at(DAY + timedelta(hours=1001))}, "more than 1000"),
        ({"by": "day", "group": "subject_key", **day}, "circuit, quantity, unit, quality"),
        ({"by": "day", "group": "value", **day}, "not a field aggregates can be grouped by"),
        ({"by": "day", "group": "period_end", **day}, "not a field aggregates can be grouped by"),
        ({"by": "day", "measure": "circuit", **day}, "measures are: value"),
        ({"by": "day", "subject_key": "pdl-home-00", **day}, "unknown parameter 'subject_key'"),
        ({"by": "day", "from": day["to"], "to": day["from"]}, "must be before"),
    ]
    for params, message in cases:
        response = client.get(URL, params=params)
        assert response.status_code == 400 and message in response.json()["detail"], params


def test_only_personal_datasets_have_aggregates(client, published) -> None:
    params = {"by": "day", "from": at(DAY), "to": at(DAY + timedelta(days=1))}
    for dataset in (published.open_id, published.closed["restricted"], "nowhere"):
        response = client.get(f"/api/v1/datasets/{dataset}/aggregates", params=params)
        assert response.status_code == 404, dataset
    detail = client.get(f"/api/v1/datasets/{published.open_id}/aggregates", params=params)
    assert "only personal datasets have them" in detail.json()["detail"]


@pytest.mark.parametrize(
    "params", [{"by": "month"}, {}, {"by": "week", "from": "yesterday"}, {"nothing": "1"}]
)
def test_a_dataset_without_aggregates_is_a_404_whatever_the_parameters(
    client, published, params
) -> None:
    """Its kind comes first: `by=month` alone was a 400 "need from and to" on a crisis dataset."""
    for dataset in (published.open_id, published.closed["crisis"]):
        response = client.get(f"/api/v1/datasets/{dataset}/aggregates", params=params)
        assert response.status_code == 404, (dataset, params)
        assert "only personal datasets have them" in response.json()["detail"]
    assert client.get("/api/v1/datasets/nowhere/aggregates", params=params).status_code == 404


# --- differencing attacks -------------------------------------------------------------------


def test_a_day_minus_its_published_hours_is_zero(client, readings) -> None:
    window = {"from": at(DAY), "to": at(DAY + timedelta(days=2))}
    for group in ("", "circuit", "quality"):
        days = cells(get(client, by="day", group=group, **window))
        hours = cells(get(client, by="hour", group=group, **window))
        for (bucket, value), day in days.items():
            inside = [h for (b, v), h in hours.items() if b[:10] == bucket[:10] and v == value]
            if not day["suppressed"]:
                assert balanced(day, inside), (bucket, value)
    three = cells(get(client, by="hour", **window))[(at(DAY.replace(hour=3)), None)]
    hidden, who = truth(readings, DAY.replace(hour=3), DAY.replace(hour=4), lambda r: True)
    assert three["suppressed"] and len(who) == 6 and hidden > 0  # what a naive day would leak


def test_a_total_minus_its_groups_and_a_field_minus_another_are_zero(client, readings) -> None:
    window = {"from": at(DAY), "to": at(DAY + timedelta(days=2))}
    for by in ("hour", "day"):
        total = cells(get(client, by=by, **window))
        fields = {f: cells(get(client, by=by, group=f, **window)) for f in FIELDS}
        for (bucket, _), cell in total.items():
            for field, grouped in fields.items():
                inside = [c for (b, _), c in grouped.items() if b == bucket]
                if not cell["suppressed"]:
                    assert balanced(cell, inside), (by, field, bucket)
        for (bucket, quantity), cell in fields["quantity"].items():
            inside = [
                c
                for (b, circuit), c in fields["circuit"].items()
                if b == bucket and CHANNELS[circuit][0] == quantity
            ]
            if not cell["suppressed"]:
                assert balanced(cell, inside), (by, bucket, quantity)
        assert all(circuit != "ev-charger" for _, circuit in fields["circuit"])
    ev, who = truth(readings, DAY, DAY + timedelta(days=1), lambda r: r.circuit == "ev-charger")
    assert who == {EV} and ev > 0  # what energy minus water-heater-ac would leak, naively


def test_overlapping_windows_agree_where_they_meet(client) -> None:
    first = cells(get(client, by="hour", **{"from": at(DAY), "to": at(DAY + timedelta(hours=30))}))
    second = cells(
        get(
            client,
            by="hour",
            **{"from": at(DAY.replace(hour=3)), "to": at(DAY + timedelta(days=3))},
        )
    )
    shared = set(first) & set(second)
    assert len(shared) == 27 and all(first[key] == second[key] for key in shared)


def test_one_households_only_day_cannot_be_isolated(client, readings) -> None:
    short = cells(get(client, by="day", **{"from": at(DAY), "to": at(DAY + timedelta(days=2))}))
    long = cells(get(client, by="day", **{"from": at(DAY), "to": at(DAY + timedelta(days=3))}))
    assert all(long[key] == cell for key, cell in short.items())
    lone_day = long[(at(DAY + timedelta(days=2)), None)]
    assert lone_day["suppressed"]
    november = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    month = get(client, by="month", **november)["cells"][0]
    days = get(client, by="day", **november)["cells"]
    assert balanced(month, days)  # not the lone household's day
    alone, who = truth(readings, DAY + timedelta(days=2), DAY + timedelta(days=3), lambda r: True)
    assert who == {LONE} and alone > 0
    assert month["subjects"] == 30 and LONE not in str(month)


def test_the_charters_subject_field_counts_when_the_schema_names_none(client, published) -> None:
    """Atmo's personal test charter ties rows to stations (schema air-quality-observation has no
    subject field of its own): three stations, fewer than k, so every cell is hidden."""
    url = f"/api/v1/datasets/{published.closed['personal']}/aggregates"
    params = {"by": "hour", "group": "pollutant", "from": "2026-03-01T00:00:00Z"}
    answer = client.get(url, params={**params, "to": "2026-03-02T00:00:00Z"}).json()
    assert (answer["measure"], answer["k"], len(answer["cells"])) == ("value", 10, 24 * 11)
    assert all(c["suppressed"] for c in answer["cells"])
    assert [c["group"] for c in answer["cells"][:11]][:4] == ["pm1", "pm25", "pm10", "no2"]
    refused = client.get(url, params={**params, "group": "station_id", "to": "2026-03-02"})
    assert refused.status_code == 400
    assert "pollutant, unit, averaging_period, quality_flag" in refused.json()["detail"]
