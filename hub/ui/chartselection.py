"""What a dataset page's chart shows when its visitor chooses: a place, a period, daily means.

The choice is a plain GET form (no JavaScript): `place`, `from` and `to` (days, inclusive, UTC)
and `daily`. The rows come through `hub.reading.read_records` with the visitor's caller, as
the REST API reads them, and the same filters make the "download this selection" links.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session

from hub import reading
from hub.models import Dataset
from hub.records import Layout
from hub.ui import charts

SELECTED_ROWS = 2_000  # newest rows of a selection charted (a week of hourly values at 12 places)


@dataclass(frozen=True)
class Selection:
    """A visitor's choice; the empty one is the page as it comes."""

    place: str = ""
    start: date | None = None
    end: date | None = None  # the last day, included
    daily: bool = False
    bad_dates: bool = False  # a day the form could not read (it is left out)

    @property
    def chosen(self) -> bool:
        return bool(self.place or self.start or self.end)


def _day(text: str | None) -> tuple[date | None, bool]:
    if not text or not text.strip():
        return None, False
    try:
        return date.fromisoformat(text.strip()), False
    except ValueError:
        return None, True


def selection_of(query: Mapping[str, str]) -> Selection:
    """The form's choice from a page's query (an unreadable day is left out, and said)."""
    start, bad_start = _day(query.get("from"))
    end, bad_end = _day(query.get("to"))
    if start and end and start > end:
        start, end = end, start
    place = (query.get("place") or "").strip()[:200]
    return Selection(place, start, end, query.get("daily") == "1", bad_start or bad_end)


def bounds(chosen: Selection) -> tuple[datetime | None, datetime | None]:
    """The period as the records API takes it: from midnight UTC, to the next day's (excluded)."""
    start = datetime.combine(chosen.start, time(), UTC) if chosen.start else None
    end = datetime.combine(chosen.end + timedelta(days=1), time(), UTC) if chosen.end else None
    return start, end


def read_selection(
    session: Session, dataset: Dataset, caller: reading.Caller, shape: Layout, chosen: Selection
) -> list[dict[str, Any]]:
    """The newest rows of the selection the caller may read, newest first (one logged read)."""
    place_key = charts.place_field(shape)
    filters = ((place_key, chosen.place),) if chosen.place and place_key else ()
    start, end = bounds(chosen)
    when = charts.time_field(shape)
    criteria = reading.Criteria(start, end, None, filters, sort=f"-{when}" if when else None)
    return reading.read_records(session, dataset, caller, criteria, SELECTED_ROWS).records


def places(shape: Layout, rows: list[dict[str, Any]], chosen: str) -> list[tuple[str, str]]:
    """(value, name) of the places among the rows read, by name; the chosen one kept."""
    key, name_key = charts.place_field(shape), charts.place_name_field(shape)
    if not key:
        return []
    found: dict[str, str] = {}
    for row in rows:
        value = row.get(key)
        if value not in (None, "") and str(value) not in found:
            named = row.get(name_key) if name_key else None
            found[str(value)] = f"{named} ({value})" if named else str(value)
    if chosen and chosen not in found:
        found[chosen] = chosen
    return sorted(found.items(), key=lambda item: item[1].lower())


def daily_means(shape: Layout, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per UTC day and series: the mean of the measure (rows newest first, kept so)."""
    when, measure = charts.time_field(shape), charts.measure_of(shape)
    series = charts.series_field(shape)
    if not when or not measure:
        return rows
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get(when) and isinstance(row.get(measure), int | float):
            groups[(str(row[when])[:10], str(row.get(series)) if series else "")].append(row)
    means = []
    for (day, _), members in groups.items():
        values = [float(r[measure]) for r in members]
        means.append({**members[0], when: day, measure: round(sum(values) / len(values), 3)})
    return sorted(means, key=lambda r: str(r[when]), reverse=True)


def download_links(root: str, dataset_id: str, shape: Layout, chosen: Selection) -> dict[str, str]:
    """The records API's CSV (and GeoJSON, for located records) of this selection."""
    params: list[tuple[str, str]] = []
    start, end = bounds(chosen)
    if start:
        params.append(("from", start.strftime("%Y-%m-%dT%H:%M:%SZ")))
    if end:
        params.append(("to", end.strftime("%Y-%m-%dT%H:%M:%SZ")))
    place_key = charts.place_field(shape)
    if chosen.place and place_key:
        params.append((place_key, chosen.place))
    api = f"{root}api/v1/datasets/{dataset_id}/records"
    links = {"csv": f"{api}?{urlencode([('format', 'csv'), *params])}"}
    lon, lat = reading.coordinates(shape)
    if lon and lat:
        links["geojson"] = f"{api}?{urlencode([('format', 'geojson'), *params])}"
    return links
