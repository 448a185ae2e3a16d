"""The `csv` reader: any CSV mapped onto its target schema by the source's `options`.

Options: `encoding`, `delimiter`, `quotechar`, `decimal` ("," for decimal commas), `crs` (EPSG
code of the lon/lat columns, default EPSG:4326), `timezone` (IANA zone of naive timestamps),
`timestamp_format` (strftime, default ISO 8601) and `columns`, mapping each schema field to:

    station_id: Code station           # a source column
    unit: {value: "µg/m³"}             # a constant
    pollutant: {column: Polluant, map: {"PM2.5": pm25, "Dioxyde d'azote": no2}}
    observed_at: {template: "{Date}T{Heure}"}   # source columns joined into one value

A field left out of `columns` reads the source column of the same name, if there is one.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from hub.validation.tables import open_csv  # the one place that reads CSV as frictionless does
from pipelines.normalise import (
    Problem,
    ReaderError,
    Settings,
    Target,
    check_settings,
    load_target,
    normalise,
)
from pipelines.sources import HARVEST_OPTIONS, Source

log = logging.getLogger(__name__)

OPTIONS = (
    "encoding", "delimiter", "quotechar", "decimal", "crs", "timezone", "timestamp_format",
    "columns",
)  # fmt: skip
RULE_KEYS = ("column", "value", "map", "template")
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
ERROR_TYPE = "normalisation-error"
ERROR_TITLE = "Normalisation Error"
ERROR_DESCRIPTION = (
    "A value of this row cannot be put in the hub's canonical form "
    "(UTC timestamps, WGS84 coordinates, decimal numbers, controlled codes)."
)


@dataclass(frozen=True)
class Rule:
    """Where the values of one target field come from."""

    column: str | None = None
    value: str | None = None
    template: str | None = None
    map: dict[str, str] = field(default_factory=dict)

    def sources(self) -> list[str]:
        """The source columns this rule reads."""
        if self.template is not None:
            return PLACEHOLDER.findall(self.template)
        return [self.column] if self.column is not None else []


Reshape = Callable[[pl.DataFrame], pl.DataFrame]


def read(source: Source, data: Path) -> Iterator[pl.DataFrame]:
    """Read a CSV whose columns `options.columns` maps onto the target schema."""
    return read_mapped(source, data, rules={})


def read_mapped(
    source: Source,
    data: Path,
    rules: dict[str, Rule],
    *,
    defaults: dict[str, Any] | None = None,
    reshape: Reshape | None = None,
) -> Iterator[pl.DataFrame]:
    """Read `data` with preset `rules` and option `defaults`, both overridable by the source.

    `reshape` turns each raw chunk into observation rows before mapping (one row per
    pollutant, say); it must keep `_row` and `_error`.
    """
    options = {**(defaults or {}), **source.options}
    unknown = sorted(set(source.options) - set(OPTIONS) - set(HARVEST_OPTIONS))
    if unknown:
        raise ReaderError(
            f"source {source.id!r}: unknown option(s) {', '.join(unknown)} "
            f"(known: {', '.join(OPTIONS)})"
        )
    target = load_target(source.schema)
    rules = {**rules, **parse_columns(options.get("columns") or {}, target)}
    settings = Settings(
        timezone=options.get("timezone"),
        timestamp_format=options.get("timestamp_format"),
        crs=str(options.get("crs") or "EPSG:4326"),
        decimal=str(options.get("decimal") or "."),
    )
    check_settings(settings)
    return _chunks(source, data, options, rules, target, settings, reshape)


def _chunks(
    source: Source,
    data: Path,
    options: dict[str, Any],
    rules: dict[str, Rule],
    target: Target,
    settings: Settings,
    reshape: Reshape | None,
) -> Iterator[pl.DataFrame]:
    """Map and normalise the chunks of the table, as they are read."""
    table = open_csv(
        data,
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        quotechar=options.get("quotechar", '"'),  # "" reads quotes as plain characters
    )
    warned = False
    for chunk in table.chunks:
        if reshape is not None:
            chunk = reshape(chunk)
        frame, problems = map_chunk(chunk, rules, target)
        if problems and not warned:
            warned = True
            for problem in problems:
                log.warning("source %s: %s", source.id, problem.note)
        frame, found = normalise(frame, target, settings)
        yield finish(frame, target, problems + found)


def parse_columns(columns: dict[str, Any], target: Target) -> dict[str, Rule]:
    """Check `options.columns` against the target schema and turn it into rules."""
    if not isinstance(columns, dict):
        raise ReaderError("options.columns must map schema fields to source columns")
    rules: dict[str, Rule] = {}
    for name, spec in columns.items():
        if name not in target.fields:
            raise ReaderError(
                f"options.columns names {name!r}, which is not a field of schema "
                f"{target.name!r} (its fields: {', '.join(target.fields)})"
            )
        rules[name] = _parse_rule(name, spec)
    return rules


def _parse_rule(name: str, spec: Any) -> Rule:
    """One `columns` entry: a column name, or {value}, {column[, map]} or {template}."""
    if isinstance(spec, str):
        return Rule(column=spec)
    if not isinstance(spec, dict):
        raise ReaderError(f"options.columns.{name} must be a column name or a mapping")
    unknown = sorted(set(spec) - set(RULE_KEYS))
    if unknown:
        raise ReaderError(
            f"options.columns.{name}: unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(RULE_KEYS)})"
        )
    given = [key for key in ("column", "value", "template") if key in spec]
    if len(given) != 1:
        raise ReaderError(f"options.columns.{name} needs exactly one of column, value, template")
    if "map" in spec and ("column" not in spec or not isinstance(spec["map"], dict)):
        raise ReaderError(f"options.columns.{name}: map needs a column and a mapping of values")
    value = spec.get("value")
    return Rule(
        column=spec.get("column"),
        value=None if value is None else str(value),
        template=spec.get("template"),
        map={str(k): "" if v is None else str(v) for k, v in (spec.get("map") or {}).items()},
    )


def map_chunk(
    chunk: pl.DataFrame, rules: dict[str, Rule], target: Target
) -> tuple[pl.DataFrame, list[Problem]]:
    """The target fields of a raw chunk (raw strings), with the mapping problems found."""
    present = [c for c in chunk.columns if c not in ("_row", "_error")]
    columns: list[pl.Expr] = []
    problems: list[Problem] = []
    for name in target.fields:
        rule = rules.get(name) or (Rule(column=name) if name in present else Rule())
        missing = [c for c in rule.sources() if c not in present]
        if name not in rules and name not in present and name in target.required:
            # Not a blank cell per row: the header itself does not give this field.
            note = (
                f"the file's header has no column for required field {name!r} and the source "
                f"maps none (options.columns); its columns are: {', '.join(present)}"
            )
            problems.append(Problem(pl.Series([True] * chunk.height), name, note))
            columns.append(pl.lit(None, dtype=pl.Utf8).alias(name))
        elif missing:
            note = (
                f"source column {missing[0]!r} (for field {name!r}) is not in the file; "
                f"its columns are: {', '.join(present)}"
            )
            problems.append(Problem(pl.Series([True] * chunk.height), name, note))
            columns.append(pl.lit(None, dtype=pl.Utf8).alias(name))
        else:
            columns.append(_expression(rule).alias(name))
    return chunk.select(*columns, "_row", "_error"), problems


def _expression(rule: Rule) -> pl.Expr:
    """The polars expression computing a rule's raw string values."""
    if rule.template is not None:
        parts: list[pl.Expr] = []
        for i, piece in enumerate(PLACEHOLDER.split(rule.template)):
            # re.split puts the captured column names at the odd positions
            parts.append(pl.col(piece).cast(pl.Utf8) if i % 2 else pl.lit(piece))
        return pl.concat_str(parts)
    if rule.column is not None:
        raw = pl.col(rule.column).cast(pl.Utf8)
        if not rule.map:
            return raw
        # Unmapped values stay as they are, so the schema check can report them.
        mapped = raw.str.strip_chars().replace_strict(rule.map, default=None, return_dtype=pl.Utf8)
        return pl.when(raw.str.strip_chars().is_in(list(rule.map))).then(mapped).otherwise(raw)
    return pl.lit(rule.value, dtype=pl.Utf8)


def describe_error(row: int, note: str, field_name: str | None) -> dict[str, Any]:
    """A frictionless-style error descriptor for a row that cannot be normalised."""
    where = f' in field "{field_name}"' if field_name else ""
    return {
        "type": ERROR_TYPE,
        "title": ERROR_TITLE,
        "description": ERROR_DESCRIPTION,
        "message": f'Row at position "{row}" cannot be normalised{where}: {note}',
        "note": note,
        "tags": ["#row"],
        "rowNumber": row,
        "fieldName": field_name,
    }


def finish(frame: pl.DataFrame, target: Target, problems: list[Problem]) -> pl.DataFrame:
    """The chunk in the reader contract's shape, with problems added to `_error`.

    No value is an empty cell `""`, never null: in the hub's tables (and frictionless) a null
    cell is one the row does not have, which hub.validation reports as a missing cell.
    """
    frame = _attach(frame, problems)
    return frame.select(
        *(
            pl.col(n).cast(pl.Utf8).fill_null("") if n in frame.columns else pl.lit("").alias(n)
            for n in target.fields
        ),
        pl.col("_row").cast(pl.Int64),
        pl.col("_error").cast(pl.Utf8),
    )


def _attach(frame: pl.DataFrame, problems: list[Problem]) -> pl.DataFrame:
    """Merge problems into the rows' `_error` JSON lists (after any reading errors)."""
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = frame["_row"].to_list()
    for problem in problems:
        indexes = problem.mask.fill_null(False).arg_true().to_list()
        if not indexes:
            continue
        values = problem.values.gather(indexes).to_list() if problem.values is not None else None
        for position, index in enumerate(indexes):
            value = values[position] if values is not None else None
            # Plain replacement, not str.format: notes quote headers that may hold braces.
            note = problem.note.replace("{value!r}", repr(value)).replace("{value}", str(value))
            found[index].append(describe_error(rows[index], note, problem.field))
    if not found:
        return frame
    errors = frame["_error"].to_list()
    for index, descriptors in found.items():
        earlier = json.loads(errors[index]) if errors[index] else []
        errors[index] = json.dumps(earlier + descriptors, ensure_ascii=False)
    return frame.with_columns(pl.Series("_error", errors, dtype=pl.Utf8))
