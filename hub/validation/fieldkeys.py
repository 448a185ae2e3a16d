"""Equality keys for typed cells: two keys are equal exactly when frictionless's values are.

frictionless compares unique and primary-key cells as Python values: Decimal("1.50") equals
Decimal("1.5"), aware datetimes are equal at the same instant, a naive datetime never equals
an aware one, NaN equals nothing. Keys turn those rules into plain polars values.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl

from hub.validation.fastreaders import zoned

KEY_TYPES: dict[str, pl.DataType] = {  # integers key as text: frictionless has no int64 limit
    "year": pl.Int64(),
    "datetime": pl.Int64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def key_dtype(kind: str) -> pl.DataType:
    """The polars type of a field type's keys."""
    return KEY_TYPES.get(kind, pl.String())


def python_key(kind: str, typed: Any) -> Any:
    """The key of a value read by frictionless (None stays None; NaN has no key)."""
    if typed is None:
        return None
    if kind == "number":
        return decimal_key(typed if isinstance(typed, Decimal) else Decimal(repr(typed)))
    if kind == "datetime":
        return datetime_key(typed)
    if kind == "integer":
        return str(typed)
    if kind in ("string", "any", "year", "boolean", "date"):
        return typed
    return repr(typed)


def column_key(kind: str, raw: pl.Expr, typed: pl.Expr, decimal_char: str) -> pl.Expr:
    """Keys of cells accepted by a fast reader (`raw` the text, `typed` the cast value)."""
    if kind == "number":
        text = raw if decimal_char == "." else raw.str.replace(decimal_char, ".", literal=True)
        return canonical_decimal(text)
    if kind in ("string", "any"):
        return raw
    if kind == "integer":
        return typed.cast(pl.String)
    if kind == "datetime":
        # the fast reader accepts stamps ending in Z / ±hh:mm (aware) or in no offset (naive)
        aware = zoned(raw).cast(pl.Int64)
        return typed.dt.epoch("us") * 2 + aware
    return typed


def decimal_key(value: Decimal) -> str | None:
    """A string equal for equal Decimals (1.50 == 1.5 == 15E-1); None for NaN."""
    if value.is_nan():
        return None
    if value.is_infinite():
        return "-inf" if value < 0 else "inf"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    negative = text.startswith("-")
    digits = text.lstrip("-").lstrip("0")
    digits = "0" + digits if digits.startswith(".") or not digits else digits
    return "-" + digits if negative and digits != "0" else digits


def canonical_decimal(text: pl.Expr) -> pl.Expr:
    """`decimal_key` for plain decimals (`-?[0-9]+(\\.[0-9]+)?`), as an expression."""
    parts = text.str.strip_chars_start("-").str.split(".")
    whole = parts.list.get(0, null_on_oob=True).str.strip_chars_start("0")
    fraction = parts.list.get(1, null_on_oob=True).fill_null("").str.strip_chars_end("0")
    whole = pl.when(whole == "").then(pl.lit("0")).otherwise(whole)
    number = pl.when(fraction == "").then(whole).otherwise(whole + "." + fraction)
    return pl.when(text.str.starts_with("-") & (number != "0")).then("-" + number).otherwise(number)


def datetime_key(value: dt.datetime) -> int:
    """2 x microseconds since the epoch, + 1 when aware (naive values counted as UTC)."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return (value - _EPOCH) // dt.timedelta(microseconds=1) * 2 + 1
    return (value.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1) * 2
