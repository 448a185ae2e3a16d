"""ISO 8601 dates and intervals at any precision, as the first and last day they cover.

Darwin Core's eventDate is one: `2019`, `2019-05`, `2019-05-14`, a date-time
(`2019-05-14T10:30+02:00`: its local day), or an interval of those, whose end may leave out
what it shares with its start (`2019-05-01/03` ends on 2019-05-03, `2019-05/06` in June).
A schema's `hub.period` field holds such values as given; the publish gate derives its
`hub.time` and `hub.end` fields from them (`with_days`), whatever way the rows came in: they are
the days a `from`/`to` filter and the dataset's time extent compare.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

import polars as pl

from hub.batches import Chunk, RowProblem

# A date at day, month or year precision, and what may follow it (a time, a zone).
DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T[0-9:.,]*(?:Z|[+-][0-9:]+)?)?$")
SHORT_END = re.compile(r"^(?:(\d{2})-)?(\d{2})(?:T[0-9:.,]*(?:Z|[+-][0-9:]+)?)?$")
CLOCK_END = re.compile(r"^T?\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-][0-9:]+)?$")
Parts = tuple[int, int | None, int | None]  # year, month, day; None below the precision


def days(text: str) -> tuple[date, date] | None:
    """The first and last day `text` covers, or None if it is no ISO 8601 date or interval."""
    start_text, _, end_text = text.strip().partition("/")
    start = _parts(start_text)
    if start is None:
        return None
    end = _end_parts(end_text, start) if end_text else start
    if end is None:
        return None
    try:
        first, last = _first_day(start), _last_day(end)
    except ValueError:  # 2019-02-30, month 13
        return None
    return (first, last) if first <= last else None


def bounds(values: pl.Series) -> pl.DataFrame:
    """`first` and `last` day (ISO text) of each value, null where it is none.

    Parsed once per distinct value: a million specimens share a few thousand dates.
    """
    distinct = values.drop_nulls().unique()
    found = {value: days(value) for value in distinct.to_list()}
    first = {k: v[0].isoformat() for k, v in found.items() if v}
    last = {k: v[1].isoformat() for k, v in found.items() if v}
    return pl.DataFrame({"value": values}).select(
        first=pl.col("value").replace_strict(first, default=None, return_dtype=pl.Utf8),
        last=pl.col("value").replace_strict(last, default=None, return_dtype=pl.Utf8),
    )


def with_days(chunk: Chunk, period: str, first: str, last: str) -> Chunk:
    """The chunk with its `first` and `last` day fields derived from its `period` field where
    they are empty; a period that is no ISO 8601 date or interval is the row's problem."""
    frame = chunk.frame
    if period not in frame.columns:
        return chunk
    given = frame[period].str.strip_chars().replace("", None)
    found = bounds(given)
    filled = [
        pl.coalesce(_filled(frame, name), found[part]).fill_null("").alias(name)
        for name, part in ((first, "first"), (last, "last"))
    ]
    unreadable = given.is_not_null() & found["first"].is_null()
    problems = [
        RowProblem(
            row,
            period,
            f"{value!r} is not an ISO 8601 date or interval (2019, 2019-05, 2019-05-14, "
            "2019-05-01/2019-05-03), or is no day of the calendar",
        )
        for row, value in frame.filter(unreadable).select("_row", period).rows()
    ]
    columns = [*frame.columns, *(n for n in (first, last) if n not in frame.columns)]
    return Chunk(
        frame.with_columns(filled).select(columns), chunk.problems + problems, chunk.left_out
    )


def _filled(frame: pl.DataFrame, name: str) -> pl.Expr:
    """A column's non-empty cells (none if the frame lacks it)."""
    if name not in frame.columns:
        return pl.lit(None, pl.Utf8)
    return pl.col(name).str.strip_chars().replace("", None)


def _parts(text: str) -> Parts | None:
    match = DATE.match(text)
    if match is None:
        return None
    year, month, day = (int(g) if g else None for g in match.groups())
    if year is None or (day is not None and month is None):
        return None
    return year, month, day


def _end_parts(text: str, start: Parts) -> Parts | None:
    """An interval's end, its left-out leading parts taken from the start."""
    whole = _parts(text)
    if whole is not None:
        return whole
    if CLOCK_END.match(text):  # 2019-05-14T10:00/12:00: the same day
        return start
    short = SHORT_END.match(text)
    if short is None:
        return None
    given = [int(g) for g in short.groups() if g]
    precision = 1 + (start[1] is not None) + (start[2] is not None)  # parts the start has
    if len(given) >= precision:  # `2019/05` is no interval of years
        return None
    # The end's parts are the start's lowest ones: `2019-05-01/03` gives a day, `/06-03` more.
    merged: list[int | None] = list(start[:precision])
    merged[precision - len(given) :] = given
    merged += [None] * (3 - precision)
    return start[0] if merged[0] is None else merged[0], merged[1], merged[2]


def _first_day(parts: Parts) -> date:
    year, month, day = parts
    return date(year, month or 1, day or 1)


def _last_day(parts: Parts) -> date:
    year, month, day = parts
    if month is None:
        return date(year, 12, 31)
    return date(year, month, day or calendar.monthrange(year, month)[1])
