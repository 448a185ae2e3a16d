"""hub.geo: transforms to WGS84, areas of use, bounding boxes."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import polars as pl
import pytest
from pyproj import Transformer

from hub.geo import (
    BBox,
    BBoxError,
    OutOfAreaError,
    UnknownCRSError,
    area_of_use,
    bbox_contains,
    bbox_mask,
    outside_area,
    parse_bbox,
    parse_crs,
    to_wgs84,
)


def test_lambert93_projection_origin_is_3e_46_5n() -> None:
    lons, lats = to_wgs84([700_000.0], [6_600_000.0], "EPSG:2154")
    assert lons[0] == pytest.approx(3.0, abs=1e-9)
    assert lats[0] == pytest.approx(46.5, abs=1e-9)


def test_known_lambert93_points_from_the_sample_files() -> None:
    # Montpellier junction and the Vigicrues station "Delettes" (SOURCES.md, checked upstream).
    lons, lats = to_wgs84([767686.3955, 644356], [6279032.6454, 7058221], "2154")
    assert lons.to_list() == pytest.approx([3.8381, 2.2151], abs=1e-4)
    assert lats.to_list() == pytest.approx([43.6071, 50.6185], abs=1e-4)


def test_agrees_with_the_wgs84_columns_of_a_real_address_file(samples: Path) -> None:
    path = samples / "geo" / "bal_validateur_sample_L93.csv"
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = [r for r in csv.DictReader(file, delimiter=";") if r["x"] and r["long"]]
    assert len(rows) >= 10
    lons, lats = to_wgs84([float(r["x"]) for r in rows], [float(r["y"]) for r in rows], 2154)
    for row, lon, lat in zip(rows, lons, lats, strict=True):
        # The file says its two position pairs agree to within a metre: 1e-5° ≈ 1 m.
        assert lon == pytest.approx(float(row["long"]), abs=2e-5)
        assert lat == pytest.approx(float(row["lat"]), abs=2e-5)


def test_wgs84_input_passes_through_unchanged() -> None:
    lons, lats = to_wgs84(pl.Series([-79.47, 3.8]), pl.Series([43.79, 43.6]), "EPSG:4326")
    assert lons.to_list() == [-79.47, 3.8]
    assert lats.to_list() == [43.79, 43.6]


def test_web_mercator_matches_its_closed_formula() -> None:
    radius, lon, lat = 6_378_137.0, 3.8381, 43.6071
    x = radius * math.radians(lon)
    y = radius * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    lons, lats = to_wgs84([x], [y], "EPSG:3857")
    assert lons[0] == pytest.approx(lon, abs=1e-9)
    assert lats[0] == pytest.approx(lat, abs=1e-9)


def test_any_epsg_code_round_trips() -> None:
    # UTM 31N, the zone of Montpellier: project forward with pyproj, come back with to_wgs84.
    forward = Transformer.from_crs("EPSG:4326", "EPSG:32631", always_xy=True)
    x, y = forward.transform(3.8381, 43.6071)
    lons, lats = to_wgs84([x], [y], "EPSG:32631")
    assert (lons[0], lats[0]) == pytest.approx((3.8381, 43.6071), abs=1e-9)


def test_missing_coordinates_stay_missing() -> None:
    lons, lats = to_wgs84([None, math.nan, 700_000.0], [1.0, 2.0, 6_600_000.0], "EPSG:2154")
    assert lons.to_list()[:2] == [None, None]
    assert lats.to_list()[:2] == [None, None]
    assert lons[2] == pytest.approx(3.0)


def test_points_outside_the_area_of_use_raise_when_strict() -> None:
    with pytest.raises(OutOfAreaError, match=r"1 point\(s\).*EPSG:2154.*x=0.0, y=0.0"):
        to_wgs84([767686.3955, 0.0], [6279032.6454, 0.0], "EPSG:2154")


def test_points_outside_the_area_of_use_are_masked_when_not_strict() -> None:
    xs, ys = [767686.3955, 0.0, None], [6279032.6454, 0.0, None]
    lons, lats = to_wgs84(xs, ys, "EPSG:2154", strict=False)
    assert lons[0] == pytest.approx(3.8381, abs=1e-4)
    assert lons[1] is None and lats[1] is None
    assert outside_area(xs, ys, "EPSG:2154").to_list() == [False, True, False]


def test_impossible_lon_lat_are_outside_wgs84() -> None:
    assert outside_area([10, 200, 10], [95, 10, 10], "EPSG:4326").to_list() == [True, True, False]


def test_unknown_crs_gets_a_clear_error() -> None:
    with pytest.raises(UnknownCRSError, match=r"unknown CRS 'EPSG:999999'.*EPSG:2154"):
        to_wgs84([1.0], [1.0], "EPSG:999999")
    with pytest.raises(UnknownCRSError, match="not-a-crs"):
        parse_crs("not-a-crs")


def test_area_of_use_of_lambert93_is_metropolitan_france() -> None:
    box = area_of_use("EPSG:2154")
    assert bbox_contains(box, 3.88, 43.6)  # Montpellier
    assert bbox_contains(box, 9.45, 42.7)  # Corsica
    assert not bbox_contains(box, -79.47, 43.79)  # Toronto


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.7,43.5,4.0,43.7", BBox(3.7, 43.5, 4.0, 43.7)),
        (" -180, -90 , 180,90 ", BBox(-180, -90, 180, 90)),
        ("170,-10,-170,10", BBox(170, -10, -170, 10)),  # across the antimeridian
    ],
)
def test_parse_bbox(text: str, expected: BBox) -> None:
    assert parse_bbox(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3.7,43.5,4.0", "4 comma-separated numbers"),
        ("a,b,c,d", "only numbers"),
        ("3.7,43.5,4.0,nan", "finite"),
        ("3.7,43.5,181,43.7", r"maxlon 181.0 is outside \[-180, 180\]"),
        ("3.7,-91,4.0,43.7", r"minlat -91.0 is outside \[-90, 90\]"),
        ("3.7,44,4.0,43", "minlat 44.0 is greater than maxlat 43.0"),
    ],
)
def test_parse_bbox_refuses_bad_boxes(text: str, message: str) -> None:
    with pytest.raises(BBoxError, match=message):
        parse_bbox(text)


def test_bbox_mask_handles_the_antimeridian_and_missing_points() -> None:
    box = parse_bbox("170,-10,-170,10")
    assert bbox_mask(box, [175, -175, 0, None], [0, 0, 0, 0]).to_list() == [
        True,
        True,
        False,
        False,
    ]
    city = parse_bbox("3.7,43.5,4.0,43.7")
    assert bbox_mask(city, [3.88, 3.88, 3.7], [43.6, 43.8, 43.5]).to_list() == [True, False, True]
