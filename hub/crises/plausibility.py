"""Warnings for a crisis area that is valid but likely not what its authority meant: one that
lies outside the territory (longitude and latitude swapped put Montpellier in Somalia), one
far wider than the territory (the whole world opens every crisis dataset everywhere), one
smaller than a building. They are said when the crisis is declared, as misspelt cells are;
nothing is refused: a crisis may reach beyond the territory, and the authority decides."""

from __future__ import annotations

from typing import Any

from pyproj import Geod
from shapely.geometry import shape as shapely_shape
from sqlalchemy import Engine
from sqlmodel import Session

LOCAL_SPAN = 5.0  # degrees: wider than this, an area is no territory's (hub.ui.territory)
WIDER = 10.0  # times the territory's span: "far wider"
MARGIN = 0.5  # degrees around the territory's box still counted as near it
SMALLEST_M2 = 10_000.0  # a hectare
_GEOD = Geod(ellps="WGS84")


def area_warnings(engine: Engine, area: dict[str, Any], bbox: list[float]) -> list[str]:
    """What looks wrong with a crisis area, in sentences; empty when nothing does."""
    said = []
    territory = territory_box(engine)
    west, south, east, north = bbox
    span = max(east - west, north - south)
    if territory is not None and not _near(bbox, territory):
        swapped = [south, west, north, east]
        hint = (
            ": are longitude and latitude swapped? (GeoJSON writes [longitude, latitude])"
            if _near(swapped, territory)
            else ""
        )
        said.append(f"the area ({_box(bbox)}) lies outside the territory ({_box(territory)}){hint}")
    reference = territory_span = LOCAL_SPAN
    if territory is not None:  # a point-like territory (one station) still has LOCAL_SPAN
        territory_span = max(territory[2] - territory[0], territory[3] - territory[1])
        reference = max(LOCAL_SPAN, WIDER * territory_span)
    if span > reference:
        said.append(
            f"the area spans {span:.1f}° — far wider than the territory "
            f"({territory_span:.1f}°): its cells read crisis data all over it; is that meant?"
        )
    surface, _ = _GEOD.geometry_area_perimeter(shapely_shape(area))
    if abs(surface) < SMALLEST_M2:
        said.append(
            f"the area covers {abs(surface):.0f} m², less than a hectare: is it the perimeter "
            "meant, or a point drawn as a polygon?"
        )
    return said


def territory_box(engine: Engine) -> list[float] | None:
    """The territory's box (HUB_TERRITORY_FILE, or the hull of the open datasets' extents), None
    when the hub knows none yet."""
    # The outline is the catalogue map's; imported here, since crises sit below the UI.
    from hub.ui.territory import outline_box

    with Session(engine) as session:
        return outline_box(session)


def _near(box: list[float], territory: list[float]) -> bool:
    west, south, east, north = territory
    return not (
        box[2] < west - MARGIN
        or box[0] > east + MARGIN
        or box[3] < south - MARGIN
        or box[1] > north + MARGIN
    )


def _box(box: list[float]) -> str:
    west, south, east, north = box
    return f"longitude {west:.2f} to {east:.2f}, latitude {south:.2f} to {north:.2f}"
