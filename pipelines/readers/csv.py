"""The `csv` reader: any CSV mapped onto its target schema by the source's `options`.

Options: `encoding`, `delimiter`, `quotechar`, `decimal` ("," for decimal commas), `crs` (EPSG
code of the lon/lat columns, default EPSG:4326), `timezone` (IANA zone of naive timestamps),
`timestamp_format` (strftime, default ISO 8601) and `columns`, mapping each schema field to:

    station_id: Code station           # a source column
    unit: {value: "µg/m³"}             # a constant
    pollutant: {column: Polluant, map: {"PM2.5": pm25, "Dioxyde d'azote": no2}}
    observed_at: {template: "{Date}T{Heure}"}   # source columns joined into one value
    occurrenceID: {template: "inventory-{_row}"}  # the source row number, for files with no id
    latitude: {column: geo_point_2d, part: 0}   # "lat, lon" cells: the first comma-separated part

`part` (from 0) splits a cell on commas, brackets dropped: Opendatasoft's `geo_point_2d`, written
"50.61, 3.07" in CSV exports and [50.61, 3.07] in its JSON API, is latitude first. Source column
names match the file's header whatever spaces surround either (`"quartier "` reads `quartier`).
A field left out of `columns` reads the source column of the same name, if there is one; if
there is none, the source does not give that field, and the gate's upsert keeps the values stored
rows have in it (a value pushed through `datastore_upsert` is not erased by the harvest).
The reader only maps: normalisation (`pipelines.normalise`) is the flow's next step.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from hub.batches import Chunk, RowProblem
from hub.validation.tables import open_csv  # the one place that reads CSV as frictionless does
from pipelines.normalise import Target, load_target
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.sources import Source

log = logging.getLogger(__name__)

OPTIONS = ("encoding", "delimiter", "quotechar", "columns")
RULE_KEYS = ("column", "value", "map", "template", "part")
PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Rule:
    """Where the values of one target field come from."""

    column: str | None = None
    value: str | None = None
    template: str | None = None
    map: dict[str, str] = field(default_factory=dict)
    part: int | None = None  # which comma-separated part of the column's cells, from 0

    def sources(self) -> list[str]:
        """The source columns this rule reads."""
        if self.template is not None:
            return PLACEHOLDER.findall(self.template)
        return [self.column] if self.column is not None else []


Reshape = Callable[[pl.DataFrame], pl.DataFrame]


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a CSV whose columns `options.columns` maps onto the target schema."""
    return read_mapped(source, fetched.path, rules={})


READER = Reader("csv", "records", read, options=OPTIONS)


def read_mapped(
    source: Source,
    data: Any,
    rules: dict[str, Rule],
    *,
    defaults: dict[str, Any] | None = None,
    reshape: Reshape | None = None,
) -> Iterator[Chunk]:
    """Read the CSV `data` (a path or bytes) with preset `rules`, overridable by the source.

    `reshape` turns each raw chunk into observation rows before mapping (one row per
    pollutant, say); it must keep `_row` and `_error`.
    """
    options = {**(defaults or {}), **source.options}
    target = load_target(source.schema)
    rules = {**rules, **parse_columns(options.get("columns") or {}, target)}
    table = open_csv(
        data,
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        quotechar=options.get("quotechar", '"'),  # "" reads quotes as plain characters
    )
    return _chunks(source, table.chunks, rules, target, reshape)


def _chunks(
    source: Source,
    raw: Iterator[pl.DataFrame],
    rules: dict[str, Rule],
    target: Target,
    reshape: Reshape | None,
) -> Iterator[Chunk]:
    """Map the chunks of the table onto the target fields, as they are read."""
    warned = False
    for chunk in raw:
        if reshape is not None:
            chunk = reshape(chunk)
        mapped = map_chunk(chunk, rules, target)
        if mapped.problems and not warned:
            warned = True
            log.warning("source %s: %s", source.id, mapped.problems[0].note)
        yield mapped


def parse_columns(
    columns: dict[str, Any], target: Target, known: Sequence[str] = RULE_KEYS
) -> dict[str, Rule]:
    """Check `options.columns` against the target schema and turn it into rules; `known` is
    what a reader's errors list as the keys of an entry (the json readers' take `epoch`, and
    rewrite it, and the geojson reader's `coordinate` and `feature`, before these rules)."""
    if not isinstance(columns, dict):
        raise ReaderError("options.columns must map schema fields to source columns")
    rules: dict[str, Rule] = {}
    for name, spec in columns.items():
        if name not in target.fields:
            raise ReaderError(
                f"options.columns names {name!r}, which is not a field of schema "
                f"{target.name!r} (its fields: {', '.join(target.fields)})"
            )
        rules[name] = _parse_rule(name, spec, known)
    return rules


def _parse_rule(name: str, spec: Any, known: Sequence[str] = RULE_KEYS) -> Rule:
    """One `columns` entry: a column name, or {value}, {column[, map]} or {template}."""
    if isinstance(spec, str):
        return Rule(column=spec)
    if not isinstance(spec, dict):
        raise ReaderError(f"options.columns.{name} must be a column name or a mapping")
    unknown = sorted(set(spec) - set(RULE_KEYS))
    if unknown:
        raise ReaderError(
            f"options.columns.{name}: unknown key(s) {', '.join(unknown)} "
            f"(known: {', '.join(known)})"
        )
    given = [key for key in ("column", "value", "template") if key in spec]
    if len(given) != 1:
        raise ReaderError(f"options.columns.{name} needs exactly one of column, value, template")
    if "map" in spec and ("column" not in spec or not isinstance(spec["map"], dict)):
        raise ReaderError(f"options.columns.{name}: map needs a column and a mapping of values")
    part = spec.get("part")
    if "part" in spec and (
        "column" not in spec or not isinstance(part, int) or isinstance(part, bool) or part < 0
    ):
        raise ReaderError(
            f"options.columns.{name}: part needs a column and a position from 0 "
            f"(e.g. {{column: geo_point_2d, part: 0}}), got {spec!r}"
        )
    value = spec.get("value")
    return Rule(
        column=spec.get("column"),
        value=None if value is None else str(value),
        template=spec.get("template"),
        map={str(k): "" if v is None else str(v) for k, v in (spec.get("map") or {}).items()},
        part=part,
    )


def map_chunk(chunk: pl.DataFrame, rules: dict[str, Rule], target: Target) -> Chunk:
    """The target fields of a raw chunk (raw strings), with the mapping problems found."""
    meta = [c for c in ("_row", "_error") if c in chunk.columns]
    present = [c for c in chunk.columns if c not in meta]
    readable = [*present, "_row"]  # a template may number rows: "{_row}"
    columns: list[pl.Expr] = []
    notes: list[tuple[str, str]] = []
    unprovided: set[str] = set()
    used: set[str] = set()
    for name in target.fields:
        rule = rules.get(name) or (Rule(column=name) if name in present else Rule())
        if rule == Rule():
            unprovided.add(name)
        rule = _in_header(rule, readable)
        used.update(rule.sources())
        missing = [c for c in rule.sources() if c not in readable]
        if name not in rules and name not in present and name in target.required:
            # Not a blank cell per row: the header itself does not give this field.
            notes.append(
                (
                    name,
                    f"the file's header has no column for required field {name!r} and the "
                    f"source maps none (options.columns); its columns are: {', '.join(present)}",
                )
            )
            columns.append(pl.lit(None, dtype=pl.Utf8).alias(name))
        elif missing:
            notes.append(
                (
                    name,
                    f"source column {missing[0]!r} (for field {name!r}) is not in the file; "
                    f"its columns are: {', '.join(present)}",
                )
            )
            columns.append(pl.lit(None, dtype=pl.Utf8).alias(name))
        else:
            columns.append(_expression(rule).alias(name))
    rows = chunk["_row"].unique(maintain_order=True).to_list() if notes else []
    problems = [RowProblem(row, name, note) for row in rows for name, note in notes]
    unmapped = tuple(c for c in present if c not in used)
    return Chunk(
        chunk.select(*columns, *meta),
        problems,
        unprovided=frozenset(unprovided),
        unmapped=unmapped,
    )


def _in_header(rule: Rule, readable: list[str]) -> Rule:
    """The rule naming the header's own spelling of each column it reads, spaces aside.

    Header labels are read stripped, while an operator copies them as the file shows them.
    """
    spelled = {column.strip(): column for column in readable}
    respelled = {
        column: spelled[column.strip()]
        for column in rule.sources()
        if column not in readable and column.strip() in spelled
    }
    if not respelled:
        return rule
    if rule.template is not None:
        template = PLACEHOLDER.sub(
            lambda m: "{" + respelled.get(m.group(1), m.group(1)) + "}", rule.template
        )
        return replace(rule, template=template)
    return replace(rule, column=respelled.get(rule.column or "", rule.column))


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
        if rule.part is not None:
            # "50.61, 3.07" or a JSON list's text "[50.61, 3.07]"; a missing part is null
            raw = raw.str.strip_chars(" []").str.split(",").list.get(rule.part, null_on_oob=True)
            raw = raw.str.strip_chars()
        if not rule.map:
            return raw
        # Unmapped values stay as they are, so the schema check can report them.
        mapped = raw.str.strip_chars().replace_strict(rule.map, default=None, return_dtype=pl.Utf8)
        return pl.when(raw.str.strip_chars().is_in(list(rule.map))).then(mapped).otherwise(raw)
    return pl.lit(rule.value, dtype=pl.Utf8)
