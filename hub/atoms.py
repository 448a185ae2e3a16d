"""The atoms of a personal dataset's public aggregates, kept up to date by the publish gate.

hub.aggregates publishes sums over atoms: one per UTC hour and combination of values of every
groupable field, kept when at least k distinct subjects have a reading in it. Computing them
from the readings at each request read every row of the window (a month of 1,000 households'
half-hourly curves: 1.4M rows, about 25 s on SQLite). Here each atom is stored once per measure
with its sum, its count of readings and the set of its subjects as a bitmap over a per-dataset
numbering of pseudonyms, so that a cell's distinct subjects are the population count of the OR
of its atoms' bitmaps: a month by day reads ~720 rows per combination of values.

The gate refreshes the hours a batch changed, in the batch's transaction; the retention purge
refreshes the hours it cut; a dataset withdrawn forgets its atoms. A store from before atoms,
or whose record table was replaced, is rebuilt whole (at `hub db upgrade`, or on first use).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy import Connection

from hub import records

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SLICE_HOURS = 24 * 31  # hours refreshed per query: a month of readings held at once
_FINITE = sys.float_info.max  # NaN and infinities have no sum

_META = sa.MetaData()
ATOMS = sa.Table(
    "aggregateatom",
    _META,
    sa.Column("dataset_id", sa.String(100), primary_key=True),
    sa.Column("measure", sa.String(100), primary_key=True),
    sa.Column("hour", sa.BigInteger, primary_key=True),  # hours since 1970-01-01T00Z
    sa.Column("key", sa.Text, primary_key=True),  # the groupable fields' values, JSON
    sa.Column("subjects", sa.LargeBinary, nullable=False),  # bit n: subject number n
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("readings", sa.BigInteger, nullable=False),
)
NUMBERS = sa.Table(
    "aggregatesubject",
    _META,
    sa.Column("dataset_id", sa.String(100), primary_key=True),
    sa.Column("pseudonym", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer, nullable=False),
)
STATE = sa.Table(
    "aggregatestate",
    _META,
    sa.Column("dataset_id", sa.String(100), primary_key=True),
    sa.Column("table_name", sa.String(100), nullable=False),  # the record table atoms are of
    sa.Column("shape", sa.Text, nullable=True),  # the plan's measures and groupable fields
)


@dataclass(frozen=True)
class Plan:
    """What a dataset's atoms are made of: its record table, subject column, the measures
    (numeric fields) and the groupable fields that key an atom, by field name."""

    dataset_id: str
    layout: records.Layout
    subject: str  # the subject's column
    measures: tuple[str, ...]
    groupable: tuple[str, ...]

    @property
    def shape(self) -> str:
        """What the atoms are keyed by: a schema version that adds a measure or a groupable
        field makes atoms built before it incomplete, and they are built again."""
        return json.dumps({"measures": self.measures, "groupable": self.groupable})


@dataclass(frozen=True)
class Atom:
    """One stored atom: its hour, the groupable fields' values, its subjects, sum, readings."""

    hour: datetime
    values: dict[str, Any]
    subjects: int  # a bitmap: bit n set when subject number n has a reading in the atom
    total: float
    readings: int

    @property
    def population(self) -> int:
        """How many distinct subjects have a reading in the atom."""
        return self.subjects.bit_count()


def plan_of(
    dataset_id: str, layout: records.Layout, fields: Sequence[dict[str, Any]], subject_field: str
) -> Plan | None:
    """The atoms' plan of a personal dataset's table; None when it has no subject or time."""
    subject = layout.columns.get(subject_field) or layout.subject
    if not subject or not layout.time:
        return None
    return Plan(
        dataset_id,
        layout,
        subject,
        tuple(measures_of(layout, fields, subject_field)),
        tuple(groupable_fields(layout, fields, subject_field)),
    )


def measures_of(
    layout: records.Layout, fields: Sequence[dict[str, Any]], subject: str
) -> list[str]:
    """The numeric fields that can be summed: neither the subject nor the place."""
    place = {layout.lon, layout.lat}
    return [
        f["name"]
        for f in fields
        if f.get("type") in ("number", "integer")
        and f["name"] != subject
        and layout.columns.get(f["name"]) not in place
    ]


def groupable_fields(
    layout: records.Layout, fields: Sequence[dict[str, Any]], subject: str
) -> list[str]:
    """Fields with few values: text fields whose schema lists their values (enum) or holds them
    to a code pattern; never the subject, the time or the place."""
    reserved = {layout.time, layout.lon, layout.lat, layout.subject, layout.columns.get(subject)}
    return [
        field["name"]
        for field in fields
        if field.get("type", "string") == "string"
        and (
            "enum" in (field.get("constraints") or {})
            or "pattern" in (field.get("constraints") or {})
        )
        and field["name"] != subject
        and layout.columns.get(field["name"]) not in reserved
    ]


def hour_number(moment: datetime) -> int:
    """An instant's hour, counted from 1970-01-01T00Z."""
    return int((moment.astimezone(UTC) - EPOCH).total_seconds() // 3600)


def hour_start(number: int) -> datetime:
    """The start of an hour counted from 1970-01-01T00Z."""
    return EPOCH + timedelta(hours=number)


def hours_of(frame: pl.DataFrame, field: str) -> set[int]:
    """The hours a chunk's rows fall in (its time field, typed UTC datetimes)."""
    column = frame.get_column(field).drop_nulls()
    return set((column.dt.epoch("s") // 3600).unique().to_list())


def is_built(connection: Connection, plan: Plan) -> bool:
    """Whether the dataset's atoms were built from its current record table and plan."""
    found = connection.execute(
        sa.select(STATE.c.table_name, STATE.c.shape).where(STATE.c.dataset_id == plan.dataset_id)
    ).one_or_none()
    return found is not None and tuple(found) == (plan.layout.table.name, plan.shape)


def refresh(connection: Connection, plan: Plan, hours: Iterable[int] | None = None) -> None:
    """Recompute the atoms of the given hours (all of them: None, or atoms not yet built from
    this table), from the rows the table holds now, in the caller's transaction."""
    if not is_built(connection, plan):
        forget(connection, plan.dataset_id)
        connection.execute(
            sa.insert(STATE).values(
                dataset_id=plan.dataset_id, table_name=plan.layout.table.name, shape=plan.shape
            )
        )
        hours = None
    if hours is None:
        ranges = list(_whole_table(connection, plan))
    else:
        ranges = list(_runs(sorted(set(hours))))
    for first, end in ranges:
        for start in range(first, end, SLICE_HOURS):
            _refresh_slice(connection, plan, start, min(end, start + SLICE_HOURS))


def cut(connection: Connection, plan: Plan, before: datetime) -> None:
    """Bring the atoms in step with a purge of every row before `before`: atoms of earlier
    hours go, the hour it falls in is recomputed."""
    if not is_built(connection, plan):
        refresh(connection, plan)
        return
    hour = hour_number(before)
    connection.execute(
        sa.delete(ATOMS).where(ATOMS.c.dataset_id == plan.dataset_id, ATOMS.c.hour < hour)
    )
    refresh(connection, plan, [hour])


def forget(connection: Connection, dataset_id: str) -> None:
    """Drop a dataset's atoms, numbering and state (its table is dropped or replaced)."""
    for table in (ATOMS, NUMBERS, STATE):
        connection.execute(sa.delete(table).where(table.c.dataset_id == dataset_id))


def read(
    connection: Connection, plan: Plan, measure: str, start: datetime, end: datetime
) -> list[Atom]:
    """The atoms of a measure whose hour is in [start, end), built first if need be (in a
    transaction of their own: the caller's may be a read that is never committed)."""
    if not is_built(connection, plan):
        try:
            with connection.engine.begin() as writer:
                if not is_built(writer, plan):
                    refresh(writer, plan)
                return _read(writer, plan, measure, start, end)
        except (sa.exc.IntegrityError, sa.exc.OperationalError):
            # Another replica (or request) built them at the same time and committed first:
            # its state row took the key, or SQLite's lock was taken. Read its atoms.
            with connection.engine.connect() as reader:
                if not is_built(reader, plan):
                    raise
                log.info("%s: atoms built by another process meanwhile", plan.dataset_id)
                return _read(reader, plan, measure, start, end)
    return _read(connection, plan, measure, start, end)


def _read(
    connection: Connection, plan: Plan, measure: str, start: datetime, end: datetime
) -> list[Atom]:
    rows = connection.execute(
        sa.select(ATOMS.c.hour, ATOMS.c.key, ATOMS.c.subjects, ATOMS.c.total, ATOMS.c.readings)
        .where(
            ATOMS.c.dataset_id == plan.dataset_id,
            ATOMS.c.measure == measure,
            ATOMS.c.hour >= hour_number(start),
            ATOMS.c.hour < hour_number(end),
        )
        .order_by(ATOMS.c.hour)
    )
    keys: dict[str, dict[str, Any]] = {}
    return [
        Atom(
            hour_start(hour),
            keys[key] if key in keys else keys.setdefault(key, json.loads(key)),
            int.from_bytes(subjects, "little"),
            total,
            int(readings),
        )
        for hour, key, subjects, total, readings in rows
    ]


def _whole_table(connection: Connection, plan: Plan) -> Iterator[tuple[int, int]]:
    """The hours from the table's first reading to its last (one range), if it has any."""
    moment = plan.layout.table.c[plan.layout.time or ""]
    low, high = connection.execute(sa.select(sa.func.min(moment), sa.func.max(moment))).one()
    if low is None:
        return
    yield hour_number(_instant(low)), hour_number(_instant(high)) + 1


def _runs(hours: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Sorted hours as ranges [first, end) of consecutive hours."""
    if not hours:
        return
    first = previous = hours[0]
    for hour in hours[1:]:
        if hour != previous + 1:
            yield first, previous + 1
            first = hour
        previous = hour
    yield first, previous + 1


def _refresh_slice(connection: Connection, plan: Plan, first: int, end: int) -> None:
    """Replace the atoms of hours [first, end) with those of the rows the table holds."""
    connection.execute(
        sa.delete(ATOMS).where(
            ATOMS.c.dataset_id == plan.dataset_id, ATOMS.c.hour >= first, ATOMS.c.hour < end
        )
    )
    if not plan.measures:
        return
    groups = _subject_groups(connection, plan, first, end)
    if groups.is_empty():
        return
    numbers = _numbered(connection, plan.dataset_id, groups.get_column("subject").unique())
    groups = groups.with_columns(
        pl.col("subject").replace_strict(numbers, return_dtype=pl.Int64).alias("number")
    )
    keys = [f"g{i}" for i in range(len(plan.groupable))]
    written = []
    for m, measure in enumerate(plan.measures):
        present = groups.filter(pl.col(f"n{m}") > 0)
        atoms = present.group_by(["hour", *keys]).agg(
            pl.col(f"t{m}").sum().alias("total"),
            pl.col(f"n{m}").sum().alias("readings"),
            pl.col("number").alias("numbers"),
        )
        for row in atoms.iter_rows(named=True):
            values = {name: row[key] for name, key in zip(plan.groupable, keys, strict=True)}
            written.append(
                {
                    "dataset_id": plan.dataset_id,
                    "measure": measure,
                    "hour": row["hour"],
                    "key": json.dumps(values, sort_keys=True, ensure_ascii=False),
                    "subjects": _bitmap(row["numbers"]),
                    "total": float(row["total"]),
                    "readings": int(row["readings"]),
                }
            )
    if written:
        connection.execute(sa.insert(ATOMS), written)


def _subject_groups(connection: Connection, plan: Plan, first: int, end: int) -> pl.DataFrame:
    """The rows of hours [first, end), summed per hour, groupable values and subject: each
    measure's sum (t0, t1, ...) and count (n0, ...) of finite readings."""
    table = plan.layout.table
    moment, who = table.c[plan.layout.time or ""], table.c[plan.subject]
    hour = _hour_key(moment, connection.dialect.name)
    keys = [table.c[plan.layout.columns[name]] for name in plan.groupable]
    sums: list[sa.ColumnElement[Any]] = []
    for m, measure in enumerate(plan.measures):
        value = table.c[plan.layout.columns[measure]]
        finite = value.between(-_FINITE, _FINITE)  # NaN, infinities and nulls are no reading
        sums += [
            sa.func.sum(sa.case((finite, value))).label(f"t{m}"),
            sa.func.count(sa.case((finite, 1))).label(f"n{m}"),
        ]
    statement = (
        sa.select(hour.label("hour"), *(k.label(f"g{i}") for i, k in enumerate(keys)), who, *sums)
        .where(moment >= hour_start(first), moment < hour_start(end), who.is_not(None))
        .group_by(hour, *keys, who)
    )
    names = ["hour", *(f"g{i}" for i in range(len(keys))), "subject"]
    names += [f"{kind}{m}" for m in range(len(plan.measures)) for kind in ("t", "n")]
    rows = connection.execute(statement).all()
    schema: dict[str, Any] = {"hour": pl.Utf8 if connection.dialect.name == "sqlite" else pl.Int64}
    schema |= {f"g{i}": pl.Utf8 for i in range(len(keys))} | {"subject": pl.Utf8}
    schema |= {f"t{m}": pl.Float64 for m in range(len(plan.measures))}
    schema |= {f"n{m}": pl.Int64 for m in range(len(plan.measures))}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    if connection.dialect.name == "sqlite":  # `YYYY-MM-DD HH` text: its hour number
        frame = frame.with_columns(
            (
                (pl.col("hour").str.replace("T", " ") + ":00")
                .str.to_datetime("%Y-%m-%d %H:%M", time_zone="UTC")
                .dt.epoch("s")
                // 3600
            ).alias("hour")
        )
    return frame.select(names)


def _hour_key(moment: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """A reading's hour: its number on PostgreSQL, its `YYYY-MM-DD HH` text on SQLite (which
    keeps UTC instants as text, hub.records; the text is turned into a number once per group)."""
    if dialect == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", moment) / 3600), sa.BigInteger)
    return sa.func.substr(moment, 1, 13, type_=sa.String)


def _numbered(connection: Connection, dataset_id: str, pseudonyms: pl.Series) -> dict[str, int]:
    """Each pseudonym's number in the dataset's numbering, numbering new ones after the last."""
    known: dict[str, int] = {
        pseudonym: number
        for pseudonym, number in connection.execute(
            sa.select(NUMBERS.c.pseudonym, NUMBERS.c.number).where(
                NUMBERS.c.dataset_id == dataset_id
            )
        )
    }
    new = sorted(set(pseudonyms.to_list()) - known.keys())
    if new:
        after = max(known.values(), default=-1) + 1
        fresh = {pseudonym: after + i for i, pseudonym in enumerate(new)}
        connection.execute(
            sa.insert(NUMBERS),
            [{"dataset_id": dataset_id, "pseudonym": p, "number": n} for p, n in fresh.items()],
        )
        known |= fresh
    return known


def _bitmap(numbers: Sequence[int]) -> bytes:
    """The set of subject numbers as bytes, bit n of the little-endian integer for number n."""
    bits = np.zeros(max(numbers) + 1, dtype=bool)
    bits[np.asarray(numbers, dtype=np.int64)] = True
    return np.packbits(bits, bitorder="little").tobytes()


def _instant(value: datetime | str) -> datetime:
    """A stored instant as an aware UTC datetime (SQLite keeps text, hub.records)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace(" ", "T"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
