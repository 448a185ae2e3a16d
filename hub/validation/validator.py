"""Table Schema validation of CSV chunks, column-wise, with exactly frictionless-py's errors.

Cells are cast per column (`hub.validation.fieldtypes`), unique and primaryKey values are
remembered across chunks (`hub.validation.keymemory`), and only the rows that have an error become
frictionless error descriptors, in frictionless's own order (`hub.validation.rowerrors`). Whole
files are validated by `hub.validation.files`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
from frictionless import FrictionlessException, Schema
from frictionless.table import Header
from frictionless.table import fields_match as fields_match_module

from hub.validation.fieldtypes import CastColumn, FieldCaster
from hub.validation.foreignkeys import Lookup, self_references
from hub.validation.keymemory import KeyMemory
from hub.validation.readahead import read_ahead
from hub.validation.rowerrors import RowFacts, describe_row
from hub.validation.rowflags import flag_rows, read_extras

__all__ = ["CAST_ROWS", "ChunkResult", "SchemaError", "Validator"]
CAST_ROWS = 100_000  # rows cast and checked at once (files are read in chunks of this size)


class SchemaError(ValueError):
    """The Table Schema descriptor is not valid (frictionless's descriptors in `errors`)."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(e.get("message", "") for e in errors) or "invalid schema")
        self.errors = errors


@dataclass
class ChunkResult:
    """A validated chunk: typed valid rows, raw invalid rows, and every error in order."""

    valid: pl.DataFrame
    invalid: pl.DataFrame
    errors: list[dict[str, Any]]


class Validator:
    """Validates chunks against a Table Schema, remembering unique and primary-key values."""

    def __init__(self, descriptor: dict[str, Any]):
        try:
            self.schema = Schema.from_descriptor(copy.deepcopy(descriptor))
        except FrictionlessException as exc:
            raise SchemaError([e.to_descriptor() for e in exc.to_errors()]) from exc
        names = {field.name for field in self.schema.fields}
        # the values the schema's keys into its own table may take: `learn_references` fills it
        self.lookup = Lookup(self_references(self.schema.foreign_keys, names))
        self.use_fields(list(self.schema.fields))

    def use_fields(self, fields: list[Any]) -> None:
        """Expect these fields in the chunks (the schema's, or those matched to a header)."""
        self.casters = [FieldCaster(field, number) for number, field in enumerate(fields, start=1)]
        self.field_indexes = {caster.name: index for index, caster in enumerate(self.casters)}
        names = {field.name for field in fields}
        self.unique_names = [f.name for f in fields if f.constraints.get("unique")]
        primary_key = list(self.schema.primary_key)
        # frictionless skips the primary-key check when the header lacks one of its fields
        self.primary_key = primary_key if primary_key and set(primary_key) <= names else []
        self.unique_memory = {name: KeyMemory() for name in self.unique_names}
        self.key_memory = KeyMemory()
        self.foreign_keys = [k for k in self.lookup.keys if set(k.fields) <= names]

    def learn_references(self, chunk: pl.DataFrame) -> None:
        """Add a chunk's referenced values to the foreign keys' lookup (a first pass over the
        whole table, as frictionless reads it before checking any row)."""
        if not self.foreign_keys:
            return
        wanted = [c for c in self.casters if c.name in self.lookup.referenced]
        raws = [
            chunk[c.name].cast(pl.String) if c.name in chunk.columns else _nulls(chunk.height)
            for c in wanted
        ]
        frame = pl.DataFrame({f"f{i}": raw for i, raw in enumerate(raws)}, height=chunk.height)
        expressions = [e for i, c in enumerate(wanted) for e in c.expressions(f"f{i}", False)]
        computed = frame.lazy().select(expressions).collect()
        self.lookup.add(
            {
                c.name: c.finish(raw, computed, False).value
                for c, raw in zip(wanted, raws, strict=True)
            }
        )

    def learn_stored_references(self, stored: pl.DataFrame) -> None:
        """Add values already stored (typed columns named by field) to the lookup."""
        if self.foreign_keys:
            self.lookup.add({name: stored[name] for name in stored.columns})

    @property
    def field_names(self) -> list[str]:
        """The names of the fields the chunks are expected to carry, in order."""
        return [caster.name for caster in self.casters]

    def check_header(self, labels: list[str], *, row_number: int = 1) -> list[dict[str, Any]]:
        """Header errors exactly as frictionless; later chunks follow the header's fields."""
        declared = self.schema.fields_match if self.schema.has_defined("fields_match") else None
        header = Header(
            labels,
            fields=self.schema.fields,
            row_numbers=[row_number],
            ignore_case=False,
            fields_match=fields_match_module.resolve(declared, schema_sync=False),
        )
        self.use_fields(header.get_expected_fields())
        return [error.to_descriptor() for error in header.errors]

    def validate_chunk(
        self, chunk: pl.DataFrame, reported: dict[int, list[dict[str, Any]]] | None = None
    ) -> ChunkResult:
        """Validate one chunk: Utf8 field columns (absent = all null), `_row`, optional `_error`.

        `reported` holds, by row number, the error descriptors a reader or normalisation found.
        """
        return next(self.validate_parts(chunk, reported))

    def validate_stream(
        self,
        frames: Iterator[tuple[pl.DataFrame, dict[int, list[dict[str, Any]]] | None]],
        *,
        part_rows: int | None = None,
    ) -> Iterator[ChunkResult]:
        """`validate_parts` of each (chunk, reported) in turn, the next one under way in a helper
        thread while the caller uses the current one (e.g. stores it)."""
        return read_ahead(
            result
            for chunk, reported in frames
            for result in self.validate_parts(chunk, reported, part_rows=part_rows)
        )

    def validate_parts(
        self,
        chunk: pl.DataFrame,
        reported: dict[int, list[dict[str, Any]]] | None = None,
        *,
        part_rows: int | None = None,
    ) -> Iterator[ChunkResult]:
        """Validate one chunk, its invalid rows in parts of about `part_rows` rows (default one).

        The first part of every CAST_ROWS rows holds their valid rows. Cells are cast and keys
        checked that many rows at a time (each call has a cost of its own); the error
        descriptors, which weigh kilobytes, exist a part at a time.
        """
        for start in range(0, max(chunk.height, 1), CAST_ROWS):
            piece = chunk if chunk.height <= CAST_ROWS else chunk.slice(start, CAST_ROWS)
            yield from self._validate_piece(piece, reported, part_rows)

    def _validate_piece(
        self,
        chunk: pl.DataFrame,
        reported: dict[int, list[dict[str, Any]]] | None,
        part_rows: int | None,
    ) -> Iterator[ChunkResult]:
        invalid, casts, facts = self._check(chunk)
        rows = chunk["_row"].cast(pl.Int64)
        if reported:
            invalid = invalid | rows.is_in(pl.Series(list(reported), dtype=pl.Int64).implode())
        valid = pl.DataFrame(
            [casts[c.name].value.filter(~invalid).alias(c.name) for c in self.casters]
            + [rows.filter(~invalid)]
        )
        columns = [name for name in self.field_names if name in chunk.columns]
        bad = chunk.filter(invalid).select(*columns, "_row")
        by_row: dict[int, list[RowFacts]] = {}
        for fact in facts:
            by_row.setdefault(fact.row, []).append(fact)
        numbers = bad["_row"].cast(pl.Int64).unique(maintain_order=True).to_list()
        size = part_rows or max(1, len(numbers))
        for start in range(0, max(1, len(numbers)), size):
            group = numbers[start : start + size]
            part = bad if size >= len(numbers) else bad.filter(pl.col("_row").is_in(group))
            yield self._describe_part(
                valid if start == 0 else valid.clear(), part, group, by_row, reported or {}
            )

    def _describe_part(
        self,
        valid: pl.DataFrame,
        bad: pl.DataFrame,
        numbers: list[int],
        facts: dict[int, list[RowFacts]],
        reported: dict[int, list[dict[str, Any]]],
    ) -> ChunkResult:
        """A part's result: its invalid rows with their errors as JSON, and the errors in order."""
        # A reader's own findings (normalisation-error ...) come first within their row, as they
        # happened before the cells were checked; rows keep their order.
        errors = [e for number in numbers for e in reported.get(number, [])]
        errors += [
            e
            for number in numbers
            for fact in facts.get(number, [])
            for e in describe_row(fact, self)
        ]
        errors.sort(key=lambda error: error["rowNumber"])
        by_row: dict[int, list[dict[str, Any]]] = {}
        for error in errors:
            by_row.setdefault(error["rowNumber"], []).append(error)
        encoded = [json.dumps(by_row.get(row, []), ensure_ascii=False) for row in bad["_row"]]
        bad = bad.with_columns(_error=pl.Series(encoded, dtype=pl.String))
        return ChunkResult(valid=valid, invalid=bad, errors=errors)

    def check_chunk(self, chunk: pl.DataFrame) -> list[dict[str, Any]]:
        """Only the errors of a chunk (what `validate_file` needs)."""
        _, _, facts = self._check(chunk)
        return [error for fact in facts for error in describe_row(fact, self)]

    def _check(
        self, chunk: pl.DataFrame
    ) -> tuple[pl.Series, dict[str, CastColumn], list[RowFacts]]:
        """Cast every field, run the structural and key checks, collect the invalid rows."""
        height, rows = chunk.height, chunk["_row"].cast(pl.Int64)
        keyed = set(self.unique_names) | set(self.primary_key)
        raws = [
            chunk[c.name].cast(pl.String) if c.name in chunk.columns else _nulls(height)
            for c in self.casters
        ]
        frame = pl.DataFrame({f"f{i}": raw for i, raw in enumerate(raws)}, height=height)
        # one lazy select: every field's expressions in parallel, shared subexpressions once
        expressions = [
            e for i, c in enumerate(self.casters) for e in c.expressions(f"f{i}", c.name in keyed)
        ]
        computed = frame.lazy().select(expressions).collect()
        casts = {
            c.name: c.finish(raw, computed, c.name in keyed)
            for c, raw in zip(self.casters, raws, strict=True)
        }
        extras = read_extras(chunk, len(self.casters))
        blank, invalid = flag_rows(rows, raws, list(casts.values()), list(extras))
        unique_previous = {
            name: self._check_unique(name, casts[name], rows) for name in self.unique_names
        }
        key_previous, key_blank = self._check_primary_key(casts, rows)
        invalid = invalid | blank | key_previous.is_not_null() | key_blank
        foreign = self._check_foreign_keys(casts, height)
        for broken in foreign:
            invalid = invalid | broken
        for previous in unique_previous.values():
            invalid = invalid | previous.is_not_null()
        if not invalid.any():
            return invalid, casts, []
        where = invalid.arg_true()
        pick = lambda series: series.gather(where).to_list()  # noqa: E731
        columns = {
            "row": pick(rows),
            "cells": list(zip(*[pick(raw) for raw in raws], strict=True)) or [()] * len(where),
            "codes": list(zip(*[pick(casts[c.name].codes) for c in self.casters], strict=True))
            or [()] * len(where),
            "blank": pick(blank),
            "key_previous": pick(key_previous),
            "key_blank": pick(key_blank),
            "foreign": list(zip(*[pick(broken) for broken in foreign], strict=True))
            or [()] * len(where),
        }
        uniques = {name: pick(previous) for name, previous in unique_previous.items()}
        facts = [
            RowFacts(
                row=row,
                cells=columns["cells"][i],
                codes=columns["codes"][i],
                extras=extras.get(row, []),
                blank=columns["blank"][i],
                unique_previous={name: found[i] for name, found in uniques.items()},
                key_previous=columns["key_previous"][i],
                key_blank=columns["key_blank"][i],
                foreign_missing=[
                    k
                    for k, broken in zip(self.foreign_keys, columns["foreign"][i], strict=True)
                    if broken
                ],
            )
            for i, row in enumerate(columns["row"])
        ]
        return invalid, casts, facts

    def _check_foreign_keys(self, casts: dict[str, CastColumn], height: int) -> list[pl.Series]:
        """Per foreign key, the rows whose values are not in its lookup."""
        if not self.foreign_keys:
            return []
        values = {name: casts[name].value for key in self.foreign_keys for name in key.fields}
        return self.lookup.missing(self.foreign_keys, values, height)

    def _check_unique(self, name: str, cast: CastColumn, rows: pl.Series) -> pl.Series:
        """Row of the previous equal value (null when new or not checked)."""
        key = _never_equal_nan(cast, rows)
        eligible = cast.present & key.is_not_null()
        previous = pl.repeat(None, len(rows), dtype=pl.Int64, eager=True)
        if not eligible.any():
            return previous
        keys = pl.DataFrame({"k": key.filter(eligible)})
        found = self.unique_memory[name].check(keys, rows.filter(eligible))
        return previous.scatter(eligible.arg_true(), found)

    def _check_primary_key(
        self, casts: dict[str, CastColumn], rows: pl.Series
    ) -> tuple[pl.Series, pl.Series]:
        """Previous row with the same primary key, and the rows whose key cells are all None."""
        previous = pl.repeat(None, len(rows), dtype=pl.Int64, eager=True)
        if not self.primary_key:
            return previous, pl.repeat(False, len(rows), eager=True)
        all_none = pl.repeat(True, len(rows), eager=True)
        for name in self.primary_key:
            all_none = all_none & ~casts[name].present
        eligible = ~all_none
        if eligible.any():
            keys = pl.DataFrame(
                {
                    f"k{i}": _never_equal_nan(casts[name], rows).filter(eligible)
                    for i, name in enumerate(self.primary_key)
                }
            )
            found = self.key_memory.check(keys, rows.filter(eligible))
            previous = previous.scatter(eligible.arg_true(), found)
        return previous, all_none


def _never_equal_nan(cast: CastColumn, rows: pl.Series) -> pl.Series:
    """Keys where a NaN (present but keyless) gets a key of its own, as NaN != NaN."""
    key = cast.keys[0]
    nan = cast.present & key.is_null()
    if key.dtype != pl.String or not nan.any():
        return key
    return key.zip_with(~nan, "nan#" + rows.cast(pl.String))


def _nulls(size: int) -> pl.Series:
    return pl.repeat(None, size, dtype=pl.String, eager=True)
