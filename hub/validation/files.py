"""A CSV file validated against a Table Schema: frictionless's report, computed column-wise."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import polars as pl

from hub.validation.keymemory import prefetch_arrays
from hub.validation.readahead import read_ahead
from hub.validation.reports import build_report
from hub.validation.tableerrors import describe_error
from hub.validation.tables import TableReadError, open_csv
from hub.validation.validator import CAST_ROWS, SchemaError, Validator

logger = logging.getLogger(__name__)
LARGE_FILE = 4 << 20  # bytes: tens of thousands of rows at least


def validate_file(
    path: Path | str,
    schema: dict[str, Any],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    limit_errors: int | None = None,
    chunk_rows: int = CAST_ROWS,
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
    if (validator.primary_key or validator.unique_names) and _size(path) > LARGE_FILE:
        prefetch_arrays()  # its keys will outgrow a dict: numpy loads while the file is read
    rows, warnings = 0, []
    rename = dict(zip(table.columns, validator.field_names, strict=False))
    if validator.foreign_keys:  # frictionless reads the table once for its keys' lookup first
        first = open_csv(path, encoding=encoding, delimiter=delimiter, chunk_rows=chunk_rows)
        for chunk in first.chunks:
            validator.learn_references(chunk.rename(rename))
    for chunk in read_ahead(table.chunks):
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


def _size(path: Path | str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
