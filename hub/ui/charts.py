"""A dataset's chart: the time series of its main measure, from the newest records read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub import reading
from hub.models import as_utc
from hub.records import Layout
from hub.ui import i18n

CHART_TIMES = 120  # instants in the chart (and its table)
CHART_SERIES = 4

# Fields that carry what a series is of, and where it was measured, by their usual names.
SERIES_KEYS = ("pollutant", "quantity", "parameter", "variable", "series", "nature")
PLACE_KEYS = ("station_id", "site_id", "sensor_id", "station", "perimeter", "location_id")
PLACE_NAMES = ("station_name", "name", "site_name", "municipality", "place", "locality")
UNIT_KEYS = ("unit", "units")
NOT_MEASURES = ("uncertainty", "accuracy", "precision", "altitude", "code")


@dataclass(frozen=True)
class Chart:
    """A time series table: instants (ISO), one column of values per series."""

    measure: str  # the field charted
    series: list[tuple[str, str]]  # (name, unit) per column
    rows: list[tuple[str, list[float | None]]]  # (instant, a value per series), oldest first
    place: str = ""  # the one place charted, when the records come from several
    read: int = 0  # records the chart was computed from


def measure_of(shape: Layout) -> str | None:
    """The field a dataset's chart shows: `value`, else its first numeric measure (no
    coordinate, identifier or uncertainty)."""
    coordinates = set(reading.coordinates(shape))
    numeric = [
        name
        for name, kind in shape.types.items()
        if kind in ("number", "integer")
        and name not in coordinates
        and not any(word in name.lower() for word in NOT_MEASURES)
        and not name.lower().endswith("_id")
    ]
    if "value" in numeric:
        return "value"
    return next(iter(sorted(numeric, key=lambda n: shape.types[n] != "number")), None)


def _first(shape: Layout, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in shape.types), None)


def place_field(shape: Layout) -> str | None:
    """The field naming where a record was measured (a station's id …), if any."""
    return _first(shape, PLACE_KEYS)


def place_name_field(shape: Layout) -> str | None:
    """The field holding a place's name, if any."""
    return _first(shape, PLACE_NAMES)


def series_field(shape: Layout) -> str | None:
    """The field naming what a series is of (a pollutant …), if any."""
    return _first(shape, SERIES_KEYS)


def time_field(shape: Layout) -> str | None:
    """The field name of a layout's indexed time."""
    return next((f for f, c in shape.columns.items() if c == shape.time), None)


def chart_of(shape: Layout, newest: list[dict[str, Any]]) -> Chart | None:
    """The main measure over time from the newest records: at the newest record's place when
    they come from several, one column per series (pollutant, quantity …) for a few at most."""
    when, measure = time_field(shape), measure_of(shape)
    if not when or not measure or not newest:
        return None
    rows = [r for r in newest if r.get(when) and isinstance(r.get(measure), int | float)]
    if not rows:
        return None
    place_key = _first(shape, PLACE_KEYS)
    place = ""
    if place_key and len({r.get(place_key) for r in rows}) > 1:
        chosen = rows[0].get(place_key)
        rows = [r for r in rows if r.get(place_key) == chosen]
        name_key = _first(shape, PLACE_NAMES)
        place = str(rows[0].get(name_key) or chosen) if name_key else str(chosen)
    series_key = _first(shape, SERIES_KEYS)
    unit_key = _first(shape, UNIT_KEYS)
    if series_key:
        counted = Counter(str(r.get(series_key)) for r in rows if r.get(series_key) is not None)
        names = sorted(n for n, _ in counted.most_common(CHART_SERIES))
    else:
        names = [measure]
    units = {name: "" for name in names}
    table: dict[str, list[float | None]] = {}
    for row in rows:  # newest first: the first value met at an instant is kept
        name = str(row.get(series_key)) if series_key else measure
        if name not in units:
            continue
        if unit_key and not units[name] and row.get(unit_key):
            units[name] = str(row[unit_key])
        values = table.setdefault(str(row[when]), [None] * len(names))
        index = names.index(name)
        if values[index] is None:
            values[index] = float(row[measure])
    instants = sorted(table)[-CHART_TIMES:]
    return Chart(
        measure,
        [(name, units[name]) for name in names],
        [(t, table[t]) for t in instants],
        place,
        len(newest),
    )


def chart_texts(chart: Chart) -> list[tuple[str, str, list[tuple[float | None, str]]]]:
    """The chart's table in the current language: (instant, its label, (value, text) per
    series). Labels and numbers are formatted once per day and per value: Babel's formatting
    of a few hundred cells would otherwise cost a page tens of milliseconds."""
    days: dict[str, str] = {}
    numbers: dict[float, str] = {}
    rows = []
    for instant, values in chart.rows:
        # In the territory's zone, as the drawing above it (chart.js is told the same zone).
        moment = i18n.local(as_utc(datetime.fromisoformat(instant.replace("Z", "+00:00"))))
        date = moment.date().isoformat()
        if date not in days:
            days[date] = i18n.day(moment)
        clock = f" {moment:%H:%M}" if len(instant) > 10 else ""
        cells = []
        for value in values:
            if value is not None and value not in numbers:
                numbers[value] = i18n.number(value)
            cells.append((value, "" if value is None else numbers[value]))
        rows.append((instant, days[date] + clock, cells))
    return rows
