"""Record tables: typed columns, idempotent upserts, indexed time/bbox queries, keyset cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as dtime

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
        # Neither time nor place: the extent is the count alone, and counts the table's rows.
        assert records.extent(connection, layout) == {
            "count": 3,
            "time_min": None,
            "time_max": None,
            "bbox": None,
        }


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


def test_a_cursor_page_starts_its_index_walk_at_the_cursor(engine, layout):
    """Far into a long walk, a page searches the time index from the cursor on: a scan from its
    first entry would make each page of a 10-million-row export slower than the last."""
    sent: list[tuple[str, object]] = []

    def keep(_connection, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    with engine.begin() as connection:
        records.store_chunk(connection, layout, frame(200), run_id=1)
        cursor = records.query(connection, layout, limit=150).next_cursor
        sa.event.listen(connection, "before_cursor_execute", keep)
        page = records.query(connection, layout, limit=10, cursor=cursor)
        sa.event.remove(connection, "before_cursor_execute", keep)
        statement, parameters = sent[-1]
        if engine.dialect.name == "sqlite":
            explained = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plan = [str(row[-1]) for row in explained]
            bounded = (
                f"SEARCH {layout.table.name} USING INDEX {layout.table.name}_time (observed_at>"
            )
        else:  # a 200-row table would be scanned anyway: ask how the index would be used
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = [
                row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            ]
            bounded = "Index Cond: (observed_at >"
    assert [r["count"] for r in page.records] == list(range(150, 160))
    assert any(bounded in step for step in plan), plan


def test_pages_read_every_type_as_to_record_does(engine):
    descriptor = {
        "fields": [
            {"name": "k", "type": "integer"},
            {"name": "at", "type": "datetime"},
            {"name": "v", "type": "number"},
            {"name": "ok", "type": "boolean"},
            {"name": "day", "type": "date"},
            {"name": "clock", "type": "time"},
            {"name": "label", "type": "string"},
            {"name": "shape", "type": "geojson"},
        ],
        "primaryKey": ["k"],
        "hub": {"time": "at"},
    }
    layout = records.layout_for("rec_types", descriptor, sa.MetaData())
    chunk = pl.DataFrame(
        {
            "k": [1, 2, 3, 4],
            "at": [T0, T0 + timedelta(minutes=90, microseconds=5), None, T0],
            "v": [1.5, float("nan"), float("-inf"), None],
            "ok": [True, False, None, True],
            "day": [T0.date(), None, T0.date(), T0.date()],
            "clock": [None, dtime(13, 30), dtime(0, 0, 1, 250), dtime(23, 59)],
            "label": ["a", None, "", 'é, "quoted"'],
            "shape": ['{"type": "Point", "coordinates": [1, 2]}', None, "{}", "[]"],
        },
        schema_overrides={"at": pl.Datetime("us", "UTC")},
    )
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        records.store_chunk(connection, layout, chunk, run_id=1)
        page = records.query(connection, layout, limit=10)
        table = layout.table
        ordered = sa.select(table).order_by(table.c.at.asc().nulls_first(), table.c._id)
        stored = connection.execute(ordered).mappings().all()
    assert page.records == [records.to_record(layout, row) for row in stored]
    assert [r["k"] for r in page.records] == [3, 1, 4, 2]
    assert page.records[3]["at"] == "2025-09-01T01:30:00.000005Z"
    assert page.records[3]["v"] is None and page.records[0]["v"] is None  # NaN, -inf
    assert page.records[0]["clock"] == "00:00:01.000250" and page.records[1]["day"] == "2025-09-01"


def test_a_time_index_without_the_place_is_rebuilt_with_it(engine, layout):
    """A table an earlier hub indexed on (time, id) only gets lon and lat in its time index on
    its next publish, its rows untouched; a time + bbox query then reads the box from it."""
    name = layout.table.name
    with engine.begin() as connection:
        records.store_chunk(connection, layout, frame(48), run_id=1)
        connection.exec_driver_sql(f'DROP INDEX "{name}_time"')
        connection.exec_driver_sql(f'CREATE INDEX "{name}_time" ON "{name}" (observed_at, _id)')
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        indexes = {i["name"]: i["column_names"] for i in sa.inspect(connection).get_indexes(name)}
        page = records.query(
            connection,
            layout,
            start=T0,
            end=T0 + timedelta(hours=30),
            bbox=(-4.0, 43.0, -3.0, 44.0),
        )
    assert indexes[f"{name}_time"] == ["observed_at", "_id", "longitude", "latitude"]
    assert indexes[f"{name}_key"] == ["station_id", "observed_at"]
    assert [r["count"] for r in page.records] == list(range(10, 21))


def test_a_personal_table_gets_its_subject_index_on_its_next_publish(engine):
    """Personal rows are read one subject at a time: their table is indexed on (subject, time,
    id), and a table an earlier hub made without that index gets it on its next publish."""
    descriptor = {**DESCRIPTOR, "hub": {**DESCRIPTOR["hub"], "subject": "station_id"}}
    layout = records.layout_for(records.table_name_for("demo/own"), descriptor, sa.MetaData())
    name = layout.table.name
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        records.store_chunk(connection, layout, frame(48), run_id=1)
        connection.exec_driver_sql(f'DROP INDEX "{name}_subject"')
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        indexes = {i["name"]: i["column_names"] for i in sa.inspect(connection).get_indexes(name)}
        page = records.query(
            connection,
            layout,
            start=T0,
            end=T0 + timedelta(hours=12),
            within=layout.table.c.station_id.in_(["S1"]),
        )
    assert indexes[f"{name}_subject"] == ["station_id", "observed_at", "_id"]
    assert [r["count"] for r in page.records] == [1, 4, 7, 10]


def test_stamps_are_read_back_as_iso_whatever_text_sqlite_holds(engine, layout):
    """SQLite keeps datetimes as text; a records page spells them as ISO 8601 in UTC, whether
    the text has microseconds, none, or was written without them by another tool, and pages
    on from a cursor through such rows."""
    name = layout.table.name
    stamps = ["2025-09-01 00:00:00.000000", "2025-09-01 00:30:00.000250", "2025-09-01 01:00:00"]
    with engine.begin() as connection:
        if connection.dialect.name != "sqlite":
            pytest.skip("the text forms are SQLite's")
        for number, stamp in enumerate(stamps):
            connection.exec_driver_sql(
                f'INSERT INTO "{name}" (_run, station_id, observed_at, count) VALUES (1, ?, ?, ?)',
                (f"S{number}", stamp, number),
            )
    with engine.connect() as connection:
        first = records.query(connection, layout, limit=2)
        rest = records.query(connection, layout, limit=2, cursor=first.next_cursor)
    assert [r["observed_at"] for r in first.records + rest.records] == [
        "2025-09-01T00:00:00Z",
        "2025-09-01T00:30:00.000250Z",
        "2025-09-01T01:00:00Z",
    ]
    assert [r["count"] for r in rest.records] == [2]


def _sent(connection, read):
    """The last statement `read(connection)` sent, with its parameters, and what it returned."""
    sent: list[tuple[str, object]] = []

    def keep(_connection, _cursor, statement, parameters, _context, _many):
        sent.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", keep)
    try:
        result = read(connection)
    finally:
        sa.event.remove(connection, "before_cursor_execute", keep)
    return sent[-1], result


def _plan(connection, statement, parameters) -> list[str]:
    """The plan steps of a statement: PostgreSQL's nodes ('Index Scan Backward on <index>',
    'Sort', ...) from its JSON plan, or SQLite's EXPLAIN QUERY PLAN lines."""
    if connection.dialect.name == "sqlite":
        explained = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return [str(row[-1]) for row in explained]
    (document,) = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
    steps, nodes = [], [document[0][0]["Plan"]]
    while nodes:
        node = nodes.pop()
        backward = " Backward" if node.get("Scan Direction") == "Backward" else ""
        index = f" on {node['Index Name']}" if "Index Name" in node else ""
        steps.append(f"{node['Node Type']}{backward}{index}")
        nodes += node.get("Plans", [])
    return steps


def _with_gaps(chunk: pl.DataFrame, every: int) -> pl.DataFrame:
    """A frame whose every `every`th row has no time, each at a station of its own (the store
    keeps one row per key, a missing time being one value there)."""
    empty = pl.Series([i % every == every - 1 for i in range(chunk.height)])
    return chunk.with_columns(
        pl.when(empty).then(None).otherwise(pl.col("observed_at")).alias("observed_at"),
        pl.when(empty)
        .then(pl.format("gap{}", pl.col("count")))
        .otherwise(pl.col("station_id"))
        .alias("station_id"),
    )


def _counts_in_default_order(connection, layout) -> list[int]:
    """The rows' counts sorted here, as the default order has them: no time first, then by
    time, then by id."""
    table = layout.table
    rows = connection.execute(sa.select(table.c["count"], table.c.observed_at, table.c._id))
    return [
        row.count
        for row in sorted(
            rows, key=lambda r: (r.observed_at is not None, str(r.observed_at), r._id)
        )
    ]


def test_a_default_order_page_in_the_middle_walks_the_time_index_unsorted(engine, layout):
    """The default order (time ascending with empty cells first, then id) is the time index's
    own order on both stores: a cursor page far into a walk reads its rows from the index and
    sorts nothing, on PostgreSQL too, which keeps NULLs last in a plain ascending index."""
    name = layout.table.name
    with engine.begin() as connection:
        records.store_chunk(connection, layout, _with_gaps(frame(3000), every=100), run_id=1)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f'ANALYZE "{name}"')
        seen = records.query(connection, layout, limit=1500)
        (statement, parameters), page = _sent(
            connection, lambda c: records.query(c, layout, limit=100, cursor=seen.next_cursor)
        )
        plan = _plan(connection, statement, parameters)
        ordered = _counts_in_default_order(connection, layout)
    assert set(ordered[:30]) == set(range(99, 3000, 100))  # the rows without a time first
    assert [r["count"] for r in seen.records] == ordered[:1500]
    assert [r["count"] for r in page.records] == ordered[1500:1600]
    if connection.dialect.name == "sqlite":
        assert any(f"USING INDEX {name}_time (observed_at>" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
    else:
        assert f"Index Scan on {name}_time" in plan, plan
        assert not any("Sort" in step for step in plan), plan


def test_the_newest_rows_walk_the_time_index_backwards(engine, layout):
    """`latest` reads the default order reversed, rows without a time last, and sorts nothing
    for it on either store."""
    name = layout.table.name
    with engine.begin() as connection:
        records.store_chunk(connection, layout, _with_gaps(frame(3000), every=100), run_id=1)
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f'ANALYZE "{name}"')
        (statement, parameters), newest = _sent(connection, lambda c: records.latest(c, layout, 5))
        plan = _plan(connection, statement, parameters)
        every = records.latest(connection, layout, 3000)
        ordered = _counts_in_default_order(connection, layout)
    assert [r["count"] for r in newest] == [2998, 2997, 2996, 2995, 2994]
    assert [r["count"] for r in every] == ordered[::-1]  # those without a time last
    if connection.dialect.name == "sqlite":
        assert any(f"USING INDEX {name}_time" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
    else:
        assert f"Index Scan Backward on {name}_time" in plan, plan
        assert not any("Sort" in step for step in plan), plan


def test_a_postgresql_time_index_keeping_nulls_last_is_rebuilt_on_the_next_publish(engine, caplog):
    """A table an earlier hub indexed on plain ascending time (NULLs last on PostgreSQL) gets
    its time and subject indexes rebuilt with empty cells first on its next publish, its rows
    untouched."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's ascending indexes keep NULLs first already")
    descriptor = {**DESCRIPTOR, "hub": {**DESCRIPTOR["hub"], "subject": "station_id"}}
    layout = records.layout_for(records.table_name_for("demo/old"), descriptor, sa.MetaData())
    name = layout.table.name
    old = {
        f"{name}_time": "observed_at, _id, longitude, latitude",
        f"{name}_subject": "station_id, observed_at, _id",
    }
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        records.store_chunk(connection, layout, frame(48), run_id=1)
        for index, columns in old.items():
            connection.exec_driver_sql(f'DROP INDEX "{index}"')
            connection.exec_driver_sql(f'CREATE INDEX "{index}" ON "{name}" ({columns})')

    def sorting(connection):
        indexes = sa.inspect(connection).get_indexes(name)
        return {i["name"]: i.get("column_sorting") for i in indexes if i["name"] in old}

    with engine.begin() as connection:
        before = sorting(connection)
        with caplog.at_level("INFO", logger="hub.records"):
            records.ensure_table(connection, layout)
    with engine.begin() as connection:
        after = sorting(connection)
        page = records.query(connection, layout, limit=100)
    assert before == dict.fromkeys(old)
    assert after == dict.fromkeys(old, {"observed_at": ("nulls_first",)})
    rebuilt = sorted(r.message.split()[2] for r in caplog.records if "rebuilt" in r.message)
    assert rebuilt == sorted(old)
    assert [r["count"] for r in page.records] == list(range(48))


def test_a_table_with_the_current_indexes_keeps_them_on_its_next_publish(engine, caplog):
    """Publishing again into a table with the current indexes rebuilds none of them (on
    PostgreSQL, the order its inspector reports is the order `layout_for` asks for)."""
    descriptor = {**DESCRIPTOR, "hub": {**DESCRIPTOR["hub"], "subject": "station_id"}}
    layout = records.layout_for(records.table_name_for("demo/now"), descriptor, sa.MetaData())
    with engine.begin() as connection:
        records.ensure_table(connection, layout)
        records.store_chunk(connection, layout, frame(48), run_id=1)
    with caplog.at_level("INFO", logger="hub.records"), engine.begin() as connection:
        records.ensure_table(connection, layout)
        page = records.query(connection, layout, limit=100)
    assert not [r.message for r in caplog.records if "index" in r.message]
    assert [r["count"] for r in page.records] == list(range(48))


def test_the_newest_row_of_each_series_however_long_it_was_silent(engine, layout):
    """Series are the key but for its time (here a station): each one's newest row inside the
    grant, newest first, though another series sent far more rows since; a capped count keeps
    the first series in key order; rows that are no series are refused."""
    busy = frame(300)  # S0, S1, S2 in turn, hour after hour
    quiet = frame(1, start=-500).with_columns(pl.lit("S9").alias("station_id"))
    with engine.begin() as connection:
        records.store_chunk(connection, layout, pl.concat([quiet, busy]), run_id=1)
    assert records.series_columns(layout) == ["station_id"]
    with engine.connect() as connection:
        every = records.latest_of_each_series(connection, layout)
        east = layout.table.c.longitude > 20.0  # a grant's area: S9 and early hours are out
        granted = records.latest_of_each_series(connection, layout, within=east)
        capped = records.latest_of_each_series(connection, layout, max_series=2)
    assert [(r["station_id"], r["count"]) for r in every] == [
        ("S2", 299), ("S1", 298), ("S0", 297), ("S9", -500)
    ]  # fmt: skip
    assert [(r["station_id"], r["count"]) for r in granted] == [
        ("S2", 299),
        ("S1", 298),
        ("S0", 297),
    ]
    assert {r["station_id"] for r in capped} == {"S0", "S1"}
    with engine.connect() as connection:
        mine = layout.table.c.station_id.in_(["S1"])
        walked = records.latest_of_each_series(connection, layout, mine, max_series=1, walk=mine)
    assert [(r["station_id"], r["count"]) for r in walked] == [("S1", 298)]  # S0 comes first
    untimed = records.layout_for(
        "rec_untimed", {**DESCRIPTOR, "primaryKey": ["station_id"]}, sa.MetaData()
    )
    assert records.series_columns(untimed) == []
    with engine.connect() as connection, pytest.raises(ValueError, match="no series"):
        records.latest_of_each_series(connection, untimed)
