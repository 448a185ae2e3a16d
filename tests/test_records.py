"""Record tables: typed columns, idempotent upserts, indexed time/bbox queries, keyset cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
import sqlalchemy as sa

from hub import records

DESCRIPTOR = {
    "fields": [
        {"name": "station_id", "type": "string"},
        {"name": "observed_at", "type": "datetime"},
        {"name": "value", "type": "number"},
        {"name": "count", "type": "integer"},
        {"name": "ok", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "longitude", "type": "number"},
        {"name": "latitude", "type": "number"},
        {"name": "Nom de la station (libellé)", "type": "string"},
    ],
    "primaryKey": ["station_id", "observed_at"],
    "hub": {"time": "observed_at", "lon": "longitude", "lat": "latitude"},
}
T0 = datetime(2025, 9, 1, tzinfo=UTC)


def frame(n: int, *, value: float = 1.5, start: int = 0) -> pl.DataFrame:
    """n typed rows, one per hour, spread west to east."""
    hours = range(start, start + n)
    return pl.DataFrame(
        {
            "station_id": [f"S{h % 3}" for h in hours],
            "observed_at": [T0 + timedelta(hours=h) for h in hours],
            "value": [value + h for h in hours],
            "count": [h for h in hours],
            "ok": [h % 2 == 0 for h in hours],
            "day": [(T0 + timedelta(hours=h)).date() for h in hours],
            "longitude": [-5.0 + h * 0.1 for h in hours],
            "latitude": [43.0 + h * 0.01 for h in hours],
            "Nom de la station (libellé)": [f"Gare n°{h}" for h in hours],
            "_row": list(range(2, n + 2)),
        },
        schema_overrides={"observed_at": pl.Datetime("us", "UTC")},
    )


@pytest.fixture
def layout(engine):
    layout = records.layout_for(records.table_name_for("demo/obs"), DESCRIPTOR, sa.MetaData())
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
    return layout


def test_unsafe_field_names_get_safe_columns():
    columns = records.column_names(DESCRIPTOR["fields"])
    assert columns["station_id"] == "station_id"
    assert columns["Nom de la station (libellé)"] == "f8_nom_de_la_station_libell"
    assert records.table_name_for("demo/obs").startswith("rec_demo_obs_")


def test_rows_round_trip_with_their_types(engine, layout):
    with engine.begin() as connection:
        assert records.store_chunk(connection, layout, frame(3), run_id=1) == 3
        page = records.query(connection, layout, limit=10)
    first = page.records[0]
    assert first == {
        "station_id": "S0",
        "observed_at": "2025-09-01T00:00:00Z",
        "value": 1.5,
        "count": 0,
        "ok": True,
        "day": "2025-09-01",
        "longitude": -5.0,
        "latitude": 43.0,
        "Nom de la station (libellé)": "Gare n°0",
    }
    assert page.next_cursor is None


def test_storing_the_same_rows_twice_adds_nothing(engine, layout):
    with engine.begin() as connection:
        assert records.store_chunk(connection, layout, frame(50), run_id=1) == 50
        assert records.store_chunk(connection, layout, frame(50), run_id=2) == 0
        assert records.count_rows(connection, layout) == 50


def test_chunks_staged_in_a_helper_thread_store_as_upserts_do(engine, layout):
    chunks = [frame(4), frame(4, start=2, value=7.0), frame(0), frame(3, start=6)]
    with engine.begin() as connection:
        staged = records.staged_ahead(layout, connection.dialect.name, iter(chunks), lambda c: c)
        changed = [records.store_staged(connection, layout, s, run_id=1) for _, s in staged]
        stored = records.query(connection, layout, limit=20).records
    # the second chunk corrects hours 2 and 3 and adds 4 and 5; the empty one changes nothing
    assert changed == [4, 4, 0, 3]
    assert [r["value"] for r in stored] == [1.5, 2.5, 9.0, 10.0, 11.0, 12.0, 7.5, 8.5, 9.5]
    assert [r["count"] for r in stored] == list(range(9))


def test_a_corrected_value_replaces_the_old_one(engine, layout):
    with engine.begin() as connection:
        records.store_chunk(connection, layout, frame(5), run_id=1)
        changed = records.store_chunk(connection, layout, frame(5, value=100.0), run_id=2)
        assert changed == 5
        assert records.count_rows(connection, layout) == 5
        values = [r["value"] for r in records.query(connection, layout).records]
    assert values == [100.0 + h for h in range(5)]


def test_without_primary_key_rows_are_keyed_by_content(engine):
    descriptor = {"fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "integer"}]}
    layout = records.layout_for("rec_nokey", descriptor, sa.MetaData())
    chunk = pl.DataFrame({"a": ["x", "x", None], "b": [1, 2, None]})
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        assert records.store_chunk(connection, layout, chunk, run_id=1) == 3
        assert records.store_chunk(connection, layout, chunk, run_id=2) == 0
        assert records.count_rows(connection, layout) == 3


def test_time_range_is_from_inclusive_to_exclusive(engine, layout):
    with engine.begin() as connection:
        records.store_chunk(connection, layout, frame(48), run_id=1)
        page = records.query(
            connection,
            layout,
            start=T0 + timedelta(hours=10),
            end=T0 + timedelta(hours=20),
            limit=100,
        )
    times = [r["observed_at"] for r in page.records]
    assert len(times) == 10
    assert times[0] == "2025-09-01T10:00:00Z" and times[-1] == "2025-09-01T19:00:00Z"


def test_bbox_keeps_only_points_inside(engine, layout):
    with engine.begin() as connection:
        records.store_chunk(connection, layout, frame(48), run_id=1)
        page = records.query(connection, layout, bbox=(-4.0, 43.0, -3.0, 44.0), limit=100)
    lons = [r["longitude"] for r in page.records]
    assert lons and all(-4.0 <= lon <= -3.0 for lon in lons)
    assert len(lons) == 11  # -4.0, -3.9, … -3.0 (floating point allowing)  # noqa: ERA001


def test_cursor_walks_every_row_once_in_time_order(engine, layout):
    with engine.begin() as connection:
        records.store_chunk(connection, layout, frame(95), run_id=1)
        seen, cursor = [], None
        while True:
            page = records.query(connection, layout, limit=10, cursor=cursor)
            seen += [r["count"] for r in page.records]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == list(range(95))


@pytest.mark.parametrize("cursor", ["garbage", "WzEsMl0", "bnVsbA", "WyJub3QtYS1kYXRlIiwgMV0"])
def test_a_forged_cursor_is_refused(engine, layout, cursor):
    with engine.begin() as connection, pytest.raises(records.QueryError):
        records.query(connection, layout, cursor=cursor)


def test_extent_reports_count_time_range_and_bbox(engine, layout):
    with engine.begin() as connection:
        records.store_chunk(connection, layout, frame(24), run_id=1)
        extent = records.extent(connection, layout)
    assert extent["count"] == 24
    assert extent["time_min"] == T0 and extent["time_max"] == T0 + timedelta(hours=23)
    assert extent["bbox"] == pytest.approx([-5.0, 43.0, -2.7, 43.23])


def test_time_and_space_filters_need_the_fields(engine):
    layout = records.layout_for(
        "rec_plain", {"fields": [{"name": "a", "type": "string"}]}, sa.MetaData()
    )
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        with pytest.raises(records.QueryError, match="no time field"):
            records.query(connection, layout, start=T0)
        with pytest.raises(records.QueryError, match="no coordinates"):
            records.query(connection, layout, bbox=(0, 0, 1, 1))


def test_time_queries_use_the_index(engine, layout):
    time_column = layout.table.c["observed_at"]
    statement = sa.select(layout.table).where(time_column >= T0).order_by(time_column)
    with engine.begin() as connection:
        records.store_chunk(connection, layout, frame(200), run_id=1)
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        if engine.dialect.name == "sqlite":
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
        else:  # a 200-row table would be scanned anyway: ask whether the index is usable
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {compiled}").fetchall()
    assert any(f"{layout.table.name}_time" in str(step) for step in plan), plan


def test_a_bbox_across_the_antimeridian_keeps_both_sides(engine, layout):
    chunk = frame(3).with_columns(
        pl.Series("longitude", [179.5, -179.5, 10.0]), pl.Series("latitude", [-17.0, -17.0, -17.0])
    )
    with engine.begin() as connection:
        records.store_chunk(connection, layout, chunk, run_id=1)
        page = records.query(connection, layout, bbox=(179.0, -18.0, -179.0, -16.0))
    assert sorted(r["longitude"] for r in page.records) == [-179.5, 179.5]


def test_identical_rows_of_a_keyless_schema_are_stored_once(engine):
    descriptor = {"fields": [{"name": "a", "type": "string"}, {"name": "b", "type": "number"}]}
    layout = records.layout_for("rec_twins", descriptor, sa.MetaData())
    chunk = pl.DataFrame({"a": ["x", "x", "y"], "b": [1.0, 1.0, float("inf")]})
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        assert records.store_chunk(connection, layout, chunk, run_id=1) == 2
        page = records.query(connection, layout)
    assert sorted((r["a"], r["b"]) for r in page.records) == [("x", 1.0), ("y", None)]


def test_rows_without_a_time_are_paged_too(engine):
    descriptor = {
        "fields": [{"name": "k", "type": "string"}, {"name": "t", "type": "datetime"}],
        "primaryKey": ["k"],
        "hub": {"time": "t"},
    }
    layout = records.layout_for("rec_gaps", descriptor, sa.MetaData())
    chunk = pl.DataFrame(
        {"k": ["a", "b", "c"], "t": [T0, None, T0 + timedelta(hours=1)]},
        schema_overrides={"t": pl.Datetime("us", "UTC")},
    )
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        records.store_chunk(connection, layout, chunk, run_id=1)
        seen, cursor = [], None
        while True:
            page = records.query(connection, layout, limit=1, cursor=cursor)
            seen += [r["k"] for r in page.records]
            if not (cursor := page.next_cursor):
                break
    assert seen == ["b", "a", "c"]
