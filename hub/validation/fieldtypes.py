"""Column-wise casting of Utf8 cells to Table Schema types, with frictionless's exact semantics.

Each field gets a vectorised "fast" reader (`hub.validation.fastreaders`) that accepts only a
plain, unambiguous subset of its type's language and casts it with polars expressions (all
fields of a chunk are evaluated in one parallel `select`). Every other non-missing cell goes
through frictionless's own cell reader, once per distinct value (cached), so exotic
spellings, formats and error notes are frictionless's by construction.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
from frictionless import Field

from hub.validation.fastreaders import pick_fast_reader
from hub.validation.fieldkeys import column_key, key_dtype, python_key
from hub.validation.geometries import plain_geometry
from hub.validation.patterns import plain_cells, plain_pattern

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
        self.notes = [f'type is "{self.type}/{self.format}"'] + [
            f'constraint "{name}" is "{constraints[name]}"' for name in self.checks
        ]
        self.dtype = OUTPUT_TYPES.get(self.type, pl.String())
        self.key_dtype = key_dtype(self.type)
        self.decimal_char = getattr(field, "decimal_char", ".")
        self.fast = pick_fast_reader(field)
        self.cache: dict[str, tuple[int, Any, Any]] = {}
        pattern = constraints.get("pattern") if "pattern" in self.checks else None
        # frictionless's own check is `re`'s; polars' regex decides the cells it provably agrees on
        self.pattern = re.compile(f"^{pattern}$") if pattern is not None else None
        self.plain_pattern = plain_pattern(pattern) if pattern is not None else None
        self.pattern_cache: dict[str, bool] = {}
        self.prefix = f"{number}:"
        # a bare geometry is decided without jsonschema (see hub.validation.geometries)
        self.plain_geometries = (self.type, self.format, self.checks) in (
            ("geojson", "default", []),
            ("geojson", "default", ["required"]),
        )
        self.built: dict[tuple[str, bool], list[pl.Expr]] = {}

    def cast(self, raw: pl.Series, *, want_keys: bool) -> CastColumn:
        """Cast one Utf8 column (see `expressions` and `finish` for many at once)."""
        frame = pl.DataFrame({self.name: raw})
        return self.finish(raw, frame.select(self.expressions(self.name, want_keys)), want_keys)

    def expressions(self, source: str, keyed: bool) -> list[pl.Expr]:
        """Expressions giving this field's missing/ok/value/codes(/key, ties) columns."""
        built = self.built.get((source, keyed))
        if built is None:
            built = self.built[(source, keyed)] = self._build_expressions(source, keyed)
        return built

    def _build_expressions(self, source: str, keyed: bool) -> list[pl.Expr]:
        raw, out = pl.col(source), self.prefix
        if self.missing_values == [""]:
            missing = raw.is_null() | (raw == "")
        else:
            missing = raw.is_null() | raw.is_in(
                pl.Series(self.missing_values, dtype=pl.String).implode()
            )
        if self.fast is None:
            ok, typed = pl.lit(False), pl.lit(None, dtype=self.dtype)
        else:
            accepted, typed = self.fast(raw)
            ok = accepted.fill_null(False) & ~missing
        codes = pl.lit(0, dtype=pl.UInt32)
        ties = []  # extra columns `finish` settles exactly: bound ties, odd pattern cells
        for index, name in enumerate(self.checks):
            failed = self._failure(name, raw, ok, typed, missing)
            if failed is not None:
                bit = pl.lit(1 << (index + 1), dtype=pl.UInt32)
                codes = codes | pl.when(failed).then(bit).otherwise(pl.lit(0, dtype=pl.UInt32))
            if name in BOUNDS and self.type == "number" and self.fast is not None:
                bound = float(self.value_reader(self.field.constraints[name]))
                ties.append((ok & (typed == bound)).alias(f"{out}tie:{name}"))
            if name == "pattern" and self.fast is not None:
                odd = ok if self.plain_pattern is None else ok & ~plain_cells(raw)
                ties.append(odd.alias(f"{out}odd:pattern"))
        columns = [
            missing.alias(f"{out}missing"),
            ok.alias(f"{out}ok"),
            pl.when(ok).then(typed).otherwise(None).cast(self.dtype).alias(f"{out}value"),
            codes.alias(f"{out}codes"),
            *ties,
        ]
        if keyed:
            key = pl.lit(None, dtype=self.key_dtype)
            if self.fast is not None:
                key = pl.when(ok).then(column_key(self.type, raw, typed, self.decimal_char))
            columns.append(key.cast(self.key_dtype).alias(f"{out}key"))
        return columns

    def finish(self, raw: pl.Series, computed: pl.DataFrame, keyed: bool) -> CastColumn:
        """Complete the evaluated columns: exact ties, then frictionless's reader on the rest."""
        out = self.prefix
        missing, ok = computed[f"{out}missing"], computed[f"{out}ok"]
        codes, value = computed[f"{out}codes"], computed[f"{out}value"]
        keys = [computed[f"{out}key"]] if keyed else []
        for index, name in enumerate(self.checks):
            if f"{out}tie:{name}" in computed.columns:
                codes = self._settle_ties(name, index, raw, computed[f"{out}tie:{name}"], codes)
        if f"{out}odd:pattern" in computed.columns:
            index = self.checks.index("pattern")
            codes = self._settle_pattern(index, raw, computed[f"{out}odd:pattern"], codes)
        present = ok
        slow = ~missing & ~ok
        if slow.any():
            codes, value, keys, present = self._merge_slow(raw, slow, codes, value, keys, present)
            if self.type not in OUTPUT_TYPES:  # the text is the value of every cell read
                value = raw.zip_with(present, _nulls(len(raw), pl.String()))
        return CastColumn(codes=codes, value=value, keys=keys, present=present, missing=missing)

    # Constraints on fast cells (and `required` on missing ones)

    def _failure(
        self, name: str, raw: pl.Expr, ok: pl.Expr, typed: pl.Expr, missing: pl.Expr
    ) -> pl.Expr | None:
        constraint = self.field.constraints[name]
        if name == "required":
            return missing if constraint else None
        if self.fast is None:
            return None
        if name in ("minLength", "maxLength"):
            length = raw.str.len_chars()
            return ok & ((length < constraint) if name == "minLength" else (length > constraint))
        if name == "pattern":
            if self.plain_pattern is None:
                return None  # every cell is Python's (`_settle_pattern`)
            return ok & plain_cells(raw) & ~raw.str.contains(self.plain_pattern)
        if name == "enum":
            members = [python_key(self.type, self.value_reader(v)) for v in constraint]
            allowed = pl.Series([m for m in members if m is not None], dtype=self.key_dtype)
            key = column_key(self.type, raw, typed, self.decimal_char).cast(self.key_dtype)
            return ok & ~key.is_in(allowed.implode())
        if name in BOUNDS:
            bound = self.value_reader(constraint)
            op = BOUNDS[name]
            if self.type == "number":
                # frictionless compares Decimals: floats decide all but equal floats (ties)
                return ok & ~(getattr(typed, f"__{op}__")(float(bound)) & ~typed.is_nan())
            if self.type == "datetime" and isinstance(bound, dt.datetime):
                bound = bound.astimezone(dt.UTC) if bound.tzinfo else bound.replace(tzinfo=dt.UTC)
            return ok & ~getattr(typed, f"__{op}__")(pl.lit(bound))
        return None

    def _settle_ties(
        self, name: str, index: int, raw: pl.Series, tie: pl.Series, codes: pl.Series
    ) -> pl.Series:
        """Cells whose float equals the bound's: compare as Decimals, as frictionless does."""
        if not tie.any():
            return codes
        bound, op = self.value_reader(self.field.constraints[name]), BOUNDS[name]
        texts = raw.filter(tie).str.replace(self.decimal_char, ".", literal=True).to_list()
        bit = 1 << (index + 1)
        fixed = [bit if not _compare(Decimal(text), op, bound) else 0 for text in texts]
        where = tie.arg_true()
        patched = [
            (code & ~bit) | flag for code, flag in zip(codes.gather(where), fixed, strict=True)
        ]
        return codes.scatter(where, pl.Series(patched, dtype=pl.UInt32))

    def _settle_pattern(
        self, index: int, raw: pl.Series, odd: pl.Series, codes: pl.Series
    ) -> pl.Series:
        """Cells polars' regex cannot decide (non-ASCII, multi-line ...): Python's `re` decides."""
        if not odd.any():
            return codes
        where = odd.arg_true()
        texts = raw.gather(where)
        failing = [text for text in texts.unique().to_list() if not self._matches(text)]
        if not failing:
            return codes
        bit = pl.lit(1 << (index + 1), dtype=pl.UInt32)
        flagged = pl.DataFrame({"code": codes.gather(where), "text": texts}).select(
            pl.when(pl.col("text").is_in(pl.Series(failing, dtype=pl.String).implode()))
            .then(pl.col("code") | bit)
            .otherwise(pl.col("code"))
        )
        return codes.scatter(where, flagged.to_series())

    def _matches(self, text: str) -> bool:
        found = self.pattern_cache.get(text)
        if found is None:
            assert self.pattern is not None
            found = self.pattern.match(text) is not None
            if len(self.pattern_cache) > CACHE_LIMIT:
                self.pattern_cache.clear()
            self.pattern_cache[text] = found
        return found

    # Slow cells: frictionless's own reader, once per distinct value

    def read_distinct(self, text: str) -> tuple[int, Any, Any]:
        """(error bits, output value, key) for one raw cell, as frictionless reads it."""
        found = self.cache.get(text)
        if found is None:
            geometry = plain_geometry(text) if self.plain_geometries else None
            typed, notes = (geometry, None) if geometry is not None else self.reader(text)
            codes = 0
            for note in notes or ():
                codes |= 1 if note == "type" else 1 << (self.checks.index(note) + 1)
            try:
                key, output = python_key(self.type, typed), _output(self.type, typed)
            except (ValueError, OverflowError, TypeError):  # e.g. a "+24:00" offset dateutil allows
                key, output = f"{type(typed).__name__}:{typed!r}", None
            found = (codes, None if codes & 1 else output, key)
            if len(self.cache) > CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = found
        return found

    def _merge_slow(self, raw, slow, codes, value, keys, present):  # type: ignore[no-untyped-def]
        # only the slow cells are looked up and patched: usually a few per chunk
        where = slow.arg_true()
        texts = raw.gather(where)
        distinct = texts.unique().to_list()
        results = [self.read_distinct(text) for text in distinct]
        lookup = pl.DataFrame(
            {
                "raw": pl.Series(distinct, dtype=pl.String),
                "c": pl.Series([r[0] for r in results], dtype=pl.UInt32),
                "v": pl.Series([r[1] for r in results], dtype=self.dtype, strict=False),
                "k": pl.Series([r[2] for r in results], dtype=self.key_dtype, strict=False),
            }
        )
        found = texts.to_frame("raw").join(lookup, on="raw", how="left", maintain_order="left")
        codes = codes.scatter(where, found["c"])
        value = value.scatter(where, found["v"])
        present = present.scatter(where, found["c"] & 1 == 0)
        if keys:
            keys = [keys[0].scatter(where, found["k"])]
        return codes, value, keys, present


def _output(kind: str, typed: Any) -> Any:
    """A typed value as the polars output column holds it."""
    if typed is None or kind not in OUTPUT_TYPES:
        return None  # the raw text is the output for the other types
    if kind == "number":
        return float(typed)
    if kind == "datetime":
        return typed.astimezone(dt.UTC) if typed.tzinfo else typed.replace(tzinfo=dt.UTC)
    if kind == "time":
        return typed.replace(tzinfo=None)
    if kind in ("integer", "year"):
        return typed if -(2**63) <= typed < 2**63 else None
    return typed


def _compare(value: Any, op: str, bound: Any) -> bool:
    if value != value:  # NaN fails every bound, as in frictionless
        return False
    return bool(getattr(value, f"__{op}__")(bound))


def _nulls(size: int, dtype: pl.DataType) -> pl.Series:
    return pl.repeat(None, size, dtype=dtype, eager=True)
