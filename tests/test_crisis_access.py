"""Crisis data through the one read path: crisis cells read only inside an active crisis's area
(the exact polygon: holes and multipolygons, never its bbox) and window, the union of their
crises; nobody else but the producer's operators; every read in the access log."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from crisisdata import (
    AREA_A,
    CELL_A,
    CELL_B,
    EVENTS,
    PRODUCER,
    READ_BY_A_ONLY,
    READ_BY_B_ONLY,
    SITES,
    SITES_IN_A,
    STRANGER,
    declare,
    declare_both,
    publish_crisis_data,
    publish_points,
    reference,
)
from shapely.geometry import Point, shape
from sqlmodel import Session, select

from hub import access, crises, reading, records
from hub.access import AccessDenied, Actor, Zone
from hub.crises import areas
from hub.models import AccessEvent, Crisis, Dataset


def cell(*organizations: str, role: str = "crisis-cell") -> Actor:
    return Actor(
        id=f"t-{role}-{'-'.join(organizations)}", role=role, organizations=frozenset(organizations)
    )


def read_ids(engine, dataset_id: str, actor: Actor, limit: int = 1000) -> set[str]:
    """The ids of every row `actor` reads of a dataset (AccessDenied when refused)."""
    with Session(engine) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        page = reading.read_records(
            session, dataset, reading.Caller(actor, route="test"), reading.Criteria(), limit
        )
    key = "event_id" if dataset_id == EVENTS else "site_id"
    return {row[key] for row in page.records}


@pytest.fixture
def now(engine):
    moment = reference()
    publish_crisis_data(engine, moment)
    return moment


def test_a_cell_reads_only_inside_its_crisis_polygon_and_window(engine, now):
    declare(engine, AREA_A, [CELL_A], now, -3, 24)
    assert read_ids(engine, EVENTS, cell(CELL_A)) == READ_BY_A_ONLY
    # a list of sites has no time: the area alone limits it
    assert read_ids(engine, SITES, cell(CELL_A)) == SITES_IN_A


def test_several_active_crises_naming_a_cell_open_their_union(engine, now):
    declare_both(engine, now)
    assert read_ids(engine, EVENTS, cell(CELL_A)) == READ_BY_A_ONLY | READ_BY_B_ONLY
    assert read_ids(engine, EVENTS, cell(CELL_B)) == READ_BY_B_ONLY
    assert read_ids(engine, SITES, cell(CELL_B)) == {"far"}
    # a token of both organizations reads the union once
    assert read_ids(engine, EVENTS, cell(CELL_B, "elsewhere")) == READ_BY_B_ONLY


@pytest.mark.parametrize(
    "who",
    [
        cell(STRANGER),
        cell(role="crisis-cell"),
        cell("telecom-other", role="operator"),
        cell(CELL_A, role="operator"),
        cell(CELL_A, role="agency"),
        cell(CELL_A, role="service"),
        cell(role="admin"),
        access.ANONYMOUS,
    ],
    ids=[
        "other-cell",
        "cell-of-nobody",
        "other-operator",
        "operator-of-cell",
        "agency",
        "service",
        "admin",
        "anonymous",
    ],
)
def test_everyone_but_the_named_cells_is_refused(engine, now, who):
    declare_both(engine, now)
    for dataset_id in (EVENTS, SITES):
        with pytest.raises(AccessDenied) as refused:
            read_ids(engine, dataset_id, who)
        assert refused.value.code == "crisis_only"


def test_the_producers_operators_read_everything(engine, now):
    operator = cell(PRODUCER.id, role="operator")
    assert len(read_ids(engine, EVENTS, operator)) == 13
    assert len(read_ids(engine, SITES, operator)) == 8


def test_a_charter_the_hub_cannot_read_opens_nothing_to_cells(engine, now, tmp_path, monkeypatch):
    """A crisis charter gone broken is no legal basis: the cells named by an active crisis read
    nothing (they were not narrowed by its `restricted_to` before); its producer still reads."""
    from hub import charters
    from hub.config import get_settings

    declare(engine, AREA_A, [CELL_A], now, -3, 24)
    assert read_ids(engine, EVENTS, cell(CELL_A)) == READ_BY_A_ONLY
    broken = tmp_path / "charters"
    broken.mkdir()
    (broken / "telecom-outages-crisis.yaml").write_text("id: [telecom-outages-crisis\n")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(broken))
    monkeypatch.setattr(charters, "STAMP_SECONDS", 0.0)
    get_settings.cache_clear()
    for dataset_id in (EVENTS, SITES):
        with pytest.raises(AccessDenied) as refused:
            read_ids(engine, dataset_id, cell(CELL_A))
        assert refused.value.code == "charter_unreadable"
        assert "cannot be read" in str(refused.value)
    assert len(read_ids(engine, EVENTS, cell(PRODUCER.id, role="operator"))) == 13


def test_before_its_start_and_after_its_end_a_crisis_opens_nothing(engine, now):
    declare(engine, AREA_A, [CELL_A], now, 1, 24, "Not yet")
    declare(engine, AREA_A, [CELL_B], now, -48, -24, "Over", declared_hours=-48)
    for who in (cell(CELL_A), cell(CELL_B)):
        with pytest.raises(AccessDenied):
            read_ids(engine, EVENTS, who)


def test_closing_a_crisis_ends_access_on_the_next_request(engine, now):
    first, second = declare_both(engine, now)
    assert read_ids(engine, EVENTS, cell(CELL_B)) == READ_BY_B_ONLY
    crises.close(engine, second.id, by="test")
    with pytest.raises(AccessDenied):
        read_ids(engine, EVENTS, cell(CELL_B))
    # the other crisis still names cell A
    assert read_ids(engine, EVENTS, cell(CELL_A)) == READ_BY_A_ONLY
    crises.close(engine, first.id, by="test")
    with pytest.raises(AccessDenied):
        read_ids(engine, SITES, cell(CELL_A))


def test_the_end_of_a_window_ends_access_on_the_next_request(engine, now):
    crisis = declare(engine, AREA_A, [CELL_A], now, -3, 24)
    assert read_ids(engine, SITES, cell(CELL_A)) == SITES_IN_A
    with engine.begin() as connection:  # time passes: its end is behind us
        table = Crisis.__table__  # type: ignore[attr-defined]
        connection.execute(
            table.update().where(table.c.id == crisis.id).values(ends_at=now - timedelta(minutes=1))
        )
    with pytest.raises(AccessDenied):
        read_ids(engine, SITES, cell(CELL_A))


def test_partial_grants_open_no_whole_read_nor_the_computed_extent(engine, now):
    declare(engine, AREA_A, [CELL_A], now, -3, 24)
    with Session(engine) as session:
        dataset = session.get(Dataset, EVENTS)
        assert dataset is not None
        with pytest.raises(AccessDenied) as refused:
            reading.admit(engine, dataset, reading.Caller(cell(CELL_A)), whole=True)
    assert refused.value.code == "beyond_grant"
    given = access.grant(dataset, cell(CELL_A), zones=crises.zones(engine, dataset, cell(CELL_A)))
    assert given.scope == "area" and not given.whole and CELL_A in given.reason


def test_every_read_granted_or_refused_is_in_the_access_log(engine, now):
    declare(engine, AREA_A, [CELL_A], now, -3, 24)
    read_ids(engine, EVENTS, cell(CELL_A))
    with pytest.raises(AccessDenied):
        read_ids(engine, EVENTS, cell(STRANGER))
    with pytest.raises(AccessDenied):
        read_ids(engine, SITES, access.ANONYMOUS)
    with Session(engine) as session:
        logged = session.exec(select(AccessEvent).order_by(AccessEvent.id)).all()  # type: ignore[arg-type]
    seen = [(e.actor_id, e.dataset_id, e.outcome, e.scope, e.rows) for e in logged]
    assert seen[0][1:4] == ("*", "granted", "crisis")  # the declaration itself (hub.crises.ledger)
    assert seen[1:] == [
        (cell(CELL_A).id, EVENTS, "granted", "area", len(READ_BY_A_ONLY)),
        (cell(STRANGER).id, EVENTS, "denied", "none", None),
        ("anonymous", SITES, "denied", "none", None),
    ]
    assert all(e.producer == PRODUCER.id for e in logged)
    assert "crisis" in logged[0].reason and CELL_A in logged[0].reason


def test_the_sql_test_agrees_with_shapely_on_random_points(engine):
    """Exactness on this store: 600 points over the area's bbox, holes and gaps included."""
    now = reference()
    chance = random.Random(11)
    west, south, east, north = 0.95, 42.95, 3.55, 44.05
    points = [
        (f"p{n}", round(chance.uniform(west, east), 5), round(chance.uniform(south, north), 5))
        for n in range(600)
    ]
    publish_points(engine, EVENTS, points, now)
    declare(engine, AREA_A, [CELL_A], now, -3, 24)
    solid = shape(AREA_A)
    expected = {name for name, lon, lat in points if solid.covers(Point(lon, lat))}
    assert 100 < len(expected) < 500  # the sample straddles the area
    assert read_ids(engine, EVENTS, cell(CELL_A)) == expected
    zone = crises.zone_of(crises.active(engine)[0])
    assert {name for name, lon, lat in points if areas.covers(zone, lon, lat, None)} == expected


@pytest.mark.parametrize("stored", ["date", "datetime"])
def test_a_date_fields_day_is_in_a_window_as_its_midnight_utc(engine, stored):
    """A crisis dataset whose time field is a date: its days are read as the records' `from`/`to`
    read them (each day at its midnight UTC), never a day off as a text comparison made them."""
    kind = sa.Date() if stored == "date" else sa.DateTime()
    table = sa.Table(
        f"zone_days_{stored}",
        sa.MetaData(),
        sa.Column("_id", sa.Integer, primary_key=True),
        sa.Column("day", kind),
        sa.Column("lon", sa.Float),
        sa.Column("lat", sa.Float),
    )
    layout = records.Layout(table, {"day": "day"}, {"day": stored}, ["_id"], "day", "lon", "lat")
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    zone = Zone(
        crisis="c",
        cells=frozenset({"cell"}),
        shape=areas.shape_text(square),
        bbox=(0.0, 0.0, 1.0, 1.0),
        start=datetime(2025, 1, 1, 10, tzinfo=UTC),  # the 1st's midnight is before it
        end=datetime(2025, 1, 3, tzinfo=UTC),  # the 3rd's midnight is its end, outside
    )
    days = [date(2025, 1, d) for d in (1, 2, 3)]
    with engine.begin() as connection:
        table.create(connection)
        values = [d if stored == "date" else datetime(d.year, d.month, d.day) for d in days]
        connection.execute(table.insert(), [{"day": v, "lon": 0.5, "lat": 0.5} for v in values])
        inside = areas.condition(layout, zone, connection.dialect.name)
        found = connection.execute(sa.select(table.c.day).where(inside)).scalars().all()
        table.drop(connection)
    assert [str(day)[:10] for day in found] == ["2025-01-02"]
