"""What a records query selects and in which order: field filters and sort keys, typed by the
schema.

`field=value` (several values, comma-separated or repeated: any of them), `field__gte`, `__gt`,
`__lte`, `__lt`, `__ne` (none of the values; empty cells included) and `__null` (true: empty
cells, false: filled ones), on the fields of the dataset's schema only; `__eq` spells equality
when a field's name is also a query parameter of the route (`format__eq=…`). A value is parsed as
its field's Table Schema type, or refused naming the field and the value. These are conditions
the caller adds: `hub.reading` puts them beside the grant's, never instead of it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from hub.redaction import clipped

if TYPE_CHECKING:
    from hub.records import Layout

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "null", "contains")
ANY_FIELD = "*"  # `q`: the words may be in any field
RANGES = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__"}
SINGLE_VALUED = (*RANGES, "null")  # a repeated `field__gte` or `field__null` is refused
MAX_VALUES = 1000  # values over all filters of one query (an IN list is a bind parameter each)
MAX_FILTERS = 50  # filter parameters of one query (SQLite nests ANDs no deeper than 1000)
MAX_SORT_KEYS = 3
# Types the store keeps in a column of their own (records.SQL_TYPES); every other is text.
ORDERED = {"string", "integer", "year", "number", "boolean", "datetime", "date", "time"}
INTEGER_RANGE = {"integer": 2**63, "year": 2**31}  # BIGINT and INTEGER columns
TRUE, FALSE = {"true", "1"}, {"false", "0"}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d{1,20}$")
# A `+` in an unencoded query string arrives as a space: "…T10:00:00 02:00" meant "+02:00".
_SPACED_ZONE = re.compile(r" (\d{2}(:?\d{2})?)$")
_SEPARATOR = re.compile(r"(?<!\\),")  # commas not escaped as `\,`


def quoted(value: str) -> str:
    """A caller's value as an error quotes it: its repr, cut (hub.redaction.clipped)."""
    return repr(clipped(value))


class QueryError(ValueError):
    """A records query that cannot be answered (bad cursor, bad range, bad filter or sort)."""


class SortError(QueryError):
    """A `sort` that cannot be followed; `why` names the field without the REST API's spelling
    of the sort, for the APIs that spell sorts their own way (CKAN's `field desc`)."""

    def __init__(self, text: str, why: str, hint: str = "") -> None:
        super().__init__(f"sort={quoted(text)}: {why}{hint}")
        self.why = why


class UnknownParameter(QueryError):
    """A query parameter that is neither the route's nor a field of the schema (with a suffix)."""

    def __init__(self, name: str, fields: Sequence[str]) -> None:
        super().__init__(f"unknown parameter {quoted(name)}")
        self.name, self.fields = name, list(fields)


@dataclass(frozen=True)
class Filter:
    """One condition on one field: `op` over typed `values`."""

    field: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class SortKey:
    """One field of a sort order; ascending puts empty cells first, descending last."""

    field: str
    descending: bool = False

    @property
    def spelled(self) -> str:
        """The key as the `sort` parameter writes it."""
        return f"-{self.field}" if self.descending else self.field


def parse_instant(name: str, text: str) -> datetime:
    """An ISO 8601 date-time as aware UTC (a value without a zone is UTC), or a QueryError."""
    cleaned = _SPACED_ZONE.sub(r"+\1", text.strip())
    try:
        moment = datetime.fromisoformat(cleaned)
        # 0001-01-01T00:00+01:00 is no instant Python can hold in UTC: OverflowError
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise QueryError(
            f"{name}={quoted(text)} is not an ISO 8601 date-time; write e.g. "
            "2024-05-01T00:00:00Z (a value without a zone is UTC)"
        ) from None


def typed(kind: str, name: str, text: str) -> Any:
    """A query value as a field of Table Schema type `kind` holds it, or a QueryError naming
    the parameter and the value."""
    try:
        return _typed(kind, name, text)
    except (ValueError, OverflowError):
        raise QueryError(f"{name}={quoted(text)} is not {_described(kind)}") from None


def _typed(kind: str, name: str, text: str) -> Any:
    if kind in INTEGER_RANGE:
        if not _INTEGER.match(text) or not -INTEGER_RANGE[kind] < int(text) < INTEGER_RANGE[kind]:
            raise ValueError(text)
        return int(text)
    if kind == "number":
        number = float(text) if _NUMBER.match(text) else math.nan
        if not math.isfinite(number):
            raise ValueError(text)
        return number
    if kind == "boolean":
        if text.lower() not in TRUE | FALSE:
            raise ValueError(text)
        return text.lower() in TRUE
    if kind == "datetime":
        return parse_instant(name, text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "time":
        moment = time.fromisoformat(text)
        if moment.tzinfo is not None:
            raise ValueError(text)  # the store keeps times of day without a zone
        return moment
    return text


def _described(kind: str) -> str:
    return {
        "integer": "an integer (a whole number within ±9.2e18)",
        "year": "a year (a whole number)",
        "number": "a finite number such as 12.5 or -3e2",
        "boolean": "a boolean: true or false",
        "datetime": "an ISO 8601 date-time such as 2024-05-01T00:00:00Z",
        "date": "an ISO 8601 date such as 2024-05-01",
        "time": "an ISO 8601 time of day without a zone, such as 13:30:00",
    }.get(kind, "a valid value")


def parse_filters(layout: Layout, params: Iterable[tuple[str, str]]) -> list[Filter]:
    """Query parameters as filters on the layout's fields (UnknownParameter for any other
    name, QueryError for a value its field cannot hold)."""
    equal: dict[str, list[Any]] = {}
    found: list[Filter] = []
    bounded: set[str] = set()
    count = 0
    for index, (name, text) in enumerate(params):
        if index >= MAX_FILTERS:
            raise QueryError(f"at most {MAX_FILTERS} filter parameters in one query")
        field, op = _split(layout, name)
        if op in SINGLE_VALUED:
            if name in bounded:  # which of two bounds was meant? neither is guessed
                raise QueryError(f"{name[:60]!r} is given twice: it takes one value")
            bounded.add(name)
        values = _values(layout.types.get(field, "string"), name, text, op)
        count += len(values)
        if count > MAX_VALUES:
            raise QueryError(f"at most {MAX_VALUES} filter values in one query")
        if op == "eq":
            equal.setdefault(field, []).extend(values)
        else:
            found.append(Filter(field, op, tuple(values)))
    return [Filter(f, "eq", tuple(v)) for f, v in equal.items()] + found


def _split(layout: Layout, name: str) -> tuple[str, str]:
    """The field and the operator a parameter name stands for."""
    if name in layout.columns:
        return name, "eq"
    if name == "q":
        return ANY_FIELD, "contains"
    field, _, op = name.rpartition("__")
    if field in layout.columns and op in OPERATORS:
        return field, op
    raise UnknownParameter(name, list(layout.columns))


def _values(kind: str, name: str, text: str, op: str) -> list[Any]:
    """The typed values of one parameter (`\\,` is a comma inside a value)."""
    if op == "contains":
        words = text.lower().split()
        if not words:
            raise QueryError(f"{name}={quoted(text)} needs a word to look for")
        return words
    if op == "null":
        if text.lower() not in TRUE | FALSE:
            raise QueryError(
                f"{name}={quoted(text)} must be true (empty cells) or false (filled ones)"
            )
        return [text.lower() in TRUE]
    parts = split_values(text)
    if op in RANGES and len(parts) > 1:
        raise QueryError(f"{name}={quoted(text)}: a bound takes one value, not a list")
    if any(not part.strip() for part in parts):
        raise QueryError(
            f"{name}={quoted(text)} needs a value (for empty cells write "
            f"{name.rpartition('__')[0] or name}__null=true)"
        )
    return [typed(kind, name, part) for part in parts]


def split_values(text: str) -> list[str]:
    """The values of one parameter: comma-separated, `\\,` a comma inside a value."""
    return [part.replace("\\,", ",") for part in _SEPARATOR.split(text)]


def condition(layout: Layout, chosen: Filter, dialect: str) -> sa.ColumnElement[bool]:
    """A filter as a SQL condition on the layout's table."""
    if chosen.op == "contains":
        return _contains(layout, chosen)
    # Equality is the same under any collation, and only the column's own lets an index help.
    column: sa.ColumnElement[Any] = layout.table.c[layout.columns[chosen.field]]
    if chosen.op in RANGES:
        column = ordered_column(layout, chosen.field, dialect)
    values = chosen.values
    if chosen.op == "null":
        return column.is_(None) if values[0] else column.is_not(None)
    if chosen.op == "eq":
        return column == values[0] if len(values) == 1 else column.in_(values)
    if chosen.op == "ne":
        return sa.or_(column.is_(None), column.not_in(values))
    compare = getattr(column, RANGES[chosen.op])
    result: sa.ColumnElement[bool] = compare(bound(column, values[0]))
    return result


def bound(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
    """A value to compare a column with, bound as the column's type.

    SQLAlchemy reads a bare True or False as SQL's constant, which only `=`, `!=` and IS take:
    `column > False` was an error, where both stores order booleans false before true.
    """
    return sa.literal(value, column.type)


def _contains(layout: Layout, chosen: Filter) -> sa.ColumnElement[bool]:
    """Every word inside the field's text (any field's, for `q`), whatever its case: CKAN's
    datastore `q`, as a scan rather than a full-text index."""
    names = list(layout.columns) if chosen.field == ANY_FIELD else [chosen.field]
    texts = [
        sa.func.lower(sa.cast(layout.table.c[layout.columns[name]], sa.String)) for name in names
    ]
    return sa.and_(
        *(
            sa.or_(*(text.like(f"%{_escaped(word)}%", escape="\\") for text in texts))
            for word in chosen.values
        )
    )


def _escaped(word: str) -> str:
    """A word as a LIKE pattern matches it literally."""
    return re.sub(r"([\\%_])", r"\\\1", word)


def ordered_column(layout: Layout, field: str, dialect: str) -> sa.ColumnElement[Any]:
    """A field's column as ranges and sorts compare it: text in code-point order on both
    stores (PostgreSQL's own collation may follow a locale; SQLite's is binary)."""
    column: sa.ColumnElement[Any] = layout.table.c[layout.columns[field]]
    if dialect == "postgresql" and layout.types[field] not in ORDERED - {"string"}:
        return sa.collate(column, "C")
    return column


def parse_sort(layout: Layout, text: str | None) -> tuple[SortKey, ...]:
    """A `sort` parameter (`field`, `-field`, comma-separated for ties) as sort keys; empty for
    the default order (time, then insertion)."""
    if text is None or not text.strip():
        return ()
    keys: list[SortKey] = []
    for part in (p.strip() for p in text.split(",")):
        field = part.removeprefix("-")
        if field not in layout.columns:
            raise SortError(
                text,
                f"{quoted(field)} is not a field of this dataset; sort by one of "
                f"{', '.join(layout.columns)}",
                " (`-` first for descending)",
            )
        if layout.types[field] not in ORDERED:
            raise SortError(
                text, f"{quoted(field)} is of type {layout.types[field]}, which has no order"
            )
        if field in {k.field for k in keys}:
            raise SortError(text, f"names {quoted(field)} twice")
        keys.append(SortKey(field, part.startswith("-")))
    if len(keys) > MAX_SORT_KEYS:
        raise SortError(text, f"at most {MAX_SORT_KEYS} fields")
    time_field = next((f for f, c in layout.columns.items() if c == layout.time), None)
    if keys == [SortKey(time_field or "")]:
        return ()  # the default order, spelled out: the same pages and cursors
    return tuple(keys)
