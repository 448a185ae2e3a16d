"""Table Schema validation of CSV chunks, column-wise, with exactly frictionless-py's errors.

Cells are cast per column (`hub.validation.fieldtypes`), unique and primaryKey values are remembered
across chunks (`hub.validation.keymemory`), and only the rows that have an error become frictionless
error descriptors, in frictionless's own order (`hub.validation.rowerrors`).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from frictionless import FrictionlessException, Schema
from frictionless.table import Header
from frictionless.table import fields_match as fields_match_module

from hub.validation.fieldtypes import CastColumn, FieldCaster
from hub.validation.keymemory import KeyMemory
from hub.validation.reports import build_report, format_report
from hub.validation.rowerrors import RowFacts, describe_row
from hub.validation.tableerrors import describe_error
from hub.validation.tables import TableReadError, open_csv

__all__ = ["ChunkResult", "SchemaError", "Validator", "format_report", "validate_file"]
logger = logging.getLogger(__name__)


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
        invalid, casts, facts = self._check(chunk)
        errors = [error for fact in facts for error in describe_row(fact, self)]
        if reported:
            # A reader's own findings (normalisation-error …) make the row invalid too; they come
            # first within their row, as they happened before the cells were checked.
            invalid = invalid | chunk["_row"].cast(pl.Int64).is_in(list(reported))
            ordered = [e for errs in reported.values() for e in errs] + errors
            errors = sorted(ordered, key=lambda error: error["rowNumber"])
        valid = pl.DataFrame(
            [casts[c.name].value.filter(~invalid).alias(c.name) for c in self.casters]
            + [chunk["_row"].cast(pl.Int64).filter(~invalid)]
        )
        by_row: dict[int, list[dict[str, Any]]] = {}
        for error in errors:
            by_row.setdefault(error["rowNumber"], []).append(error)
        bad = chunk.filter(invalid)
        encoded = [json.dumps(by_row.get(row, []), ensure_ascii=False) for row in bad["_row"]]
        columns = [name for name in self.field_names if name in bad.columns]
        bad = bad.select(*columns, "_row").with_columns(_error=pl.Series(encoded, dtype=pl.String))
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
        for caster, raw in zip(self.casters, raws, strict=True):
            caster.prepare(raw)
        # one lazy select: every field's expressions in parallel, shared subexpressions once
        expressions = [
            e for i, c in enumerate(self.casters) for e in c.expressions(f"f{i}", c.name in keyed)
        ]
        computed = frame.lazy().select(expressions).collect()
        casts = {
            c.name: c.finish(raw, computed, c.name in keyed)
            for c, raw in zip(self.casters, raws, strict=True)
        }
        extras = _read_extras(chunk, len(self.casters))
        blank = pl.repeat(True, height, eager=True)
        invalid = rows.is_in(pl.Series(list(extras), dtype=pl.Int64).implode())
        trailing_null = pl.repeat(True, height, eager=True)  # missing cells are trailing
        for raw, cast in zip(reversed(raws), reversed(list(casts.values())), strict=True):
            trailing_null = trailing_null & raw.is_null()
            blank = blank & cast.missing
            invalid = invalid | trailing_null | (cast.codes != 0)
        unique_previous = {
            name: self._check_unique(name, casts[name], rows) for name in self.unique_names
        }
        key_previous, key_blank = self._check_primary_key(casts, rows)
        invalid = invalid | blank | key_previous.is_not_null() | key_blank
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
            )
            for i, row in enumerate(columns["row"])
        ]
        return invalid, casts, facts

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


def validate_file(
    path: Path | str,
    schema: dict[str, Any],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    limit_errors: int | None = None,
    chunk_rows: int = 100_000,
) -> dict[str, Any]:
    """Validate a CSV file; the report is frictionless's `report.to_descriptor()` shape."""
    started, place = time.perf_counter(), str(path)
    try:
        validator = Validator(schema)
        table = open_csv(
            path, encoding=encoding, delimiter=delimiter, chunk_rows=chunk_rows, digests=True
        )
    except SchemaError as exc:
        return build_report(place, [], exc.errors, started, {})
    except TableReadError as exc:
        kind = "encoding-error" if "not valid" in str(exc) else "source-error"
        return build_report(place, [], [describe_error(kind, str(exc))], started, {})
    errors = validator.check_header(table.header, row_number=table.header_row)
    rows, warnings = 0, []
    rename = dict(zip(table.columns, validator.field_names, strict=False))
    for chunk in _read_ahead(table.chunks):
        found = validator.check_chunk(chunk.rename(rename))
        if limit_errors and len(errors) + len(found) >= limit_errors:
            # frictionless stops after the row that reaches the limit (the first row if the
            # header's errors already did)
            reached = found[max(0, limit_errors - len(errors) - 1)]["rowNumber"]
            last = chunk["_row"][0] if len(errors) >= limit_errors else reached
            rows += chunk.filter(pl.col("_row") <= last).height
            errors += found[: limit_errors - len(errors)]
            warnings.append(f"reached error limit: {limit_errors}")
            break
        errors += found
        rows += chunk.height
    stats = {**table.stats, "fields": len(validator.schema.fields), "rows": rows}
    logger.info("validated %s: %d rows, %d errors", place, rows, len(errors))
    return build_report(place, table.header, errors, started, stats, warnings)


def _read_ahead(chunks: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """Parse the next chunk in a thread while this one is checked (polars frees the GIL)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, chunks, None)
        while (chunk := pending.result()) is not None:
            pending = pool.submit(next, chunks, None)
            yield chunk


def _never_equal_nan(cast: CastColumn, rows: pl.Series) -> pl.Series:
    """Keys where a NaN (present but keyless) gets a key of its own, as NaN != NaN."""
    key = cast.keys[0]
    nan = cast.present & key.is_null()
    if key.dtype != pl.String or not nan.any():
        return key
    return key.zip_with(~nan, "nan#" + rows.cast(pl.String))


def _read_extras(chunk: pl.DataFrame, width: int) -> dict[int, list[str]]:
    """Cells beyond the header, by row number, from the table's structural errors."""
    if "_error" not in chunk.columns:
        return {}
    flagged = chunk.filter(pl.col("_error").is_not_null()).select("_row", "_error")
    extras: dict[int, list[str]] = {}
    for row, encoded in flagged.iter_rows():
        for error in json.loads(encoded):
            if error["type"] == "extra-cell":
                extras.setdefault(row, []).append(error["cell"])
            elif error["type"] == "blank-row" and len(error["cells"]) > width:
                extras[row] = list(error["cells"][width:])
    return extras


def _nulls(size: int) -> pl.Series:
    return pl.repeat(None, size, dtype=pl.String, eager=True)
