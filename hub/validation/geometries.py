"""GeoJSON cells decided without jsonschema, where the answer is provably frictionless's.

frictionless checks a `geojson` cell against its GeoJSON profile with jsonschema, which walks
every position through several `oneOf` branches: seconds for one CAP polygon of 40,000
vertices. A bare geometry (`{"type": ..., "coordinates": ...}` and nothing else) whose
coordinates have the profile's exact shape is accepted by that profile, so it is accepted here
in one pass over its numbers; any other cell (features, bbox, crs, 3-D positions, odd shapes)
still goes to frictionless's own reader.
"""

from __future__ import annotations

import math
from typing import Any

from hub import jsontext

# The profile's geometry types, and how deep their coordinates nest (0: one position).
DEPTHS = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}
# The profile's minimum count at each depth: a line has two positions, a linear ring four.
LEAST = {"LineString": {1: 2}, "MultiLineString": {1: 2}, "Polygon": {1: 4}, "MultiPolygon": {1: 4}}


def plain_geometry(text: str) -> dict[str, Any] | None:
    """The geometry a cell holds if the GeoJSON profile surely accepts it; None to ask it."""
    if not text.startswith("{"):
        return None
    try:
        value = jsontext.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.keys() != {"type", "coordinates"}:
        return None
    kind = value["type"]
    if not isinstance(kind, str) or kind not in DEPTHS:
        return None
    if not _shaped(value["coordinates"], DEPTHS[kind], LEAST.get(kind, {})):
        return None
    return value


def _shaped(node: Any, depth: int, least: dict[int, int]) -> bool:
    """Whether `node` is a position (depth 0) or a list of such nodes, nested `depth` deep."""
    if depth == 0:
        return _is_position(node)
    if not isinstance(node, list) or len(node) < least.get(depth, 0):
        return False
    if depth == 1:
        return all(_is_position(position) for position in node)
    return all(_shaped(child, depth - 1, least) for child in node)


def _is_position(node: Any) -> bool:
    """Exactly two finite JSON numbers (a bool is not a number to jsonschema)."""
    return type(node) is list and len(node) == 2 and _is_number(node[0]) and _is_number(node[1])


def _is_number(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))
