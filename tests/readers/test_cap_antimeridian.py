"""CAP areas across the antimeridian (Fiji, Tonga, Samoa, the Aleutians): cut there as RFC 7946
§3.1.9 asks, with their point on the area, and found by a search around 180° only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from hub import catalogue, events, records
from hub.feeds import filters
from pipelines.flows import harvest_source
from tests.readers.test_cap_reader import SEYCHELLES, cap_source_file, swap, tag, write

AROUND_180 = (179.0, 50.0, -179.0, 53.0)  # minlon > maxlon: the box crosses the antimeridian
AROUND_0 = (-1.0, 50.0, 1.0, 53.0)

CASES = [
    # (CAP shape, representative point, polygons stored)
    ("<polygon>51.0,179.5 51.0,-179.5 52.0,-179.5 52.0,179.5 51.0,179.5</polygon>",
     (180.0, 51.5), 2),  # eastwards across
    ("<polygon>51.0,-179.5 51.0,179.5 52.0,179.5 52.0,-179.5 51.0,-179.5</polygon>",
     (-180.0, 51.5), 2),  # westwards across
    ("<circle>51.8,-179.9 100</circle>", (-179.9, 51.8), 2),
    ("<circle>51.8,179.9 100</circle>", (179.9, 51.8), 2),
    ("<polygon>51.0,179.0 51.0,180 52.0,180 52.0,179.0 51.0,179.0</polygon>",
     (179.5, 51.5), 1),  # touches 180° without crossing: kept as written
]  # fmt: skip


def polygons_of(geometry: dict[str, Any]) -> list[list[list[list[float]]]]:
    """The polygons of a GeoJSON Polygon or MultiPolygon."""
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    return list(geometry["coordinates"])


def pacific_alert(samples: Path, folder: Path, shape: str) -> Path:
    """The Seychelles alert with its area moved to `shape`."""
    text = (samples / SEYCHELLES).read_text(encoding="utf-8")
    return write(
        folder, "pacific.xml", swap(text, f"<polygon>{tag(text, 'polygon')}</polygon>", shape)
    )


def layout_of(engine: Engine, dataset: str) -> records.Layout:
    with Session(engine) as session:
        return catalogue.layout_of(catalogue.resource_of(session, dataset))


def found(engine: Engine, dataset: str, bbox: tuple[float, float, float, float]) -> int:
    """How many records of a dataset a records bbox query finds."""
    with engine.connect() as connection:
        return records.count(connection, layout_of(engine, dataset), bbox=bbox)


def touches(geometry: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    """Whether a feed client's `bbox` filter lets an alert of this geometry through."""
    event = events.FeedEvent(
        id=1, kind="alert", dataset="d", theme="risk", logged_at=datetime.now(UTC),
        data={"geometry": geometry}, bbox=events.bounds(geometry),
    )  # fmt: skip
    area = filters.bbox_area(",".join(f"{v:g}" for v in bbox))
    return area.touches(event, filters.event_shape(event))


@pytest.mark.parametrize(
    ("shape", "point", "pieces"),
    CASES,
    ids=["polygon-eastwards", "polygon-westwards", "circle-west-of-180", "circle-east-of-180",
         "polygon-touching"],
)  # fmt: skip
def test_an_area_across_the_antimeridian_is_cut_there_and_found_around_180(
    engine: Engine,
    samples: Path,
    tmp_path: Path,
    shape: str,
    point: tuple[float, float],
    pieces: int,
) -> None:
    path = pacific_alert(samples, tmp_path, shape)
    outcome = harvest_source(cap_source_file(tmp_path, path.as_uri(), "cap-pacific"))
    assert outcome.status == "succeeded", outcome
    layout = layout_of(engine, "cap-pacific")
    with engine.connect() as connection:
        rows = connection.execute(sa.select(layout.table)).mappings().all()
    (record,) = [records.to_record(layout, row) for row in rows]

    assert (record["longitude"], record["latitude"]) == pytest.approx(point)
    geometry = record["area"]  # a GeoJSON cell reads as the object it is
    polygons = polygons_of(geometry)
    assert len(polygons) == pieces
    for (ring,) in polygons:
        lons = [lon for lon, _ in ring]
        assert all(-180 <= lon <= 180 for lon in lons)
        assert all(abs(b - a) <= 180 for a, b in zip(lons, lons[1:], strict=False))
    if "polygon" in shape and pieces == 1:
        pairs = (pair.split(",") for pair in tag(shape, "polygon").split())
        assert geometry["coordinates"][0] == [[float(lon), float(lat)] for lat, lon in pairs]

    assert found(engine, "cap-pacific", AROUND_180) == 1
    assert found(engine, "cap-pacific", AROUND_0) == 0
    assert touches(geometry, AROUND_180) and not touches(geometry, AROUND_0)
