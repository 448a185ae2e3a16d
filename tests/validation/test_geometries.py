"""Bare GeoJSON geometries decided without jsonschema: never a different answer from
frictionless's own GeoJSON reader, and the CAP samples' polygons take the quick path."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from frictionless import Field, fields

from hub.validation import validate_file
from hub.validation.geometries import plain_geometry
from pipelines.readers.cap_area import geometry_text, parse_polygon


def frictionless_reads(text: str) -> object:
    """What frictionless's geojson reader makes of a cell (None: a type error)."""
    field: Field = fields.GeojsonField(name="g")
    value, notes = field.create_cell_reader()(text)
    return None if notes else value


EDGE_CELLS = [
    '{"type": "Point", "coordinates": [1, 2]}',
    '{"type": "Point", "coordinates": [1.5, -2e3]}',
    '{"type": "Point", "coordinates": [1, 2, 3]}',  # the profile allows two numbers only
    '{"type": "Point", "coordinates": [1]}',
    '{"type": "Point", "coordinates": [true, 2]}',  # a bool is no JSON number
    '{"type": "Point", "coordinates": ["1", 2]}',
    '{"type": "Point", "coordinates": [NaN, 2]}',
    '{"type": "Point", "coordinates": [1e999, 2]}',
    '{"type": "Point", "coordinates": [123456789012345678901234567890, 2]}',
    '{"type": "Point", "coordinates": []}',
    '{"type": "MultiPoint", "coordinates": []}',
    '{"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]}',
    '{"type": "LineString", "coordinates": [[1, 2]]}',
    '{"type": "LineString", "coordinates": [[1, 2], [3, 4]]}',
    '{"type": "MultiLineString", "coordinates": [[[1, 2], [3, 4]], [[1, 2]]]}',
    '{"type": "MultiLineString", "coordinates": []}',
    '{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}',
    '{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}',  # a ring needs four
    '{"type": "Polygon", "coordinates": []}',
    '{"type": "Polygon", "coordinates": [[0, 0], [1, 0], [1, 1], [0, 0]]}',  # one level short
    '{"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], []]}',
    '{"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1]]]]}',
    '{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]], "bbox": [0, 0, 1, 1]}',
    '{"type": "Circle", "coordinates": [1, 2]}',
    '{"type": "GeometryCollection", "geometries": []}',
    '{"type": "Feature", "geometry": null, "properties": {}}',
    '{"type": "FeatureCollection", "features": []}',
    '{"coordinates": [1, 2]}',
    '{"type": 1, "coordinates": [1, 2]}',
    "[1, 2]",
    "not json",
    '{"type": "Point", "coordinates": [1, 2]',
]


@pytest.mark.parametrize("text", EDGE_CELLS)
def test_a_quick_answer_is_always_frictionlesss(text: str) -> None:
    quick = plain_geometry(text)
    if quick is not None:
        assert frictionless_reads(text) == quick


def test_plain_geometries_take_the_quick_path() -> None:
    assert plain_geometry(EDGE_CELLS[0]) == {"type": "Point", "coordinates": [1, 2]}
    assert plain_geometry(EDGE_CELLS[16]) is not None
    assert plain_geometry(EDGE_CELLS[2]) is None  # left to frictionless, which refuses it
    assert frictionless_reads(EDGE_CELLS[2]) is None


def _random_node(rng: random.Random, depth: int) -> object:
    """Mostly well-shaped coordinates, with now and then a wrong count, type or depth."""
    roll = rng.random()
    if roll < 0.03:
        return rng.choice([True, "1", None, {}, 1.5])
    if depth == 0:
        size = rng.choices([2, 1, 3], weights=[20, 1, 1])[0]
        return [rng.choice([rng.uniform(-180, 180), rng.randint(-90, 90)]) for _ in range(size)]
    return [_random_node(rng, depth - 1) for _ in range(rng.choice([0, 1, 2, 3, 4, 5]))]


def test_random_geometries_agree_with_frictionless() -> None:
    rng = random.Random(8)
    quick = 0
    for _ in range(600):
        kind = rng.choice(["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                           "MultiPolygon", "Polyhedron"])  # fmt: skip
        depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2}.get(kind, 2)
        depth += kind == "MultiPolygon"
        depth += rng.choice([0] * 12 + [-1, 1]) if depth else 0
        text = json.dumps({"type": kind, "coordinates": _random_node(rng, max(depth, 0))})
        theirs = frictionless_reads(text)
        ours = plain_geometry(text)
        if ours is not None:
            quick += 1
            assert theirs == ours, text
    assert 150 < quick < 600  # both answers were exercised


def test_the_largest_cap_polygon_is_decided_without_jsonschema(
    samples: Path, tmp_path: Path
) -> None:
    """The Burkina Faso alert's polygon (41,009 vertices) as the CAP reader
    writes it, then through the validator with an invalid geometry beside it."""
    text = (samples / "risk" / "cap_burkinafaso_bf_no_signature.xml").read_text(encoding="utf-8")
    polygon = re.search(r"<(?:cap:)?polygon>(.*?)</(?:cap:)?polygon>", text, re.S)
    assert polygon is not None
    ring = parse_polygon(polygon.group(1), "polygon")
    assert len(ring.points) > 10_000
    cell = geometry_text([ring])
    assert cell is not None
    assert plain_geometry(cell) is not None

    path = tmp_path / "areas.csv"
    rows = [cell, '{"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}', "{}"]
    path.write_text("area\n" + "".join(_csv(row) for row in rows), encoding="utf-8")
    report = validate_file(path, {"fields": [{"name": "area", "type": "geojson"}]})
    errors = [(e["rowNumber"], e["type"]) for e in report["tasks"][0]["errors"]]
    assert errors == [(3, "type-error"), (4, "type-error")]


def _csv(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"\n'
