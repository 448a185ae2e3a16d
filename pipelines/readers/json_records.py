"""The `json` reader: records of a JSON document mapped onto the target schema by the source.

Options: `records`, where the records are — a dotted path from the document's root such as
`$.features` or `data.items` (list positions as numbers: `$.series.0.values`); `$` or no option:
the document itself; a path ending on one object reads that object as the only record — and
`columns`, the csv reader's mapping (`pipelines.readers.csv`) over each record's keys. Nested
objects are flattened into dotted keys (`properties.mag`, `vic:aNPlusUn.vic:CdEntVigiCru`);
lists are kept as JSON text (a `{column, part}` rule picks one item of a list of numbers, such
as an Opendatasoft record's `fields.geo_point_2d` [lat, lon]); a whole number is written without
a decimal part (15038.0 reads "15038", as a CSV export writes it). One addition to the csv
rules, for times written as numbers:

    occurred_at: {column: time, epoch: ms}   # seconds (s) or milliseconds (ms) since 1970, UTC

The record numbered i (from 0) is `_row` i + 2, as a CSV row under its header would be.
The geojson and vigicrues-json readers build on the helpers here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl

from hub.batches import Chunk, RowProblem
from pipelines.normalise import Target, load_target
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.csv import RULE_KEYS as CSV_RULE_KEYS
from pipelines.readers.csv import Rule, map_chunk, parse_columns
from pipelines.sources import Source

log = logging.getLogger(__name__)

OPTIONS = ("records", "columns")
CHUNK_RECORDS = 10_000  # records per chunk: the document is in memory, the frames need not be
EPOCH_UNITS = {"s": 1_000_000, "ms": 1_000}  # → microseconds
RULE_KEYS = (*CSV_RULE_KEYS, "epoch")  # the keys of a `columns` entry of the json readers
FIRST_ROW = 2  # record 0 is row 2, as the first CSV row under a header

Record = dict[str, str | None]


@dataclass
class ColumnRules:
    """A source's `columns` turned into csv rules, plus the epoch columns to convert first."""

    rules: dict[str, Rule]
    epochs: dict[str, tuple[str, str]] = field(default_factory=dict)  # made column → (raw, unit)


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read the records at `options.records` of a JSON document, mapped by `options.columns`."""
    target = load_target(source.schema)
    mapping = parse_mapping(source.options.get("columns") or {}, target)
    found = records_at(load_document(fetched.path), source.options.get("records"))
    records: list[Record] = []
    problems: list[RowProblem] = []
    for index, item in enumerate(found):
        if isinstance(item, dict):
            records.append(flatten(item))
        else:
            records.append({})
            problems.append(RowProblem(index + FIRST_ROW, None, f"{_kind(item)} is not a record"))
    rows = range(FIRST_ROW, FIRST_ROW + len(records))
    return mapped_chunks(source, records, rows, mapping, target, problems)


READER = Reader("json", "records", read, options=OPTIONS)


def load_document(path: Path) -> Any:
    """The parsed JSON document at `path` (UTF-8, a BOM allowed), or ReaderError."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReaderError(
            f"not UTF-8 text at byte {exc.start}: a JSON document must be UTF-8"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReaderError(
            f"not a JSON document: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc


def records_at(document: Any, path: str | None) -> list[Any]:
    """The items at a dotted path (`$.a.b`, `a.0.b`): a list, or one object as a one-item list."""
    node, walked = document, "$"
    for part in _path_parts(path):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            there = ", ".join(list(node)[:20]) if isinstance(node, dict) else _kind(node)
            raise ReaderError(
                f"options.records {path!r}: the document has no {part!r} under {walked} "
                f"(there: {there})"
            )
        walked = f"{walked}.{part}"
    if isinstance(node, dict):
        return [node]
    if not isinstance(node, list):
        raise ReaderError(f"{walked} holds {_kind(node)}, not records (a list of objects)")
    return node


def _path_parts(path: str | None) -> list[str]:
    """The keys of a dotted path; `$`, empty or None is the root."""
    text = (path or "$").strip()
    if text.startswith("$"):
        text = text[1:]
    return [part for part in text.split(".") if part]


def flatten(item: Mapping[str, Any], prefix: str = "") -> Record:
    """An object's values as text, nested objects under dotted keys, lists as JSON text."""
    flat: Record = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = cell(value)
    return flat


def cell(value: Any) -> str | None:
    """One JSON value as the text a CSV cell would hold (null stays null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Positional digits, never 1e-05: the shortest text that reads back as the same float.
        try:
            text = format(Decimal(repr(value)), "f")
        except InvalidOperation:  # NaN and infinities stay as written, for the checks to report
            return repr(value)
        # JSON has one number type: 15038.0 is the station code 15038, as 15038 would be.
        return text.removesuffix(".0")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def parse_mapping(columns: Any, target: Target, known: Sequence[str] = RULE_KEYS) -> ColumnRules:
    """`options.columns` as csv rules, with `{column, epoch: s|ms}` entries turned into columns;
    `known` is what errors list as an entry's keys (the reader's)."""
    if not isinstance(columns, dict):
        raise ReaderError("options.columns must map schema fields to source columns")
    plain: dict[str, Any] = {}
    epochs: dict[str, tuple[str, str]] = {}
    for name, spec in columns.items():
        if isinstance(spec, dict) and "epoch" in spec:
            column, unit = _epoch_rule(name, spec)
            made = f"{column}#epoch-{unit}"
            epochs[made] = (column, unit)
            spec = {"column": made}
        plain[name] = spec
    return ColumnRules(parse_columns(plain, target, known), epochs)


def _epoch_rule(name: str, spec: dict[str, Any]) -> tuple[str, str]:
    """The column and unit of a `{column, epoch}` entry, or ReaderError."""
    column, unit = spec.get("column"), spec.get("epoch")
    if set(spec) != {"column", "epoch"} or not isinstance(column, str) or unit not in EPOCH_UNITS:
        raise ReaderError(
            f"options.columns.{name}: epoch takes a column and a unit, s or ms "
            f"(e.g. {{column: time, epoch: ms}}), got {spec!r}"
        )
    return column, str(unit)


def mapped_chunks(
    source: Source,
    records: Sequence[Record],
    rows: Sequence[int],
    mapping: ColumnRules,
    target: Target,
    problems: Sequence[RowProblem] = (),
    columns: Sequence[str] = (),
) -> Iterator[Chunk]:
    """Chunks of mapped records (`rows[i]` is record i's `_row`), with the problems found."""
    keys = _keys(records, columns)
    by_row: dict[int, list[RowProblem]] = {}
    for problem in problems:
        by_row.setdefault(problem.row, []).append(problem)
    warned = False
    for start in range(0, len(records), CHUNK_RECORDS):
        part = records[start : start + CHUNK_RECORDS]
        numbers = list(rows[start : start + CHUNK_RECORDS])
        frame = pl.DataFrame(
            {**{key: [record.get(key) for record in part] for key in keys}, "_row": numbers},
            schema={**dict.fromkeys(keys, pl.Utf8), "_row": pl.Int64},
        )
        frame = _with_epochs(frame, mapping.epochs)
        mapped = map_chunk(frame, mapping.rules, target)
        found = [p for row in dict.fromkeys(numbers) for p in by_row.get(row, [])]
        mapped.problems = found + mapped.problems
        if mapped.problems and not warned:
            warned = True
            log.warning("source %s: %s", source.id, mapped.problems[0].note)
        yield mapped


def _keys(records: Sequence[Record], columns: Sequence[str]) -> list[str]:
    """Every key of every record, in order of first appearance, after the given columns.

    Every chunk gets them all, so a key that only later records have is never "missing".
    """
    keys = dict.fromkeys(columns)
    for record in records:
        keys.update(dict.fromkeys(record))
    keys.pop("_row", None)
    return list(keys)


def _with_epochs(frame: pl.DataFrame, epochs: dict[str, tuple[str, str]]) -> pl.DataFrame:
    """Add each epoch column as ISO 8601 UTC text; a value that is no number stays as it was."""
    made = []
    for name, (column, unit) in epochs.items():
        if column not in frame.columns:
            continue  # map_chunk reports the missing source column
        raw = pl.col(column)
        number = raw.str.strip_chars().cast(pl.Float64, strict=False)
        micros = (number * EPOCH_UNITS[unit]).round(0).cast(pl.Int64, strict=False)
        text = pl.from_epoch(micros, time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        made.append(pl.coalesce(text, raw).alias(name))
    return frame.with_columns(made) if made else frame


def _kind(value: Any) -> str:
    """How to name a JSON value's type in a message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"the {type(value).__name__} {value!r}"
