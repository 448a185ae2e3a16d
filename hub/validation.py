"""Table Schema validation of CSV chunks, column-wise, with exactly frictionless-py's errors.

Cells are cast per column (`hub.fieldtypes`); unique and primaryKey state lives in
`hub.keymemory`; only the rows that have an error are turned into frictionless error
descriptors, in frictionless's own order (`hub.rowerrors`).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from frictionless import FrictionlessException, Schema, helpers
from frictionless.table import Header
from frictionless.table import fields_match as fields_match_module

from hub.fieldtypes import CastColumn, FieldCaster
from hub.keymemory import KeyMemory
from hub.rowerrors import RowFacts, describe_row
from hub.tableerrors import describe_error
from hub.tables import TableReadError, open_csv

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
        """Expect these fields in the chunks (schema order, or as matched to a header)."""
        self.casters = [FieldCaster(field, number) for number, field in enumerate(fields, start=1)]
        names = [field.name for field in fields]
        self.unique_names = [f.name for f in fields if f.constraints.get("unique")]
        primary_key = list(self.schema.primary_key)
        self.primary_key = primary_key if primary_key and set(primary_key) <= set(names) else []
        self.unique_memory = {name: KeyMemory() for name in self.unique_names}
        self.key_memory = KeyMemory()

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

    @property
    def field_names(self) -> list[str]:
        """The names of the fields the chunks are expected to carry, in order."""
        return [caster.name for caster in self.casters]

    def validate_chunk(self, chunk: pl.DataFrame) -> ChunkResult:
        """Validate one chunk: Utf8 field columns, `_row`, optional `_error`."""
        invalid, casts, facts = self._check(chunk)
        errors = [error for fact in facts for error in describe_row(fact, self)]
        valid = chunk.filter(~invalid).select(
            *[casts[c.name].value.filter(~invalid).alias(c.name) for c in self.casters],
            pl.col("_row"),
        ) if chunk.height else chunk.select(pl.col("_row"))
        by_row: dict[int, list[dict[str, Any]]] = {}
        for error in errors:
            by_row.setdefault(error["rowNumber"], []).append(error)
        bad = chunk.filter(invalid)
        encoded = [json.dumps(by_row.get(row, []), ensure_ascii=False) for row in bad["_row"]]
        columns = [name for name in self.field_names if name in bad.columns]
        bad = bad.select(*columns, "_row").with_columns(
            _error=pl.Series(encoded, dtype=pl.String)
        )
        return ChunkResult(valid=valid, invalid=bad, errors=errors)

    def check_chunk(self, chunk: pl.DataFrame) -> list[dict[str, Any]]:
        """Only the errors of a chunk (what `validate_file` needs)."""
        _, _, facts = self._check(chunk)
        return [error for fact in facts for error in describe_row(fact, self)]

    def _check(self, chunk: pl.DataFrame) -> tuple[pl.Series, dict[str, CastColumn], list[RowFacts]]:
        """Cast every field, run the key checks, and collect facts about invalid rows."""
        height = chunk.height
        rows = chunk["_row"].cast(pl.Int64)
        need_keys = set(self.unique_names) | set(self.primary_key)
        casts: dict[str, CastColumn] = {}
        raws: list[pl.Series] = []
        for caster in self.casters:
            if caster.name in chunk.columns:
                raw = chunk[caster.name].cast(pl.String)
            else:
                raw = pl.repeat(None, height, dtype=pl.String, eager=True)
            raws.append(raw)
            casts[caster.name] = caster.cast(raw, want_keys=caster.name in need_keys)
        extras = _read_extras(chunk, len(self.casters))
        invalid = pl.repeat(False, height, eager=True)
        for cast in casts.values():
            invalid = invalid | (cast.codes != 0)
        blank = pl.repeat(True, height, eager=True)
        for cast in casts.values():
            blank = blank & cast.missing
        trailing_null = pl.repeat(True, height, eager=True)
        for raw in reversed(raws):
            trailing_null = trailing_null & raw.is_null()
            invalid = invalid | trailing_null
        has_extra = pl.Series([False] * height) if not extras else rows.is_in(list(extras))
        invalid = invalid | blank | has_extra
        unique_previous = {name: self._check_unique(name, casts[name], rows) for name in self.unique_names}
        for previous in unique_previous.values():
            invalid = invalid | previous.is_not_null()
        key_previous, key_blank = self._check_primary_key(casts, rows)
        invalid = invalid | key_previous.is_not_null() | key_blank
        facts = self._collect_facts(
            invalid, rows, raws, casts, extras, blank, unique_previous, key_previous, key_blank
        )
        return invalid, casts, facts

    def _check_unique(self, name: str, cast: CastColumn, rows: pl.Series) -> pl.Series:
        """Row of the previous equal value (null when new or not checked)."""
        key = _never_equal_nan(cast, rows)
        eligible = cast.present & key.is_not_null()
        previous = pl.repeat(None, len(rows), dtype=pl.Int64, eager=True)
        if not eligible.any():
            return previous
        found = self.unique_memory[name].check(pl.DataFrame({"k": key.filter(eligible)}), rows.filter(eligible))
        return previous.scatter(eligible.arg_true(), found)

    def _check_primary_key(self, casts: dict[str, CastColumn], rows: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Previous row with the same primary key, and rows whose key cells are all None."""
        previous = pl.repeat(None, len(rows), dtype=pl.Int64, eager=True)
        if not self.primary_key:
            return previous, pl.repeat(False, len(rows), eager=True)
        all_none = pl.repeat(True, len(rows), eager=True)
        for name in self.primary_key:
            all_none = all_none & ~casts[name].present
        eligible = ~all_none
        if eligible.any():
            keys = pl.DataFrame(
                {f"k{i}": _never_equal_nan(casts[n], rows).filter(eligible) for i, n in enumerate(self.primary_key)}
            )
            found = self.key_memory.check(keys, rows.filter(eligible))
            previous = previous.scatter(eligible.arg_true(), found)
        return previous, all_none

    def _collect_facts(self, invalid, rows, raws, casts, extras, blank, unique_previous, key_previous, key_blank) -> list[RowFacts]:  # type: ignore[no-untyped-def]
        """What the error builder needs about each invalid row, pulled out of the columns."""
        if not invalid.any():
            return []
        where = invalid.arg_true()
        pick = lambda series: series.gather(where).to_list()  # noqa: E731
        cells = list(zip(*[pick(raw) for raw in raws], strict=True)) if raws else [()] * len(where)
        codes = list(zip(*[pick(casts[c.name].codes) for c in self.casters], strict=True)) if raws else [()] * len(where)
        uniques = {name: pick(previous) for name, previous in unique_previous.items()}
        keys, key_blanks = pick(key_previous), pick(key_blank)
        facts = []
        for i, (row, is_blank) in enumerate(zip(pick(rows), pick(blank), strict=True)):
            facts.append(
                RowFacts(
                    row=row,
                    cells=cells[i],
                    codes=codes[i],
                    extras=extras.get(row, []),
                    blank=is_blank,
                    unique_previous={name: found[i] for name, found in uniques.items()},
                    key_previous=keys[i],
                    key_blank=key_blanks[i],
                )
            )
        return facts


def _never_equal_nan(cast: CastColumn, rows: pl.Series) -> pl.Series:
    """Keys where a NaN (present, keyless) gets a key no other row shares, as NaN != NaN."""
    key = cast.keys[0]
    nan = cast.present & key.is_null()
    if key.dtype != pl.String or not nan.any():
        return key
    return key.zip_with(~nan, "nan#" + rows.cast(pl.String))


def _read_extras(chunk: pl.DataFrame, width: int) -> dict[int, list[str]]:
    """Cells beyond the header, by row number, from the reader's structural errors."""
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
    started = time.perf_counter()
    place = str(path)
    task: dict[str, Any] = {"name": _resource_name(place), "type": "table", "valid": True, "place": place}
    try:
        validator = Validator(schema)
    except SchemaError as exc:
        return _report(task, [], exc.errors, started, {})
    try:
        table = open_csv(
            path, encoding=encoding, delimiter=delimiter, chunk_rows=chunk_rows, digests=True
        )
    except TableReadError as exc:
        kind = "encoding-error" if "not valid" in str(exc) else "source-error"
        return _report(task, [], [describe_error(kind, str(exc))], started, {})
    errors = validator.check_header(table.header, row_number=table.header_row)
    if not table.header:
        errors.insert(0, describe_error("source-error", "the source is empty"))
    rows, warnings = 0, []
    rename = dict(zip(table.columns, validator.field_names, strict=False))
    for chunk in table.chunks:
        found = validator.check_chunk(chunk.rename(rename))
        if limit_errors and len(errors) + len(found) >= limit_errors:
            last = found[limit_errors - len(errors) - 1]["rowNumber"]
            rows += chunk.filter(pl.col("_row") <= last).height
            errors += found[: limit_errors - len(errors)]
            warnings.append(f"reached error limit: {limit_errors}")
            break
        errors += found
        rows += chunk.height
    stats = {**table.stats, "fields": len(validator.schema.fields), "rows": rows}
    return _report(task, table.header, errors, started, stats, warnings)


def _resource_name(place: str) -> str:
    """The resource name frictionless derives from a path (slugified file stem)."""
    stem = os.path.splitext(os.path.basename(place))[0]
    return helpers.slugify(stem, regex_pattern=r"[^-a-z0-9._/]") or "name"


def _report(task, labels, errors, started, stats, warnings=()):  # type: ignore[no-untyped-def]
    """Assemble the report descriptor (valid, stats, warnings, errors, tasks)."""
    seconds = round(time.perf_counter() - started, 3)
    task_stats = {"errors": len(errors), "warnings": len(warnings), "seconds": seconds}
    task_stats.update({k: v for k, v in stats.items() if v})
    task.update(valid=not errors, labels=list(labels), stats=task_stats)
    task.update(warnings=list(warnings), errors=errors)
    return {
        "valid": not errors,
        "stats": {"tasks": 1, "errors": len(errors), "warnings": len(warnings), "seconds": seconds},
        "warnings": [],
        "errors": [],
        "tasks": [task],
    }


def format_report(report: dict[str, Any], *, max_rows: int = 50) -> str:
    """Human text: a summary line, then a row/field/type/message table."""
    lines = []
    for task in report.get("tasks", []):
        stats = task.get("stats", {})
        state = "valid" if task.get("valid") else "INVALID"
        lines.append(
            f"{task.get('place', '')}: {state} - {stats.get('rows', 0)} rows, "
            f"{stats.get('errors', 0)} errors, {stats.get('seconds', 0)} s"
        )
        errors = task.get("errors", [])
        if not errors:
            continue
        width = max(len(str(e.get("fieldName", ""))) for e in errors[:max_rows])
        width = max(width, 5)
        lines.append(f"{'row':>8}  {'field':<{width}}  {'type':<18}  message")
        for error in errors[:max_rows]:
            row = error.get("rowNumber", "")
            lines.append(
                f"{row!s:>8}  {error.get('fieldName', '')!s:<{width}}  "
                f"{error['type']:<18}  {error.get('message', '')}"
            )
        if len(errors) > max_rows:
            lines.append(f"... and {len(errors) - max_rows} more errors")
    for warning in report.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
