"""Column-wise casting of Utf8 cells to Table Schema types, with frictionless's exact semantics.

Each field gets a vectorised "fast" reader that accepts only a plain, unambiguous subset of
the type's language (e.g. `-?[0-9]+(\\.[0-9]+)?` for numbers) and casts it with polars. Every
other non-missing cell goes through frictionless's own cell reader, once per distinct value
(cached), so the exotic spellings, formats and the error notes are frictionless's by
construction. Constraints are then checked column-wise on the fast cells.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
from frictionless import Field

CACHE_LIMIT = 200_000  # distinct raw values remembered per field
BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
OUTPUT_TYPES: dict[str, pl.DataType] = {
    "integer": pl.Int64(),
    "year": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "datetime": pl.Datetime("us", "UTC"),
    "date": pl.Date(),
    "time": pl.Time(),
}
KEY_TYPES: dict[str, pl.DataType] = {  # integers key as text: frictionless has no int64 limit
    "year": pl.Int64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
}
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"  # Python has no year 0
_DATE = f"{_YEAR}-[0-9]{{2}}-[0-9]{{2}}"
_DATETIME = f"^{_DATE}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?$"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass
class CastColumn:
    """One field's cells, cast: error bits, typed values and comparison keys."""

    codes: pl.Series  # UInt32: bit 0 type error, bit i+1 the field's i-th constraint failed
    value: pl.Series  # typed output, null when missing or not castable
    keys: list[pl.Series]  # equality keys for unique/primaryKey (null when absent or NaN)
    present: pl.Series  # the typed value is not None (frictionless's notion of a filled cell)
    missing: pl.Series  # no cell, or a missing value: frictionless's "blank" cell


class FieldCaster:
    """Casts and checks the cells of one frictionless field."""

    def __init__(self, field: Field, number: int):
        self.field, self.name, self.number = field, field.name, number
        self.type, self.format = field.type, field.format
        self.reader = field.create_cell_reader()
        self.value_reader = field.create_value_reader()
        missing = field.missing_values
        if not field.has_defined("missing_values") and field.schema:
            missing = field.schema.missing_values
        self.missing_values = list(missing)
        constraints = field.constraints
        self.checks = [n for n in field.supported_constraints if constraints.get(n) is not None]
        self.notes = ['type is "%s/%s"' % (self.type, self.format)] + [
            'constraint "%s" is "%s"' % (n, constraints[n]) for n in self.checks
        ]
        self.dtype = OUTPUT_TYPES.get(self.type, pl.String())
        self.fast = self._pick_fast_reader()
        self.cache: dict[str, tuple[int, Any, tuple[Any, ...]]] = {}
        self.pattern = re.compile("^{0}$".format(constraints["pattern"])) if "pattern" in self.checks else None
        self.pattern_cache: dict[str, bool] = {}

    def cast(self, raw: pl.Series, *, want_keys: bool) -> CastColumn:
        """Cast a Utf8 column; the result is aligned with it row by row."""
        frame = pl.DataFrame({"raw": raw})
        missing = raw.is_null() | raw.is_in(self.missing_values)
        if self.fast is not None:
            fast_ok, fast_value = self.fast(raw)
            fast_ok = fast_ok.fill_null(False) & ~missing
        else:
            fast_ok = pl.repeat(False, len(raw), eager=True)
            fast_value = pl.repeat(None, len(raw), dtype=self.dtype, eager=True)
        slow = ~missing & ~fast_ok
        codes = self._fast_codes(raw, fast_ok, fast_value, missing)
        value = fast_value.zip_with(fast_ok, pl.repeat(None, len(raw), dtype=self.dtype, eager=True))
        keys = self._fast_keys(raw, fast_value, fast_ok) if want_keys else []
        present = fast_ok
        if slow.any():
            codes, value, keys, present = self._merge_slow(
                frame, slow, codes, value, keys, present, want_keys
            )
        if self.type not in OUTPUT_TYPES:
            value = raw.zip_with(present, pl.repeat(None, len(raw), dtype=pl.String, eager=True))
        return CastColumn(codes=codes, value=value, keys=keys, present=present, missing=missing)

    # Fast readers: (accepted mask, typed values) for a plain subset of the type's language

    def _pick_fast_reader(self) -> Any:
        field, kind = self.field, self.type
        if kind in ("string", "any") and (kind == "any" or self.format == "default"):
            return lambda raw: (pl.repeat(True, len(raw), eager=True), raw)
        if kind == "integer":
            return lambda raw: self._fast_regex_cast(raw, r"^-?[0-9]{1,18}$", pl.Int64)
        if kind == "number" and not getattr(field, "float_number", False):
            decimal, group = field.decimal_char, field.group_char
            if len(decimal) != 1 or decimal == "-" or decimal.isdigit():
                return None
            if group and (group in "-0123456789" or group == decimal):
                return None
            point = re.escape(decimal)
            pattern = rf"^-?[0-9]+(?:{point}[0-9]+)?$"
            return lambda raw: self._fast_number(raw, pattern, decimal)
        if kind == "date" and self.format == "default":
            return lambda raw: self._fast_temporal(raw, f"^{_DATE}$", pl.Date, "%Y-%m-%d")
        if kind == "datetime" and self.format == "default":
            return self._fast_datetime
        return None

    def _fast_regex_cast(self, raw: pl.Series, pattern: str, dtype: Any) -> tuple[pl.Series, pl.Series]:
        ok = raw.str.contains(pattern)
        return ok, raw.cast(dtype, strict=False)

    def _fast_number(self, raw: pl.Series, pattern: str, decimal: str) -> tuple[pl.Series, pl.Series]:
        ok = raw.str.contains(pattern)
        text = raw if decimal == "." else raw.str.replace(decimal, ".", literal=True)
        return ok, text.cast(pl.Float64, strict=False)

    def _fast_temporal(self, raw: pl.Series, pattern: str, dtype: Any, fmt: str) -> tuple[pl.Series, pl.Series]:
        ok = raw.str.contains(pattern)
        value = raw.str.strptime(dtype, fmt, strict=False)
        return ok & value.is_not_null(), value

    def _fast_datetime(self, raw: pl.Series) -> tuple[pl.Series, pl.Series]:
        ok = raw.str.contains(_DATETIME)
        frame = pl.DataFrame({"raw": raw}).select(
            naive=pl.col("raw").str.slice(0, 19).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False),
            zone=pl.col("raw").str.slice(19),
        )
        sign = pl.when(pl.col("zone").str.starts_with("-")).then(-1).otherwise(1)
        minutes = (
            pl.col("zone").str.slice(1, 2).cast(pl.Int64, strict=False) * 60
            + pl.col("zone").str.slice(4, 2).cast(pl.Int64, strict=False)
        ).fill_null(0) * sign
        value = frame.select(
            (pl.col("naive") - pl.duration(minutes=minutes)).dt.replace_time_zone("UTC")
        ).to_series()
        return ok & value.is_not_null(), value

    # Constraints on fast cells

    def _fast_codes(self, raw: pl.Series, ok: pl.Series, value: pl.Series, missing: pl.Series) -> pl.Series:
        codes = pl.repeat(0, len(raw), dtype=pl.UInt32, eager=True)
        for index, name in enumerate(self.checks):
            bit = 1 << (index + 1)
            if name == "required":
                failed = missing if self.field.constraints["required"] else None
            else:
                failed = self._fast_failures(name, raw, ok, value)
            if failed is not None:
                codes = codes | (failed.fill_null(False).cast(pl.UInt32) * bit)
        return codes

    def _fast_failures(self, name: str, raw: pl.Series, ok: pl.Series, value: pl.Series) -> pl.Series | None:
        if not ok.any():
            return None
        constraint = self.field.constraints[name]
        if name in ("minLength", "maxLength"):
            length = raw.str.len_chars()
            return ok & ((length < constraint) if name == "minLength" else (length > constraint))
        if name == "pattern":
            return ok & ~self._match_pattern(raw, ok)
        if name == "enum":
            allowed = [self._fast_key_of(self.value_reader(v)) for v in constraint]
            allowed = [a for a in allowed if a is not None]
            return ok & ~self._fast_key(raw, value).is_in(allowed)
        if name in BOUNDS:
            return ok & self._bound_failures(name, raw, ok, value)
        return None

    def _match_pattern(self, raw: pl.Series, ok: pl.Series) -> pl.Series:
        assert self.pattern is not None
        todo = [v for v in raw.filter(ok).unique().to_list() if v not in self.pattern_cache]
        if len(self.pattern_cache) > CACHE_LIMIT:
            self.pattern_cache.clear()
        for text in todo:
            self.pattern_cache[text] = self.pattern.match(text) is not None
        matching = [text for text, good in self.pattern_cache.items() if good]
        return raw.is_in(matching)

    def _bound_failures(self, name: str, raw: pl.Series, ok: pl.Series, value: pl.Series) -> pl.Series:
        bound = self.value_reader(self.field.constraints[name])
        op = BOUNDS[name]
        if self.type == "number":
            # Cells compare as Decimal in frictionless; float order only decides unequal floats
            limit = float(bound)
            passed = getattr(value, f"__{op}__")(limit) & ~value.is_nan()
            tie = ok & (value == limit)
            if tie.any():
                exact = [
                    _compare(Decimal(self._normalise_number(text)), op, bound)
                    for text in raw.filter(tie).to_list()
                ]
                passed = passed.scatter(tie.arg_true(), pl.Series(exact, dtype=pl.Boolean))
            return ~passed
        if self.type == "datetime" and isinstance(bound, dt.datetime):
            limit = bound.astimezone(dt.UTC) if bound.tzinfo else bound.replace(tzinfo=dt.UTC)
            return ~getattr(value, f"__{op}__")(limit)
        return ~getattr(value, f"__{op}__")(bound)

    def _normalise_number(self, text: str) -> str:
        decimal = self.field.decimal_char
        return text if decimal == "." else text.replace(decimal, ".")

    # Keys: equal keys <=> frictionless's typed values compare equal

    def _fast_key(self, raw: pl.Series, value: pl.Series) -> pl.Series:
        if self.type == "number":
            return _canonical_decimal(raw if self.field.decimal_char == "." else raw.str.replace(self.field.decimal_char, ".", literal=True))
        if self.type in ("string", "any"):
            return raw
        if self.type == "datetime":
            aware = (raw.str.len_bytes() > 19).cast(pl.String).str.to_lowercase()
            return value.dt.epoch("us").cast(pl.String) + aware
        return value

    def _fast_keys(self, raw: pl.Series, value: pl.Series, ok: pl.Series) -> list[pl.Series]:
        if self.fast is None:
            return [pl.repeat(None, len(raw), dtype=self.key_dtype, eager=True)]
        key = self._fast_key(raw, value).cast(self.key_dtype)
        return [key.zip_with(ok, pl.repeat(None, len(key), dtype=self.key_dtype, eager=True))]

    def _fast_key_of(self, typed: Any) -> Any:
        """The key a fast cell would get for a Python value (enum members)."""
        if typed is None:
            return None
        if self.type == "number":
            return _decimal_key(Decimal(typed)) if not isinstance(typed, float) else _decimal_key(Decimal(repr(typed)))
        if self.type == "datetime":
            return _datetime_key(typed)
        return typed

    # Slow cells: frictionless's own reader, once per distinct value

    def read_distinct(self, text: str) -> tuple[int, Any, tuple[Any, ...]]:
        """(error bits, output value, key) for one raw cell, computed by frictionless."""
        found = self.cache.get(text)
        if found is None:
            typed, notes = self.reader(text)
            codes = 0
            for note_name in notes or ():
                codes |= 1 if note_name == "type" else 1 << (self.checks.index(note_name) + 1)
            try:
                key, output = (self._slow_key(typed),), self._output(typed)
            except (ValueError, OverflowError, TypeError):  # e.g. a "+24:00" offset dateutil allows
                key, output = (f"{type(typed).__name__}:{typed!r}",), None
            found = (codes, output if not codes & 1 else None, key)
            if len(self.cache) > CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = found
        return found

    def _merge_slow(self, frame, slow, codes, value, keys, present, want_keys):  # type: ignore[no-untyped-def]
        distinct = frame.filter(slow)["raw"].unique().to_list()
        results = [self.read_distinct(text) for text in distinct]
        lookup = pl.DataFrame(
            {
                "raw": pl.Series(distinct, dtype=pl.String),
                "c": pl.Series([r[0] for r in results], dtype=pl.UInt32),
                "v": pl.Series([r[1] for r in results], dtype=self.dtype, strict=False),
                "k": pl.Series([r[2][0] for r in results], dtype=self.key_dtype, strict=False),
            }
        )
        joined = frame.with_columns(slow=slow).join(lookup, on="raw", how="left", maintain_order="left")
        pick = joined["slow"]
        codes = joined["c"].zip_with(pick, codes)
        value = joined["v"].zip_with(pick, value)
        present = present | (pick & (joined["c"] & 1 == 0))
        if want_keys:
            keys = [joined["k"].zip_with(pick, keys[0])]
        return codes, value, keys, present

    def _slow_key(self, typed: Any) -> Any:
        if typed is None:
            return None
        if self.type == "number":
            return _decimal_key(typed) if isinstance(typed, Decimal) else _decimal_key(Decimal(repr(typed)))
        if self.type == "datetime":
            return _datetime_key(typed)
        if self.type == "integer":
            return str(typed)
        if self.type in ("string", "any", "year", "boolean", "date"):
            return typed
        return repr(typed)

    @property
    def key_dtype(self) -> pl.DataType:
        """The polars type of this field's equality key."""
        return KEY_TYPES.get(self.type, pl.String())

    def _output(self, typed: Any) -> Any:
        if typed is None:
            return None
        if self.type == "number":
            return float(typed)
        if self.type == "datetime":
            return typed.astimezone(dt.UTC) if typed.tzinfo else typed.replace(tzinfo=dt.UTC)
        if self.type == "time":
            return typed.replace(tzinfo=None)
        if self.type in ("integer", "year"):
            return typed if -(2**63) <= typed < 2**63 else None
        if self.type in OUTPUT_TYPES:
            return typed
        return None  # the raw text is the output for the other types


def _compare(value: Any, op: str, bound: Any) -> bool:
    if value != value:  # NaN fails every bound, as in frictionless
        return False
    return bool(getattr(value, f"__{op}__")(bound))


def _decimal_key(value: Decimal) -> str | None:
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


def _canonical_decimal(text: pl.Series) -> pl.Series:
    """Vectorised `_decimal_key` for cells matching `-?[0-9]+(\\.[0-9]+)?`."""
    frame = pl.DataFrame({"t": text}).select(
        neg=pl.col("t").str.starts_with("-"),
        body=pl.col("t").str.strip_chars_start("-"),
    )
    frame = frame.with_columns(
        whole=pl.col("body").str.split(".").list.get(0, null_on_oob=True).str.strip_chars_start("0"),
        frac=pl.col("body").str.split(".").list.get(1, null_on_oob=True).fill_null("").str.strip_chars_end("0"),
    )
    whole = pl.when(pl.col("whole") == "").then(pl.lit("0")).otherwise(pl.col("whole"))
    number = pl.when(pl.col("frac") == "").then(whole).otherwise(whole + "." + pl.col("frac"))
    signed = pl.when(pl.col("neg") & (number != "0")).then("-" + number).otherwise(number)
    return frame.select(signed.alias("key")).to_series()


def _datetime_key(value: dt.datetime) -> str:
    """Aware datetimes are equal at the same instant; naive ones never equal aware ones."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        micros = (value - _EPOCH) // dt.timedelta(microseconds=1)
        return f"{micros}true"
    micros = (value.replace(tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}false"
