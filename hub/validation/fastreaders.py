"""Vectorised readers of the plain, unambiguous subset of each Table Schema type's cells.

A fast reader turns a Utf8 expression into (accepted, typed): `accepted` only where the cell
is in a subset of the type's language on which polars' cast provably gives frictionless's
value (e.g. `-?[0-9]+(\\.[0-9]+)?` for numbers); every other cell is left to frictionless's
own reader (`hub.validation.fieldtypes`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import polars as pl

FastReader = Callable[[pl.Expr], tuple[pl.Expr, pl.Expr]]  # text -> (accepted, typed)

_DIGITS = "-0123456789"
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"  # Python has no year 0
_DATE = f"{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"  # no hour 24, no leap second 60
_FRACTION = "(?:\\.[0-9]{1,6})?"  # dateutil keeps microseconds: 6 digits are exact in polars
_ZONE = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_DATETIME = f"^{_DATE}T{_TIME}{_FRACTION}{_ZONE}?$"


def pick_fast_reader(field: Any) -> FastReader | None:
    """The fast reader of a frictionless field, or None when every cell must be frictionless's."""
    kind, form = field.type, field.format
    if kind == "any" or (kind == "string" and form == "default"):
        return lambda raw: (pl.lit(True), raw)
    if kind == "integer":
        return _read_plain_integer
    if kind == "number" and not getattr(field, "float_number", False):
        decimal, group = getattr(field, "decimal_char", "."), getattr(field, "group_char", "")
        if (
            len(decimal) != 1
            or decimal in _DIGITS
            or (group and (group in _DIGITS or group == decimal))
        ):
            return None  # otherwise plain cells hold no group char: removing it is a no-op
        pattern = rf"^-?[0-9]+(?:{re.escape(decimal)}[0-9]+)?$"
        return lambda raw: _read_plain_number(raw, pattern, decimal)
    if kind == "boolean":
        return _boolean_reader(field)
    if kind == "date" and form == "default":
        return _read_plain_date
    if kind == "datetime" and form == "default":
        return _read_plain_datetime
    return None


def zoned(raw: pl.Expr) -> pl.Expr:
    """Whether a cell the datetime reader accepted carries its offset (Z or ±hh:mm)."""
    return _read_aware(raw).is_not_null()  # the reader's own parse: evaluated once


def _read_aware(raw: pl.Expr) -> pl.Expr:
    return raw.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False)


def _read_plain_integer(raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """polars reads exactly `[+-]?[0-9]+` in the int64 range, as Python's int() does."""
    typed = raw.cast(pl.Int64, strict=False)
    return typed.is_not_null(), typed


def _read_plain_number(raw: pl.Expr, pattern: str, decimal: str) -> tuple[pl.Expr, pl.Expr]:
    text = raw if decimal == "." else raw.str.replace(decimal, ".", literal=True)
    return raw.str.contains(pattern), text.cast(pl.Float64, strict=False)


def _boolean_reader(field: Any) -> FastReader:
    """Cells spelled exactly as one of the true or false values (a value in both is false)."""
    falsy = [str(value) for value in field.false_values]
    truthy = [str(value) for value in field.true_values if str(value) not in falsy]
    known = pl.Series([*truthy, *falsy], dtype=pl.String).implode()
    true = pl.Series(truthy, dtype=pl.String).implode()
    return lambda raw: (raw.is_in(known), raw.is_in(true))


def _read_plain_date(raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    typed = raw.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    return raw.str.contains(f"^{_DATE}$") & typed.is_not_null(), typed


def _read_plain_datetime(raw: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """ISO stamps to the microsecond, naive or with Z/±hh:mm, as UTC instants (naive as UTC).

    A stamp with an offset only parses as aware, one without only as naive.
    """
    naive = raw.str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S%.f", strict=False)
    typed = pl.coalesce(_read_aware(raw), naive.dt.replace_time_zone("UTC"))
    return raw.str.contains(_DATETIME) & typed.is_not_null(), typed
