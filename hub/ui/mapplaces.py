"""What a dataset's map draws of its records: one point per place, what its popup says first.

A point shows the newest record of its place; it says how many records the place holds, so a
place where many species were seen does not look like one sighting. A recorded absence (Darwin
Core `occurrenceStatus` absent: searched for and not found) gets its own point, drawn hollow, so
the map never shows it as a presence (GBIF's maps show presences unless asked).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from hub.records import Layout

POPUP_FIELDS = 8
STATUS_FIELD = "occurrenceStatus"
# What a popup shows first, when the layout has it: what, when, how sure, where exactly.
FIRST_FIELDS = (
    "scientificName",
    "vernacularName",
    "headline",
    "station_name",
    "name",
    "occurrenceStatus",
    "individualCount",
    "eventDate",
    "coordinateUncertaintyInMeters",
    "value",
    "unit",
)
Spot = tuple[float, float, bool]  # longitude, latitude, an absence


@dataclass(frozen=True)
class Place:
    """The newest record at a spot, and how many records the rows read hold there."""

    row: dict[str, Any]
    records: int
    absent: bool


def is_absence(row: dict[str, Any]) -> bool:
    """A record that says the taxon was searched for and not found."""
    return str(row.get(STATUS_FIELD) or "").strip().lower() == "absent"


def _spot(row: dict[str, Any], lon: str, lat: str) -> Spot | None:
    x, y = row.get(lon), row.get(lat)
    if not isinstance(x, int | float) or not isinstance(y, int | float):
        return None
    return (round(float(x), 6), round(float(y), 6), is_absence(row))


def places_of(rows: list[dict[str, Any]], lon: str, lat: str) -> list[Place]:
    """The newest record of each place (rows newest first), in that order; absences apart."""
    counts: Counter[Spot] = Counter()
    newest: dict[Spot, dict[str, Any]] = {}
    for row in rows:
        spot = _spot(row, lon, lat)
        if spot is None:
            continue
        counts[spot] += 1
        newest.setdefault(spot, row)
    return [Place(row, counts[spot], spot[2]) for spot, row in newest.items()]


def popup_properties(row: dict[str, Any], shape: Layout, lon: str, lat: str) -> dict[str, Any]:
    """What a place's popup shows of its newest record: what, status, date and uncertainty
    first (and the record's time), then its other filled fields, `POPUP_FIELDS` in all at
    least those first ones."""
    filled = {k: v for k, v in row.items() if k not in (lon, lat) and v not in (None, "")}
    time_field = next((f for f, c in shape.columns.items() if c == shape.time), None)
    first = [f for f in FIRST_FIELDS if f in filled]
    if time_field in filled and "eventDate" not in first:
        first.append(time_field)
    rest = [f for f in filled if f not in first]
    chosen = first + rest[: max(0, POPUP_FIELDS - len(first))]
    return {name: filled[name] for name in chosen}


def summary_counts(places: list[Place]) -> tuple[int, int]:
    """(absences drawn, places holding more records than their point shows)."""
    return sum(p.absent for p in places), sum(p.records > 1 for p in places)
