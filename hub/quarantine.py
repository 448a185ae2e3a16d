"""Quarantined rows: written as a batch streams, within the gate's limits; paged by keyset."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection

from hub.config import get_settings
from hub.models import QuarantinedRow

META_COLUMNS = ("_row", "_error")
MAX_KEY = 2**31 - 1  # row numbers and ids are INTEGER columns: 32 bits on PostgreSQL
CURSOR = re.compile(r"(\d{1,10})\.(\d{1,10})", re.ASCII)
# What a run's error says before its first colon is all that those who may not read the rows
# see of it (hub.access.redact_run_error): no count before it.
TOO_MANY = "too many invalid rows"
EVERY_ROW = "every row was invalid"


@dataclass(frozen=True)
class Page:
    """One page of a run's quarantined rows, and the cursor of the next if there is one."""

    rows: list[QuarantinedRow]
    next_cursor: str | None


class BadCursor(ValueError):
    """A quarantine cursor that was not made by `encode_cursor`."""


@dataclass(frozen=True)
class Limits:
    """How much of a batch may be invalid before the gate refuses it whole."""

    max_invalid_share: float  # of the rows read, judged once the batch has been read
    cap: int  # quarantined rows, judged as the batch streams

    @classmethod
    def of(cls, max_invalid_share: float | None = None, cap: int | None = None) -> Limits:
        """A batch's own limits, the settings' where it sets none."""
        settings = get_settings()
        return cls(
            settings.max_invalid_share if max_invalid_share is None else max_invalid_share,
            settings.quarantine_cap if cap is None else cap,
        )

    def overflow(self, read: int, invalid: int) -> str | None:
        """Why a batch with `invalid` rows among the first `read` must stop now, if it must."""
        if invalid <= self.cap:
            return None
        return (
            f"{TOO_MANY}: stopped after {read:,} rows read, {invalid:,} of them invalid "
            f"({_percent(invalid / read)}), past the quarantine cap of {self.cap:,} rows "
            "(quarantine_cap)"
        )

    def excess(self, read: int, invalid: int) -> str | None:
        """Why a whole batch of `read` rows is too invalid to publish, if it is."""
        if not read or invalid / read <= self.max_invalid_share:
            return None
        counted = (
            f"{EVERY_ROW}: {invalid:,} of {read:,} rows read"
            if invalid == read
            else f"{TOO_MANY}: {invalid:,} of {read:,} rows read were invalid "
            f"({_percent(invalid / read)})"
        )
        return (
            f"{counted}, over the {_percent(self.max_invalid_share)} threshold (max_invalid_share)"
        )


def _percent(share: float) -> str:
    return f"{share:.1%}".replace(".0%", "%")


def write(connection: Connection, run_id: int, dataset_id: str, invalid: pl.DataFrame) -> None:
    """Store a chunk's invalid rows, their cells and reasons (already JSON) going in as text."""
    if invalid.height == 0:
        return
    fields = [c for c in invalid.columns if c not in META_COLUMNS]
    reasons = pl.col("_error") if "_error" in invalid.columns else pl.lit(None, pl.String)
    # Encoded in one polars pass: decoding the validator's JSON only for the driver to encode it
    # again cost more than validating the rows.
    frame = invalid.select(
        pl.lit(run_id, pl.Int64).alias("run_id"),
        pl.lit(dataset_id).alias("dataset_id"),
        pl.col("_row").cast(pl.Int64).alias("row_number"),
        (pl.struct(fields).struct.json_encode() if fields else pl.lit("{}")).alias("cells"),
        pl.when(reasons.fill_null("") == "").then(pl.lit("[]")).otherwise(reasons).alias("errors"),
    )
    mark = "?" if connection.dialect.name == "sqlite" else "%s"
    connection.exec_driver_sql(
        f"INSERT INTO {QuarantinedRow.__tablename__} "
        f"(run_id, dataset_id, row_number, cells, errors) VALUES ({', '.join([mark] * 5)})",
        list(frame.iter_rows()),
    )


def encode_cursor(row_number: int, row_id: int) -> str:
    """An opaque cursor pointing just after the quarantined row (row_number, id)."""
    return base64.urlsafe_b64encode(f"{row_number}.{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    """Read a cursor back as (row_number, id); a forged or damaged one is a BadCursor."""
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii"))
        found = CURSOR.fullmatch(text.decode("ascii"))
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadCursor("invalid cursor") from exc
    if found is None or max(int(found[1]), int(found[2])) > MAX_KEY:
        raise BadCursor("invalid cursor")
    return int(found[1]), int(found[2])
