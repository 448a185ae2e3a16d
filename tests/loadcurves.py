"""Household load curves (schema energy-consumption) as the gate takes them, and what a
catalogue holds afterwards: the tests of personal publication and retention share these."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from hub import catalogue
from hub.batches import Batch, Chunk, Publisher

GRID = Publisher("grid-demo", "Demo grid operator", "private")
FIELDS = [
    "subject_key", "period_start", "period_end", "circuit", "quantity", "value", "unit", "quality"
]  # fmt: skip
START = datetime(2026, 11, 1, tzinfo=UTC)


def reading(subject: str, hour: int, start: datetime = START, **change: str) -> dict[str, str]:
    """One hourly energy reading of a household's main circuit, `hour` hours after `start`."""
    begins = start + timedelta(hours=hour)
    return {
        "subject_key": subject,
        "period_start": f"{begins:%Y-%m-%dT%H:%M:%SZ}",
        "period_end": f"{begins + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
        "circuit": "main",
        "quantity": "energy",
        "value": f"{0.5 + hour / 10:.1f}",
        "unit": "kWh",
        "quality": "measured",
    } | change


def frame_of(rows: list[dict[str, str]], first: int = 2) -> pl.DataFrame:
    """Rows as a reader gives them: Utf8 columns, `_row` numbered from `first`."""
    frame = pl.DataFrame(rows, schema={f: pl.Utf8 for f in FIELDS})
    return frame.with_columns(pl.Series("_row", range(first, first + len(rows)), dtype=pl.Int64))


def curves(
    *chunks: pl.DataFrame | Chunk,
    dataset_id: str = "household-curves",
    charter: str = "grid-demo-load-curves",
    schema: str = "energy-consumption",
) -> Batch:
    """A batch of the demo grid operator's load curves."""
    return Batch(
        dataset_id=dataset_id,
        title="Household load curves",
        publisher=GRID,
        theme="energy",
        schema=schema,
        charter=charter,
        chunks=list(chunks),
        source_url="https://grid.example.org/curves.csv",
    )


def records_of(engine: Engine, dataset_id: str) -> list[dict[str, Any]]:
    """A dataset's stored records, in insertion order."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset_id))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(layout.table).order_by(layout.table.c._id)).mappings()
        return [dict(row) for row in rows]


def every_stored_text(engine: Engine) -> str:
    """Every value of every column of every table, as text."""
    texts = []
    with engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            rows = connection.execute(sa.text(f'SELECT * FROM "{table}"')).all()
            texts += [f"{table}: {value!r}" for row in rows for value in row]
    return "\n".join(texts)
