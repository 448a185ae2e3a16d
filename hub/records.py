"""Typed record tables built from Table Schemas (like CKAN's datastore), indexed on time and place.

Each resource gets one table: `_id` (insertion order), `_run` (the run that last wrote the row),
`_hash` when the schema has no primary key, then one typed column per schema field. Rows are
upserted
on the primary key (else the content hash), so harvesting the same file twice adds nothing and
a corrected value replaces the old one.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeGuard, TypeVar

import polars as pl
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators

from hub import jsontext, selection
from hub.models import as_utc
from hub.selection import QueryError as QueryError  # raised here, re-exported for callers
from hub.validation.readahead import read_ahead

log = logging.getLogger(__name__)

SQL_TYPES: dict[str, Any] = {
    "integer": sa.BigInteger,
    "year": sa.Integer,
    "number": sa.Float,
    "boolean": sa.Boolean,
    "datetime": lambda: sa.DateTime(timezone=True),
    "date": sa.Date,
    "time": sa.Time,
}
RESERVED = {"_id", "_run", "_hash"}
Item = TypeVar("Item")
SORT_THREADS = 2  # helper threads sorting an index's runs (`_sorting_in_threads`)
SORT_RUN_KIB = 4_096
SQLITE_CACHE_KIB = 131_072  # the key index of a few million rows stays in memory while loading
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Layout:
    """Where a schema's fields live in its record table."""

    table: sa.Table
    columns: dict[str, str]  # field name -> column name
    types: dict[str, str]  # field name -> Table Schema type
    key: list[str]  # unique columns (primary key fields, else ["_hash"])
    time: str | None  # column names of the indexed time and lon/lat, if the schema has them
    lon: str | None
    lat: str | None
    subject: str | None = None  # column of the pseudonymous subject key of personal rows
    geometry: str | None = None  # column of the GeoJSON field the schema names (`hub.geometry`)
    end: str | None = None  # column of a row's last day or instant (`hub.end`), if it has one
    # Whether an empty `end` means "not ended yet" (an outage still ongoing): so when the end is
    # a field of its own; when the gate derives it from a `period`, an empty end is the time's.
    open_end: bool = False


def table_name_for(dataset_id: str) -> str:
    """A stable, safe table name for a dataset's records."""
    slug = re.sub(r"[^a-z0-9]+", "_", dataset_id.lower()).strip("_")[:40]
    digest = hashlib.sha1(dataset_id.encode()).hexdigest()[:8]
    return f"rec_{slug}_{digest}"


def column_names(fields: list[dict[str, Any]]) -> dict[str, str]:
    """Map field names to column names: kept when safe, else sanitised and numbered."""
    names: dict[str, str] = {}
    used: set[str] = set(RESERVED)
    for index, field in enumerate(fields):
        name = field["name"]
        column = name if _NAME.match(name) and name.lower() not in used else None
        if column is None:
            base = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()[:50] or "field"
            column = f"f{index}_{base}"
        used.add(column.lower())
        names[name] = column
    return names


def layout_for(table_name: str, descriptor: dict[str, Any], metadata: sa.MetaData) -> Layout:
    """Build (without creating) the record table for a Table Schema descriptor."""
    fields = descriptor["fields"]
    columns = column_names(fields)
    types = {f["name"]: f.get("type", "string") for f in fields}
    primary_key = descriptor.get("primaryKey") or []
    if isinstance(primary_key, str):
        primary_key = [primary_key]
    hub = descriptor.get("hub") or {}
    sa_columns: list[Any] = [
        sa.Column("_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("_run", sa.Integer, nullable=False),
    ]
    if not primary_key:
        sa_columns.append(sa.Column("_hash", sa.String(40), nullable=False))
    for field in fields:
        sql_type = SQL_TYPES.get(types[field["name"]], sa.Text)
        sa_columns.append(sa.Column(columns[field["name"]], sql_type(), nullable=True))
    key = [columns[name] for name in primary_key] if primary_key else ["_hash"]
    time_col, lon_col, lat_col = (columns.get(hub.get(k, "")) for k in ("time", "lon", "lat"))
    table = sa.Table(table_name, metadata, *sa_columns)
    sa.Index(f"{table_name}_key", *(table.c[c] for c in key), unique=True)
    if time_col:
        # The place in the time index: a time + bbox query reads the table only for the rows
        # in its box, not for every row of its window (SQLite tests index columns before it
        # seeks the row): one station's day among 10 million rows, 71 ms -> 6 ms.
        # Its time column is in the default order of a page (`_ordering`: empty cells first
        # going up), so that PostgreSQL, which keeps NULLs last in a plain ascending index,
        # walks it for that order instead of sorting every row after the cursor: a page of
        # 1,000 in the middle of 300,000 rows, 26-60 ms -> 5-12 ms. SQLite's CREATE INDEX takes
        # no NULLS FIRST and needs none (`_create_index_in_sqlite` leaves it out there).
        place = [table.c[lon_col], table.c[lat_col]] if lon_col and lat_col else []
        ordered = _ordering(table.c[time_col], descending=False)
        sa.Index(f"{table_name}_time", ordered, table.c["_id"], *place)
    if lon_col and lat_col:
        sa.Index(f"{table_name}_lonlat", table.c[lon_col], table.c[lat_col])
    subject_col = columns.get(hub.get("subject", ""))
    if subject_col and time_col:
        # Personal rows are read one subject at a time, in time order (hub.reading): a month of
        # one household among a year of a thousand is a seek, not a walk through its key index.
        ordered = _ordering(table.c[time_col], descending=False)
        sa.Index(f"{table_name}_subject", table.c[subject_col], ordered, table.c["_id"])
    geometry_col = columns.get(hub.get("geometry", ""))
    end_col = columns.get(hub.get("end", ""))
    open_end = bool(end_col) and not hub.get("period")
    return Layout(
        table,
        columns,
        types,
        key,
        time_col,
        lon_col,
        lat_col,
        subject_col,
        geometry_col,
        end_col,
        open_end,
    )


def ensure_table(connection: Connection, layout: Layout) -> None:
    """Create the record table and its indexes if they do not exist yet, or add the columns
    of fields a new schema version added (`hub.resources.register_records` allows only that)."""
    layout.table.create(connection, checkfirst=True)
    inspector = sa.inspect(connection)
    present = {column["name"] for column in inspector.get_columns(layout.table.name)}
    for column in layout.table.columns:
        if column.name not in present:
            kind = column.type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(
                f"ALTER TABLE {_q(layout.table.name)} ADD COLUMN {_q(column.name)} {kind}"
            )
    _renew_indexes(connection, layout, inspector)


def _renew_indexes(connection: Connection, layout: Layout, inspector: sa.Inspector) -> None:
    """Rebuild an index an earlier hub made on other columns under the same name (a time
    index without the place, say), or, on PostgreSQL, in another order (a time index keeping
    NULLs last), and add one it did not make (the subject index): a table gets the current
    indexes on its next publish."""
    # SQLite's inspector reports no order, and its ascending indexes keep NULLs first anyway.
    sorted_apart = connection.dialect.name == "postgresql"
    found = {
        i["name"]: (i["column_names"], i.get("column_sorting", {}) if sorted_apart else {})
        for i in inspector.get_indexes(layout.table.name)
    }
    for index in layout.table.indexes:
        wanted = [column.name for column in index.columns]
        if index.name not in found:
            log.info("%s: index %s added on %s", layout.table.name, index.name, wanted)
            if index.unique:
                _create_key_index(connection, layout, index)
            else:
                index.create(connection)
        elif found[index.name] != (wanted, _sorting(index) if sorted_apart else {}):
            log.info("%s: index %s rebuilt on %s", layout.table.name, index.name, wanted)
            index.drop(connection)
            index.create(connection)


def _sorting(index: sa.Index) -> dict[str, tuple[str, ...]]:
    """How an index sorts its columns where PostgreSQL's defaults differ, spelled as its
    inspector reports it (`column_sorting`): `("nulls_first",)` for `time ASC NULLS FIRST`."""
    sorting = {}
    for expression in index.expressions:
        modifiers = set()
        while isinstance(expression, sa.UnaryExpression):
            modifiers.add(expression.modifier)
            expression = expression.element
        flags: tuple[str, ...] = ()
        if operators.desc_op in modifiers:  # descending keeps NULLs first unless told
            flags = ("desc", "nulls_last") if operators.nulls_last_op in modifiers else ("desc",)
        elif operators.nulls_first_op in modifiers:  # ascending keeps them last unless told
            flags = ("nulls_first",)
        if flags and isinstance(expression, sa.Column):
            sorting[expression.name] = flags
    return sorting


@compiles(sa.schema.CreateIndex, "sqlite")
def _create_index_in_sqlite(create: sa.schema.CreateIndex, compiler: Any, **kw: Any) -> str:
    """CREATE INDEX on SQLite without the NULLS FIRST/LAST of an index column, which it refuses
    (an ascending SQLite index keeps NULLs first anyway, as the default order wants).

    A compile hook keeps one definition of each index in `layout_for`, in the very order the
    queries ask for, and only SQLite's spelling of it differs. Rejected: an Index per dialect
    (`ddl_if`) would put each index twice in `table.indexes`, which `_renew_indexes` and
    `bulk_loading` walk; `postgresql_ops` names operator classes, not orders.
    """
    index = create.element
    if any(_nulls_modifier(expression) for expression in index.expressions):
        index = copy.copy(index)  # a copy, not a new Index: that would join the table's indexes
        index.expressions = [
            expression.element if _nulls_modifier(expression) else expression
            for expression in index.expressions
        ]
        create = sa.schema.CreateIndex(index, if_not_exists=create.if_not_exists)
    return str(compiler.visit_create_index(create, **kw))


def _nulls_modifier(expression: Any) -> TypeGuard[sa.UnaryExpression[Any]]:
    return isinstance(expression, sa.UnaryExpression) and expression.modifier in (
        operators.nulls_first_op,
        operators.nulls_last_op,
    )


@dataclass
class Load:
    """How a bulk load writes: upserts on the key index, or plain inserts into an empty table
    whose key index is built once loaded (`bulk_loading`)."""

    upserts: bool = True


@contextmanager
def bulk_loading(connection: Connection, layout: Layout) -> Iterator[Load]:
    """Prepare for a large write; an empty table gets its indexes afterwards.

    Building an index once, sorted, is several times faster than growing it row by row. On
    PostgreSQL, and for a table keyed by content hash, the unique key index stays: upserts need
    it. An empty SQLite table with a primary key takes plain inserts and gets its key index at
    the end: the validator has quarantined every repeated key of the batch, and should two
    keys it told apart still be one to the database (a naive and an aware stamp of the same
    instant), the later row wins, as an upsert would have it.
    """
    load = Load()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    empty = not count_rows(connection, layout)
    deferred = [index for index in layout.table.indexes if not index.unique] if empty else []
    if empty and connection.dialect.name == "sqlite" and layout.key != ["_hash"]:
        deferred = list(layout.table.indexes)
        load.upserts = False
    for index in deferred:
        index.drop(connection, checkfirst=True)
    yield load
    with _sorting_in_threads(connection, bool(deferred)):
        for index in sorted(deferred, key=lambda index: not index.unique):  # the key first
            if index.unique:
                _create_key_index(connection, layout, index)
            else:
                index.create(connection, checkfirst=True)
    if connection.dialect.name == "postgresql":
        # A freshly loaded table has no statistics until autovacuum comes by: the planner would
        # scan a whole bbox through the lon/lat index instead of the time index (40 ms, not 2).
        connection.exec_driver_sql(f"ANALYZE {_q(layout.table.name)}")


@contextmanager
def _sorting_in_threads(connection: Connection, building: bool) -> Iterator[None]:
    """SQLite sorting an index's entries in runs on helper threads while it builds the index.

    While the entries fit in its cache, SQLite sorts them on the connection's thread alone;
    with helper threads and a cache of SORT_RUN_KIB, it sorts runs of that size beside its scan
    of the table and merges them (`PRAGMA threads`). The indexes are built after the inserts,
    when the validating thread has finished and a core is free: the three indexes of 1M
    air-quality rows, 1.55 s -> 1.2-1.36 s (1 to 3 threads, runs of 2-4 MiB; 16 MiB runs gain
    nothing, 32 MiB lose)."""
    if not building or connection.dialect.name != "sqlite":
        yield
        return
    cache = int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())
    connection.exec_driver_sql(f"PRAGMA threads={SORT_THREADS}")
    connection.exec_driver_sql(f"PRAGMA cache_size=-{SORT_RUN_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA threads=0")
        connection.exec_driver_sql(f"PRAGMA cache_size={cache}")  # as the load had it


def _create_key_index(connection: Connection, layout: Layout, index: sa.Index) -> None:
    """Build the unique key index of a freshly loaded table, keeping the last row of a key."""
    try:
        with connection.begin_nested():
            index.create(connection, checkfirst=True)
        return
    except sa.exc.IntegrityError:
        log.warning("%s: rows of one key loaded twice: the later kept", layout.table.name)
    key = ", ".join(_q(c) for c in layout.key)
    filled = " AND ".join(f"{_q(c)} IS NOT NULL" for c in layout.key)  # NULLs never collide
    name = _q(layout.table.name)
    connection.exec_driver_sql(
        f"DELETE FROM {name} WHERE {filled} AND _id NOT IN "
        f"(SELECT max(_id) FROM {name} GROUP BY {key})"
    )
    index.create(connection, checkfirst=True)


def stored_values(connection: Connection, layout: Layout, fields: list[str]) -> pl.DataFrame:
    """The distinct values the stored rows hold in these fields (a foreign key's lookup)."""
    columns = [layout.table.c[layout.columns[name]] for name in fields]
    rows = connection.execute(sa.select(*columns).distinct()).all()
    return pl.DataFrame([list(row) for row in rows], schema=fields, orient="row")


def count_rows(connection: Connection, layout: Layout) -> int:
    """How many records the table holds."""
    return connection.execute(sa.select(sa.func.count()).select_from(layout.table)).scalar_one()


def store_chunk(connection: Connection, layout: Layout, chunk: pl.DataFrame, run_id: int) -> int:
    """Upsert a typed chunk; returns how many rows were inserted or changed."""
    staged = stage_chunk(layout, chunk, connection.dialect.name)
    return store_staged(connection, layout, staged, run_id)


@dataclass(frozen=True)
class Staged:
    """A typed chunk made ready for one database: its columns and its values in that
    database's form (Python lists, one per column, for SQLite; CSV text for PostgreSQL's COPY)."""

    columns: list[str]
    values: list[list[Any]] | bytes
    height: int


def stage_chunk(layout: Layout, chunk: pl.DataFrame, dialect: str) -> Staged:
    """A typed chunk ready for `store_staged` (no database needed: it may run in a thread)."""
    if chunk.height == 0:
        return Staged([], [], 0)
    frame = _frame_for_storage(layout, chunk)
    if dialect == "postgresql":
        buffer = io.BytesIO()
        frame.write_csv(
            buffer,
            include_header=False,
            datetime_format="%Y-%m-%d %H:%M:%S%.f%z",
            time_format="%H:%M:%S%.f",
        )
        return Staged(frame.columns, buffer.getvalue(), frame.height)
    frame = frame.with_columns(_sqlite_values(frame))
    return Staged(
        frame.columns, [column.to_list() for column in frame.iter_columns()], frame.height
    )


def staged_ahead(
    layout: Layout, dialect: str, items: Iterator[Item], frame_of: Callable[[Item], pl.DataFrame]
) -> Iterator[tuple[Item, Staged]]:
    """Each item with its typed frame staged, the next one staged in a helper thread while the
    caller stores this one (polars releases the GIL; the database driver, while it writes)."""
    return read_ahead((item, stage_chunk(layout, frame_of(item), dialect)) for item in items)


def store_staged(
    connection: Connection,
    layout: Layout,
    staged: Staged,
    run_id: int,
    load: Load | None = None,
    kept: frozenset[str] = frozenset(),
) -> int:
    """Upsert a staged chunk (insert, where `load` says so); returns how many rows were
    inserted or changed. The `kept` fields (those the source does not give) are empty in the
    rows it inserts and left as they are in the rows it updates."""
    if staged.height == 0:
        return 0
    keep = frozenset(layout.columns[name] for name in kept if name in layout.columns)
    if isinstance(staged.values, bytes):
        return _copy_upsert(connection, layout, staged.columns, staged.values, run_id, keep)
    upserts = load is None or load.upserts
    return _executemany_upsert(
        connection, layout, staged.columns, staged.values, run_id, upserts, keep
    )


def _frame_for_storage(layout: Layout, chunk: pl.DataFrame) -> pl.DataFrame:
    """Rename fields to columns, add the content hash when there is no primary key."""
    fields = list(layout.columns)
    frame = chunk.select([pl.col(f).alias(layout.columns[f]) for f in fields])
    if layout.key == ["_hash"]:
        frame = frame.with_columns(pl.Series("_hash", _content_hashes(chunk.select(fields))))
    # One row per key (identical rows of a keyless schema would make PostgreSQL's upsert touch a
    # row twice); key order keeps B-tree inserts local.
    frame = frame.unique(subset=layout.key, keep="last", maintain_order=True)
    return frame.sort(layout.key, nulls_last=True)


def _content_hashes(frame: pl.DataFrame) -> list[str]:
    # hashlib, not polars' hash: keys must stay stable across library versions.
    text = frame.select(
        pl.concat_str(
            [pl.col(c).cast(pl.Utf8).fill_null("\x00") for c in frame.columns], separator="\x1f"
        )
    ).to_series()
    return [hashlib.sha1(s.encode()).hexdigest() for s in text]


def _upsert_clause(
    layout: Layout, target: str, columns: list[str], excluded: str, keep: frozenset[str]
) -> str:
    """ON CONFLICT … DO UPDATE only when a value really changed (so re-runs are no-ops); the
    `keep` columns are never updated (a value pushed into a field the feed lacks survives it)."""
    key = ", ".join(_q(c) for c in layout.key)
    changing = [c for c in columns if c not in layout.key and c != "_hash" and c not in keep]
    if not changing:
        return f"ON CONFLICT ({key}) DO NOTHING"
    sets = ", ".join(f"{_q(c)} = {excluded}.{_q(c)}" for c in [*changing, "_run"])
    differs = " OR ".join(f"{target}.{_q(c)} IS DISTINCT FROM {excluded}.{_q(c)}" for c in changing)
    return f"ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {differs}"


def _executemany_upsert(
    connection: Connection,
    layout: Layout,
    columns: list[str],
    values: list[list[Any]],
    run_id: int,
    upserts: bool = True,
    keep: frozenset[str] = frozenset(),
) -> int:
    name = _q(layout.table.name)
    placeholders = ", ".join("?" for _ in columns)
    upsert = _upsert_clause(layout, name, columns, "excluded", keep)
    upsert = upsert.replace("IS DISTINCT FROM", "IS NOT")
    if not upserts:  # an empty table being loaded, its key index built afterwards
        upsert = ""
    sql = (
        f"INSERT INTO {name} (_run, {', '.join(_q(c) for c in columns)}) "
        f"VALUES ({int(run_id)}, {placeholders}) {upsert}"
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    before = connection.connection.driver_connection.total_changes  # type: ignore[union-attr]
    # rows zipped from the column lists as they are bound: zip reuses its tuple when the driver
    # lets go of the previous one, so no row is allocated (columns to lists beats iter_rows)
    cursor.executemany(sql, zip(*values, strict=True))
    return connection.connection.driver_connection.total_changes - before  # type: ignore[union-attr]


SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%6f"  # a time as SQLAlchemy's SQLite types hold it


def _sqlite_values(frame: pl.DataFrame) -> list[pl.Expr]:
    """Format temporal columns the way SQLAlchemy's SQLite types read them back."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            col = pl.col(name)
            if dtype.time_zone:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            exprs.append(col.dt.strftime(SQLITE_DATETIME).alias(name))
        elif dtype == pl.Date:
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%d").alias(name))
        elif dtype == pl.Time:
            exprs.append(pl.col(name).dt.strftime("%H:%M:%S.%6f").alias(name))
    return exprs


def _copy_upsert(
    connection: Connection,
    layout: Layout,
    columns: list[str],
    text: bytes,
    run_id: int,
    keep: frozenset[str] = frozenset(),
) -> int:
    """COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT."""
    staging = f"stage_{layout.table.name}"[:63]
    quoted = ", ".join(_q(c) for c in columns)
    raw = connection.connection.driver_connection  # psycopg connection
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_q(staging)} ON COMMIT DROP AS "
            f"SELECT {quoted} FROM {_q(layout.table.name)} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {_q(staging)}")
        with cursor.copy(f"COPY {_q(staging)} ({quoted}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(text)
        target = _q(layout.table.name)
        upsert = _upsert_clause(layout, target, columns, "EXCLUDED", keep)
        cursor.execute(
            f"INSERT INTO {target} (_run, {quoted}) "
            f"SELECT {int(run_id)}, {quoted} FROM {_q(staging)} {upsert}"
        )
        return cursor.rowcount


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def drop_table(connection: Connection, layout: Layout) -> None:
    """Drop a record table (withdrawing a dataset)."""
    layout.table.drop(connection, checkfirst=True)


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page of records, the cursor of the next, if any, and what the reader added."""

    records: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None = None  # rows matching over every page, when asked for
    etag: str = ""  # the read's version (hub.reading), for conditional requests


def query(
    connection: Connection,
    layout: Layout,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    cursor: str | None = None,
    within: sa.ColumnElement[bool] | None = None,
    filters: Sequence[selection.Filter] = (),
    sort: Sequence[selection.SortKey] = (),
    offset: int = 0,
) -> Page:
    """Records in [start, end), inside bbox and matching the filters, ordered by time then
    insertion (or by `sort`, then insertion), keyset-paged; `offset` rows skipped first (CKAN's
    offset: the database walks them, the page's cursor goes on from there).

    `within` is the reader's grant as a condition (hub.reading builds it); it is always applied.
    """
    keys = _order(layout, sort, connection.dialect.name)
    statement = (
        sa.select(*_read_columns(layout, connection.dialect.name))
        .where(*_conditions(layout, connection.dialect.name, start, end, bbox, within, filters))
        .order_by(*(_ordering(column, descending) for column, descending in keys))
        .limit(limit + 1)
        .offset(offset or None)
    )
    if cursor:
        statement = statement.where(_after(keys, decode_position(layout, sort, cursor)))
    rows = connection.execute(statement).all()
    more = len(rows) > limit
    rows = rows[:limit]
    records = to_records(layout, rows)
    next_cursor = encode_position(layout, sort, _typed(layout, rows[-1])) if more and rows else None
    return Page(records, next_cursor)


def _read_columns(layout: Layout, dialect: str) -> list[sa.ColumnElement[Any]]:
    """The columns a records query reads, datetimes as UTC text `YYYY-MM-DD HH:MM:SS.ffffff`,
    which `_instant` spells as ISO 8601 directly: SQLite's are stored so, PostgreSQL's are
    formatted by the server. A datetime made of each value to be formatted again took a fifth
    of a subject's month of half-hours on SQLite, a third on PostgreSQL (1,440 rows)."""
    stamps = {layout.columns[f] for f, kind in layout.types.items() if kind == "datetime"}
    return [
        _as_text(column, dialect) if column.name in stamps else column
        for column in layout.table.columns
    ]


def _as_text(column: sa.Column[Any], dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        utc = sa.func.timezone("UTC", column)
        return sa.func.to_char(utc, "YYYY-MM-DD HH24:MI:SS.US", type_=sa.Text).label(column.name)
    return sa.type_coerce(column, sa.Text).label(column.name)


def _typed(layout: Layout, row: sa.Row[Any]) -> dict[str, Any]:
    """A row of `_read_columns` with its datetimes as datetimes again (for its cursor)."""
    values = dict(row._mapping)
    for field, kind in layout.types.items():
        column = layout.columns[field]
        if kind == "datetime" and isinstance(values[column], str):
            values[column] = datetime.fromisoformat(values[column])
    return values


def count(
    connection: Connection,
    layout: Layout,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    within: sa.ColumnElement[bool] | None = None,
    filters: Sequence[selection.Filter] = (),
) -> int:
    """How many records `query` would give over all its pages."""
    conditions = _conditions(layout, connection.dialect.name, start, end, bbox, within, filters)
    statement = sa.select(sa.func.count()).select_from(layout.table).where(*conditions)
    return int(connection.execute(statement).scalar_one())


def _conditions(
    layout: Layout,
    dialect: str,
    start: datetime | None,
    end: datetime | None,
    bbox: tuple[float, float, float, float] | None,
    within: sa.ColumnElement[bool] | None,
    filters: Sequence[selection.Filter],
) -> list[sa.ColumnElement[bool]]:
    """The WHERE of a records query: the grant first, then what the caller asked for."""
    conditions = [] if within is None else [within]
    if start is not None or end is not None:
        if not layout.time:
            raise QueryError("this dataset has no time field to filter on")
        conditions += overlapping(layout, start, end)
    if bbox is not None:
        if not (layout.lon and layout.lat):
            raise QueryError("this dataset has no coordinates to filter on")
        conditions.append(inside(layout, bbox))
    conditions += [selection.condition(layout, chosen, dialect) for chosen in filters]
    return conditions


def overlapping(
    layout: Layout, start: datetime | None, end: datetime | None
) -> list[sa.ColumnElement[bool]]:
    """The rows of a timed table that overlap a window [start, end): they start before it
    ends, and end (or, without an end, happen) at or after it starts; a row not ended yet (an
    outage still ongoing) overlaps every window from its start on."""
    time_column = layout.table.c[layout.time or ""]
    conditions = []
    if start is not None:
        bound = time_bound(layout, start)
        if layout.open_end and layout.end:
            ended = layout.table.c[layout.end]
            ongoing = sa.and_(ended.is_(None), time_column.is_not(None))
            conditions.append(sa.or_(ended >= bound, ongoing))
        else:
            conditions.append(last_moment(layout) >= bound)
    if end is not None:
        conditions.append(time_column < time_bound(layout, end))
    return conditions


def last_moment(layout: Layout) -> sa.ColumnElement[Any]:
    """A row's last day or instant: its `end` where it has one, else its time.

    A row covering a period (a specimen collected "2019-05") is in a `from`/`to` window that
    overlaps it: it starts before the window ends and ends after the window starts.
    """
    time_column = layout.table.c[layout.time or ""]
    if not layout.end:
        return time_column
    return sa.func.coalesce(layout.table.c[layout.end], time_column, type_=time_column.type)


def time_kind(layout: Layout) -> str:
    """The Table Schema type of the layout's time field: `datetime` or `date`."""
    return next(
        (layout.types[f] for f, c in layout.columns.items() if c == layout.time), "datetime"
    )


def time_bound(layout: Layout, moment: datetime) -> datetime | date:
    """A `from`/`to` instant as the time column compares with it.

    A date counts as its midnight UTC, so a date field's bound is the first day starting at or
    after the instant. A datetime bound on a date column compares wrongly: SQLite holds the
    date as text, '2012-03-11' < '2012-03-11 00:00:00.000000', which moved both ends a day.
    """
    if time_kind(layout) != "date":
        return moment
    moment = as_utc(moment)
    return moment.date() + timedelta(days=1 if moment.time() != time(0) else 0)


Key = tuple[sa.ColumnElement[Any], bool]  # a sort column and whether it descends


def _order(layout: Layout, sort: Sequence[selection.SortKey], dialect: str) -> list[Key]:
    """The sort columns of a query, the row id last so that every row has one place."""
    table = layout.table
    if not sort:
        keys: list[Key] = [(table.c[layout.time], False)] if layout.time else []
        return [*keys, (table.c["_id"], False)]
    keys = [(selection.ordered_column(layout, k.field, dialect), k.descending) for k in sort]
    return [*keys, (table.c["_id"], sort[-1].descending)]


def _ordering(column: sa.ColumnElement[Any], descending: bool) -> sa.UnaryExpression[Any]:
    # Empty cells first going up, last going down (SQLite's default, not PostgreSQL's), so a
    # descending order is the exact reverse of the ascending one; the cursor relies on it.
    if isinstance(column, sa.Column) and column.name == "_id":
        return column.desc() if descending else column.asc()
    return column.desc().nulls_last() if descending else column.asc().nulls_first()


def _after(keys: list[Key], position: list[Any]) -> sa.ColumnElement[bool]:
    """Rows after `position` (a value per key) in the order of `keys`: equal on the keys
    before one, and beyond on that one."""
    clauses = []
    for index, ((column, descending), value) in enumerate(zip(keys, position, strict=True)):
        beyond = _beyond(column, descending, value)
        if beyond is not None:
            same = [_same(c, v) for (c, _), v in zip(keys[:index], position[:index], strict=True)]
            clauses.append(sa.and_(*same, beyond))
    if not clauses:
        return sa.false()
    after = sa.or_(*clauses)
    (first, descending), value = keys[0], position[0]
    if descending or value is None:
        return after
    # Every clause implies this bound on the first key; written out, it lets the database start
    # its index walk at the cursor. Bound parameters in the OR alone make SQLite walk the index
    # from its first entry to the cursor, each page of a long walk costing more (1.4 s in the
    # middle of 10 million rows, where this bound takes a page to milliseconds).
    return sa.and_(first >= selection.bound(first, value), after)


def _same(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _beyond(
    column: sa.ColumnElement[Any], descending: bool, value: Any
) -> sa.ColumnElement[bool] | None:
    if not descending:  # empty cells first, then ascending values
        return column.is_not(None) if value is None else column > selection.bound(column, value)
    if value is None:  # descending: empty cells come last, after them nothing
        return None
    return sa.or_(column < selection.bound(column, value), column.is_(None))


def inside(layout: Layout, bbox: tuple[float, float, float, float]) -> sa.ColumnElement[bool]:
    """Rows whose point lies in a WGS84 box (minlon > maxlon: it crosses the antimeridian)."""
    assert layout.lon and layout.lat
    min_lon, min_lat, max_lon, max_lat = bbox
    lon = layout.table.c[layout.lon]
    inside_lon = (
        lon.between(min_lon, max_lon)
        if min_lon <= max_lon
        else sa.or_(lon >= min_lon, lon <= max_lon)
    )
    return sa.and_(inside_lon, layout.table.c[layout.lat].between(min_lat, max_lat))


def latest(
    connection: Connection, layout: Layout, limit: int, within: sa.ColumnElement[bool] | None = None
) -> list[dict[str, Any]]:
    """The newest records, newest first (those without a time last), inside the reader's grant.

    The default order reversed (`time DESC NULLS LAST`, then the id): both stores walk the time
    index backwards for it, PostgreSQL too since that index keeps NULLs first (`layout_for`).
    """
    keys = _order(layout, (), connection.dialect.name)
    statement = sa.select(*_read_columns(layout, connection.dialect.name)).order_by(
        *(_ordering(column, True) for column, _ in keys)
    )
    if within is not None:
        statement = statement.where(within)
    return to_records(layout, connection.execute(statement.limit(limit)).all())


def driver_rows(connection: Connection, statement: sa.Select[Any]) -> list[Any]:
    """Every row of a statement as the database driver hands it over (SQLite's times as their
    stored text), without SQLAlchemy's row objects and conversions: half the CPU of `.all()` for
    a bulk read (165,000 rows of 8 columns: 0.47 s against 1.0 s)."""
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def series_columns(layout: Layout) -> list[str]:
    """The columns naming a series when the key is those then the time (a station and a
    pollutant, say); none when rows are not series (an earthquake's id, a content hash)."""
    if len(layout.key) < 2 or layout.key[-1] != layout.time:
        return []
    return layout.key[:-1]


def latest_of_each_series(
    connection: Connection,
    layout: Layout,
    within: sa.ColumnElement[bool] | None = None,
    max_series: int = 10_000,
    walk: sa.ColumnElement[bool] | None = None,
) -> list[dict[str, Any]]:
    """The newest record of each series inside the reader's grant, newest first, however long
    a series has been silent (the first `max_series` series in key order are looked at).

    A skip scan of the key index (series…, time), three seeks a series where a GROUP BY reads
    every row of the table: the series' last key, its newest row inside the grant, then the
    next series, sought just past that last key (a seek past the series' values alone would
    step through all its keys). The grant is no part of the walk (an area is no prefix of the
    key: a walk that tested it could read the whole table to find nothing) unless the caller
    gives it as `walk`, a condition on the key's first column (a subject's own pseudonyms).
    The time of a key is never empty, so its plain descending order walks the index backwards.
    """
    names = series_columns(layout)
    if not names:
        raise ValueError(f"{layout.table.name} holds no series")
    table = layout.table
    columns, moment = [table.c[name] for name in names], table.c[layout.time or ""]
    granted = [] if within is None else [within]
    # Built once, run with each series' values: most of a seek's cost is building a statement.
    keys = [sa.bindparam(f"k{i}", type_=c.type) for i, c in enumerate(columns)]
    same = [c == key for c, key in zip(columns, keys, strict=True)]
    walked = [] if walk is None else [walk]
    first = sa.select(*columns).where(*walked).order_by(*columns, moment).limit(1)
    past = sa.tuple_(*columns, moment) > sa.tuple_(*keys, sa.bindparam("t", type_=moment.type))
    following = sa.select(*columns).where(past, *walked).order_by(*columns, moment).limit(1)
    last = sa.select(moment).where(*same).order_by(moment.desc()).limit(1)
    reading = _read_columns(layout, connection.dialect.name)
    newest = sa.select(*reading).where(*same, *granted).order_by(moment.desc()).limit(1)
    rows: list[sa.Row[Any]] = []
    series = connection.execute(first).first()
    for _ in range(max_series):
        if series is None:
            break
        values = {f"k{i}": value for i, value in enumerate(series)}
        values["t"] = connection.execute(last, values).scalar_one()
        rows.extend(connection.execute(newest, values).all())
        series = connection.execute(following, values).first()
    time_field = {c: f for f, c in layout.columns.items()}[layout.time or ""]
    found = to_records(layout, rows)
    return sorted(
        found, key=lambda record: datetime.fromisoformat(record[time_field]), reverse=True
    )


def encode_position(layout: Layout, sort: Sequence[selection.SortKey], row: Any) -> str:
    """An opaque cursor pointing just after `row` in the order of `sort` (default: time).

    It holds the row's sort values themselves, never only its id: a position read back from a
    row would let a forged id place rows the caller may not read.
    """
    if not sort:
        return encode_cursor(layout, row)
    values = [_cursor_value(layout.types[k.field], row[layout.columns[k.field]]) for k in sort]
    position = [_spelled(sort), values, row["_id"]]
    text = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")
    if len(text) > CURSOR_MAX:
        raise QueryError(
            f"the values of {_spelled(sort)} are too long to page through: sort by another field"
        )
    return text


def decode_position(layout: Layout, sort: Sequence[selection.SortKey], cursor: str) -> list[Any]:
    """A cursor read back as a value per sort key, the row id last; a forged or damaged one, or
    one of another sort order, is a QueryError."""
    if not sort:
        moment, last_id = decode_cursor(cursor)
        try:
            at = [_value_of_cursor(time_kind(layout), moment)] if layout.time else []
        except (ValueError, OverflowError) as exc:  # a datetime's cursor on a date's pages
            raise QueryError("invalid cursor") from exc
        return [*at, last_id]
    try:
        position = _cursor_json(cursor)
        if not (isinstance(position, list) and len(position) == 3):
            raise ValueError(position)
        spelled, values, last_id = position
        if spelled != _spelled(sort) or not isinstance(values, list):
            raise ValueError(spelled)
        typed = [
            _value_of_cursor(layout.types[k.field], v) for k, v in zip(sort, values, strict=True)
        ]
        return [*typed, _row_id(last_id)]
    except (ValueError, TypeError, OverflowError) as exc:
        raise QueryError(f"invalid cursor for sort={_spelled(sort)}") from exc


def _spelled(sort: Sequence[selection.SortKey]) -> str:
    return ",".join(k.spelled for k in sort)


NON_FINITE = {"Infinity": math.inf, "-Infinity": -math.inf, "NaN": math.nan}


def _cursor_value(kind: str, value: Any) -> Any:
    """A sort value as JSON writes it in a cursor."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _value_of_cursor(kind: str, value: Any) -> Any:
    """A cursor's sort value back as its column holds it, or a ValueError."""
    if value is None:
        return None
    if kind in selection.INTEGER_RANGE:
        bound = selection.INTEGER_RANGE[kind]
        if type(value) is not int or not -bound < value < bound:
            raise ValueError(value)
        return value
    if kind == "number":
        if isinstance(value, str) and value in NON_FINITE:
            return NON_FINITE[value]
        if type(value) not in (int, float):
            raise ValueError(value)
        return float(value)
    if kind == "boolean":
        if type(value) is not bool:
            raise ValueError(value)
        return value
    # A NUL hidden in the cursor's base64 escapes the URL's NUL guard; PostgreSQL refuses it.
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError(value)
    if kind == "datetime":
        return as_utc(datetime.fromisoformat(value))
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "time":
        moment = time.fromisoformat(value)
        if moment.tzinfo is not None:  # the store keeps times of day without a zone
            raise ValueError(value)
        return moment
    return value


def encode_cursor(layout: Layout, row: Any) -> str:
    """An opaque cursor pointing just after `row` in the default order (time, then id)."""
    # The time as its field's type spells it: a date field's rows hold dates, not datetimes.
    moment = _cursor_value(time_kind(layout), row[layout.time]) if layout.time else None
    position = [moment, row["_id"]]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


CURSOR_MAX = 4096  # characters; the default order's cursors are under 80
# `_id` is an INTEGER column: 32-bit on PostgreSQL, which SQLAlchemy casts the bound to (a
# larger one fails there as "integer out of range"). No row the hub wrote has a larger id.
ID_RANGE = 2**31


def decode_cursor(cursor: str) -> list[Any]:
    """Read a cursor back: [ISO time or date, or null; row id]; a forged or damaged one is a
    QueryError (`decode_position` reads the time as its field's type)."""
    try:
        position = _cursor_json(cursor)
        if not (isinstance(position, list) and len(position) == 2):
            raise ValueError(position)
        moment, last_id = position
        if moment is not None and not isinstance(moment, str):
            raise ValueError(moment)
        return [moment, _row_id(last_id)]
    except (ValueError, TypeError, OverflowError) as exc:
        raise QueryError("invalid cursor") from exc


def _cursor_json(cursor: str) -> Any:
    if len(cursor) > CURSOR_MAX:
        raise ValueError("too long")
    padded = cursor + "=" * (-len(cursor) % 4)
    return jsontext.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _row_id(value: Any) -> int:
    # bool is an int to Python, not to SQL
    if type(value) is not int or not -ID_RANGE <= value < ID_RANGE:
        raise ValueError(value)
    return value


def to_record(layout: Layout, row: Any) -> dict[str, Any]:
    """A stored row (a mapping) as a JSON-ready record keyed by field names, each value read as
    a page of `to_records` reads it."""
    record = {}
    for field, column in layout.columns.items():
        value, read = row[column], _READERS.get(layout.types[field], _json_value)
        record[field] = value if value is None or read is None else read(value)
    return record


def to_records(layout: Layout, rows: Sequence[sa.Row[Any]]) -> list[dict[str, Any]]:
    """Stored rows (of `select(layout.table)`) as records, as `to_record` gives them: each
    field's values converted by a function chosen once for its type (a page of an export holds
    thousands of rows: testing every value's type took most of the time spent reading them)."""
    if not rows:
        return []
    position = {name: index for index, name in enumerate(rows[0]._fields)}
    fields = [
        (field, position[column], _READERS.get(layout.types[field], _json_value))
        for field, column in layout.columns.items()
    ]
    return [
        {
            field: value if read is None or value is None else read(value)
            for field, index, read in fields
            for value in (row[index],)
        }
        for row in rows
    ]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # Table Schema numbers allow INF and NaN; JSON has no spelling for them
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    return value


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _instant(value: datetime | str) -> str:
    if isinstance(value, str):  # SQLite's stored text, UTC: "2025-09-01 00:30:00.000000"
        if len(value) != 26 or value[10] != " " or value[19] != ".":
            return _instant(datetime.fromisoformat(value))
        seconds = value[11:19] if value.endswith(".000000") else value[11:]
        return f"{value[:10]}T{seconds}Z"  # as isoformat spells it: no zero microseconds
    if value.tzinfo is None:  # SQLite's: naive, in UTC
        return value.isoformat() + "Z"
    return as_utc(value).isoformat().replace("+00:00", "Z")


def _geojson(value: str) -> Any:
    """A GeoJSON cell, stored as its JSON text, as the object it is (text that is no JSON as is)."""
    try:
        return json.loads(value)
    except ValueError:
        return value


# Readers of the values of a type's column (None: taken as stored). Any other type is stored as
# text, but goes through `_json_value`, as before.
_READERS: dict[str, Callable[[Any], Any] | None] = {
    "string": None,
    "integer": None,
    "year": None,
    "boolean": None,
    "number": _number,
    "datetime": _instant,
    "date": date.isoformat,
    "time": time.isoformat,
    "geojson": _geojson,
}


def extent(connection: Connection, layout: Layout) -> dict[str, Any]:
    """Row count, time range and bounding box of a record table."""
    table = layout.table
    parts: list[Any] = [sa.func.count().label("count")]
    if layout.time:
        parts += [
            sa.func.min(table.c[layout.time]).label("tmin"),
            sa.func.max(last_moment(layout)).label("tmax"),
        ]
    if layout.lon and layout.lat:
        lon, lat = table.c[layout.lon], table.c[layout.lat]
        parts += [
            sa.func.min(lon).label("x0"),
            sa.func.min(lat).label("y0"),
            sa.func.max(lon).label("x1"),
            sa.func.max(lat).label("y1"),
        ]
    # A table with neither time nor place has only count(*): it must name its table.
    row = connection.execute(sa.select(*parts).select_from(table)).mappings().one()
    result: dict[str, Any] = {
        "count": row["count"],
        "time_min": None,
        "time_max": None,
        "bbox": None,
    }
    if layout.time and row["tmin"] is not None:
        result["time_min"] = as_utc(_parse_moment(row["tmin"]))
        result["time_max"] = as_utc(_parse_moment(row["tmax"]))
    if layout.lon and layout.lat and row["x0"] is not None:
        result["bbox"] = [row["x0"], row["y0"], row["x1"], row["y1"]]
    return result


def _parse_moment(value: Any) -> datetime:
    # SQLite's min()/max() return the stored text, not a datetime.
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
