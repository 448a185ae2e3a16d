"""/api/v1/datasets/{id}/grid on real NetCDF samples published through the gate.

Expected subsets are computed here, independently, with xarray's own label selection on the
sample files (`ds.sel(...)`), and compared with what the hub answers.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyproj
import pytest
import xarray as xr
from api.support import Published, bearer, client_for
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from hub import audit
from hub.batches import GridBatch
from hub.catalogue import Publisher, publish
from hub.config import get_settings
from hub.grids import describe_grid

SFC = "grids/cams_eac4_97da7a58_levtype_sfc.nc"
ML = "grids/cams_eac4_97da7a58_levtype_ml.nc"
ERA = "grids/xarray-data_eraint_uvz.nc"
CAMS = Publisher("copernicus-cams", "Copernicus Atmosphere Monitoring Service")
ECMWF = Publisher("ecmwf", "ECMWF")
LAB = Publisher("grid-lab", "Grid lab")
NETCDF = "application/x-netcdf"
SPHERE = pyproj.Geod(a=6_371_008.8, b=6_371_008.8)  # the hub's mean Earth radius


def opened(path: Path) -> xr.Dataset:
    """A sample as xarray reads it by itself (ERA's NaN _FillValue warning silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xr.SerializationWarning)
        return xr.load_dataset(path, engine=engine_of(path), decode_coords="all")


def engine_of(path: Path) -> str:
    return "h5netcdf" if path.read_bytes()[:4] == b"\x89HDF" else "scipy"


def answer_of(content: bytes) -> xr.Dataset:
    """A NetCDF answer, re-opened with xarray."""
    return xr.load_dataset(io.BytesIO(content), engine="h5netcdf")


def publish_grid(
    dataset_id: str,
    path: Path,
    publisher: Publisher,
    theme: str,
    charter: str,
    source_url: str = "",
):
    grid = describe_grid(path)
    run = publish(
        GridBatch(
            dataset_id=dataset_id,
            title=f"Grid {dataset_id}",
            publisher=publisher,
            theme=theme,
            charter=charter,
            source_id=dataset_id,
            source_url=source_url or f"https://example.org/{path.name}",
            path=path,
            variables=grid.variables,
            dimensions=grid.dimensions,
            bbox=grid.bbox,
            time_min=grid.time_min,
            time_max=grid.time_max,
            attributes=grid.attributes,
        )
    )
    assert run.status == "succeeded", run.error


def rewritten(source: Path, target: Path, change) -> Path:
    """A copy of a sample changed by `change(ds)`, written as NetCDF-3 like the sample."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xr.SerializationWarning)
        changed = change(xr.load_dataset(source, engine="scipy", decode_times=False))
    changed.to_netcdf(target, engine="scipy")
    return target


def curvilinear(path: Path) -> Path:
    """A small rotated grid on 2-D latitude/longitude (as ROMS or WRF write them)."""
    y, x = np.meshgrid(np.arange(6.0), np.arange(8.0), indexing="ij")
    lat, lon = 40.0 + 0.5 * y + 0.1 * x, -5.0 + 0.5 * x + 0.1 * y
    values = np.arange(3 * 6 * 8, dtype=float).reshape(3, 6, 8)
    ds = xr.Dataset(
        {"tas": (("time", "y", "x"), values, {"units": "K", "coordinates": "lat lon"})},
        coords={
            "time": ("time", [0.0, 1.0, 2.0], {"units": "days since 2020-01-01"}),
            "lat": (("y", "x"), lat, {"units": "degrees_north"}),
            "lon": (("y", "x"), lon, {"units": "degrees_east"}),
        },
    )
    ds.to_netcdf(path, engine="scipy")
    return path


def projected(path: Path) -> Path:
    """A Lambert-93 grid on projected x/y only, round Montpellier."""
    x = 760_500.0 + 1000 * np.arange(5)
    y = 6_289_500.0 - 1000 * np.arange(4)
    ds = xr.Dataset(
        {"no2": (("y", "x"), np.ones((4, 5)), {"units": "ug m-3", "grid_mapping": "crs"})},
        coords={
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"}),
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
        },
    )
    ds["crs"] = xr.DataArray(0, attrs={"crs_wkt": pyproj.CRS.from_epsg(2154).to_wkt()})
    ds.to_netcdf(path, engine="scipy")
    return path


# ARPEGE's grid_mapping in netcdf4-python's test/CRM032_test1.nc: free text, no variable's name
FREE_TEXT_MAPPING = (
    "rotated_stretched_latitude_longitude rotated_north_pole_latitude: 40. "
    "rotated_north_pole_longitude: 12. stretching_coefficient: 3"
)


def free_text_mapping(path: Path) -> Path:
    """The small rotated grid, its variable given ARPEGE's free-text grid_mapping attribute."""
    ds = xr.load_dataset(curvilinear(path.with_suffix(".plain")), engine="scipy")
    ds["tas"].attrs["grid_mapping"] = FREE_TEXT_MAPPING
    ds.to_netcdf(path, engine="scipy")
    return path


def geostationary(path: Path) -> Path:
    """A GOES-16 ABI fixed grid (netcdf4-python's test/20171025_2056.Cloud_Top_Height.nc, in
    fewer cells): x/y scanning angles, its grid mapping, and the satellite's subpoint as
    0-dimensional latitude and longitude variables."""
    mapping = {
        "grid_mapping_name": "geostationary", "perspective_point_height": 35786023.0,
        "semi_major_axis": 6378137.0, "semi_minor_axis": 6356752.31414,
        "latitude_of_projection_origin": 0.0, "longitude_of_projection_origin": -89.5,
        "sweep_angle_axis": "x",
    }  # fmt: skip
    ds = xr.Dataset(
        {
            "HT": (("y", "x"), np.ones((30, 50), "f4"),
                   {"units": "m", "grid_mapping": "goes_imager_projection"}),
            "nominal_satellite_subpoint_lat": ((), 0.0,
                                               {"standard_name": "latitude",
                                                "units": "degrees_north"}),
            "nominal_satellite_subpoint_lon": ((), -89.5,
                                               {"standard_name": "longitude",
                                                "units": "degrees_east"}),
            "goes_imager_projection": ((), np.int32(0), mapping),
        },
        coords={
            "x": ("x", np.linspace(-0.0749, 0.06482, 50),
                  {"units": "rad", "standard_name": "projection_x_coordinate"}),
            "y": ("y", np.linspace(0.12642, 0.0427, 30),
                  {"units": "rad", "standard_name": "projection_y_coordinate"}),
        },
    )  # fmt: skip
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def write_lab_charter(folder: Path) -> None:
    """A restricted charter of the grid lab: metropole-civil-protection may read."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grid-lab-restricted.yaml").write_text(
        'id: grid-lab-restricted\nversion: "1.0"\ntitle: Grid lab restricted test charter\n'
        "producer: grid-lab\nlicence:\n  id: custom\n  label: Agreement for tests\n"
        "  uri: https://example.org/agreement\naccess: restricted\n"
        "restricted_to: [metropole-civil-protection]\npurposes: [testing]\n"
        'gdpr_sensitive: false\nmandatory_mention: "Source: grid lab"\n'
        'valid_from: "2026-01-01"\nvalid_until: "2030-12-31"\nthemes: [air-quality]\n',
        encoding="utf-8",
    )


@pytest.fixture(scope="session")
def files(samples: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of the samples changed the way other producers write grids, made once."""
    folder = tmp_path_factory.mktemp("grids")
    with warnings.catch_warnings():  # re-packing ERA's shorts, as its own file packs them
        warnings.simplefilter("ignore", xr.SerializationWarning)
        east = rewritten(  # 0..359.25 longitudes, as many global models write them
            samples / ERA,
            folder / "era360.nc",
            lambda ds: ds.assign_coords(longitude=ds.longitude % 360).sortby("longitude"),
        )
        north = rewritten(samples / ERA, folder / "era-up.nc", lambda ds: ds.sortby("latitude"))
    gap = opened(samples / SFC)
    gap["sp"][0, 0, 0] = np.nan  # a missing value, in a NetCDF-4 copy
    gap.to_netcdf(folder / "cams-gap.nc", engine="h5netcdf")
    return {
        "era-360": east,
        "era-up": north,
        "cams-gap": folder / "cams-gap.nc",
        "rotated": curvilinear(folder / "rotated.nc"),
        "lambert": projected(folder / "l93.nc"),
        "goes": geostationary(folder / "goes.nc"),
        "arpege": free_text_mapping(folder / "arpege.nc"),
    }


@pytest.fixture
def hub(
    engine: Engine,
    samples: Path,
    files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    """The real samples, changed copies of them and a restricted grid, published."""
    write_lab_charter(tmp_path / "charters")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path / "charters"))
    get_settings.cache_clear()
    publish_grid("cams-sfc", samples / SFC, CAMS, "air-quality", "copernicus-cams")
    publish_grid("cams-ml", samples / ML, CAMS, "air-quality", "copernicus-cams")
    publish_grid("era-winds", samples / ERA, ECMWF, "energy", "ecmwf-era-interim")
    for dataset_id in ("era-360", "era-up"):
        publish_grid(dataset_id, files[dataset_id], ECMWF, "energy", "ecmwf-era-interim")
    for dataset_id in ("cams-gap", "rotated", "lambert", "goes", "arpege"):
        publish_grid(dataset_id, files[dataset_id], CAMS, "air-quality", "copernicus-cams")
    publish_grid("lab-grid", samples / SFC, LAB, "air-quality", "grid-lab-restricted")
    with client_for(engine) as client:
        yield client


def grid(client: TestClient, dataset_id: str, **params: str):
    return client.get(f"/api/v1/datasets/{dataset_id}/grid", params=params)


# --- describe --------------------------------------------------------------------------------


def test_a_grid_is_described_with_its_variables_extent_and_limits(hub: TestClient) -> None:
    shown = grid(hub, "cams-sfc")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["variables"] == [
        {"name": "sp", "units": "Pa", "long_name": "Surface pressure",
         "dims": ["time", "latitude", "longitude"], "shape": [16, 3, 3], "dtype": "float64"}
    ]  # fmt: skip
    assert body["dimensions"] == {"time": 16, "latitude": 3, "longitude": 3}
    assert body["bbox"] == [27.0, 22.0, 28.5, 23.5]
    assert (body["time_min"], body["time_max"]) == ("2020-07-01T00:00:00Z", "2020-07-02T21:00:00Z")
    assert (body["longitude"], body["latitude"], body["time"]) == ("longitude", "latitude", "time")
    assert body["coordinates"]["latitude"] == {
        "dims": ["latitude"], "units": "degrees_north", "min": 22.0, "max": 23.5
    }  # fmt: skip
    assert body["coordinates"]["time"]["min"] == "2020-07-01T00:00:00+00:00"
    assert body["cells"] == 144
    assert body["subsets"] == {
        "variables": True, "time": True, "bbox": True, "point": True, "why_not": []
    }  # fmt: skip
    assert body["limits"] == {"netcdf": 4_000_000, "json": 250_000}
    assert body["attributes"]["Conventions"] == "CF-1.6"
    assert (
        body["links"]["netcdf"] == "http://testserver/api/v1/datasets/cams-sfc/grid?format=netcdf"
    )


RECORD_LINKS = {"records", "csv", "geojson", "datapackage", "schema", "quarantine"}


def test_a_grid_datasets_links_name_only_what_it_serves_and_each_answers(hub: TestClient) -> None:
    """No records links on a grid (they answered 404), and its whole grid in a format only
    when one answer may hold it: ERA's 2,083,680 values are over JSON's 250,000."""
    for dataset_id in ("cams-sfc", "era-winds"):
        links = hub.get(f"/api/v1/datasets/{dataset_id}").json()["links"]
        assert not RECORD_LINKS & set(links) and "validation" not in links, dataset_id
        for name, url in links.items():
            assert hub.get(url).status_code == 200, (dataset_id, name, url)
    cams = hub.get("/api/v1/datasets/cams-sfc").json()["links"]
    assert list(cams) == [
        "self", "grid", "grid_netcdf", "grid_json", "charter", "runs", "ckan", "page"
    ]  # fmt: skip
    assert cams["grid_json"] == "http://testserver/api/v1/datasets/cams-sfc/grid?format=json"
    era = hub.get("/api/v1/datasets/era-winds").json()
    assert "grid_netcdf" in era["links"] and "grid_json" not in era["links"]
    assert set(grid(hub, "era-winds").json()["links"]) == {"self", "netcdf"}
    assert grid(hub, "era-winds", format="json").status_code == 400  # what the link would give
    assert [m["media_name"] for m in era["rudi"]["available_formats"]] == ["Grid (NetCDF)"]


def test_a_grid_datasets_detail_says_what_its_grid_holds(hub: TestClient, engine: Engine) -> None:
    """Its record_count is 0 (a grid has no records): `grid` counts its cells as /grid does."""
    for dataset_id in ("cams-sfc", "era-winds"):
        detail = hub.get(f"/api/v1/datasets/{dataset_id}").json()
        described = grid(hub, dataset_id).json()
        assert detail["record_count"] == 0
        assert detail["grid"]["cells"] == described["cells"]
        assert detail["grid"]["dimensions"] == described["dimensions"]
        assert detail["grid"]["variables"] == [v["name"] for v in described["variables"]]
    assert hub.get("/api/v1/datasets/cams-sfc").json()["grid"] == {
        "variables": ["sp"], "dimensions": {"time": 16, "latitude": 3, "longitude": 3},
        "cells": 144,
    }  # fmt: skip
    closed = hub.get("/api/v1/datasets/lab-grid").json()  # withheld as its record_count is
    assert closed["grid"] == {"variables": ["sp"], "dimensions": None, "cells": None}
    member = bearer(engine, "agency", "metropole-civil-protection")
    assert hub.get("/api/v1/datasets/lab-grid", headers=member).json()["grid"]["cells"] == 144


def test_the_formats_a_withheld_grid_is_offered_in_tell_nothing_of_its_size(
    hub: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which formats can hold a grid whole tells its size: a caller it is withheld from is
    offered every format (reading it is refused anyway), a member only those that fit."""
    monkeypatch.setenv("HUB_GRID_MAX_CELLS", "1000")  # JSON holds 62 values: 144 do not fit
    get_settings.cache_clear()
    member = bearer(engine, "agency", "metropole-civil-protection")
    for headers, formats in (({}, {"grid_netcdf", "grid_json"}), (member, {"grid_netcdf"})):
        detail = hub.get("/api/v1/datasets/lab-grid", headers=headers).json()
        assert {k for k in detail["links"] if k.startswith("grid_")} == formats
        offered = {m["file_type"] for m in detail["rudi"]["available_formats"]}
        assert ("application/json" in offered) == ("grid_json" in formats)


def test_ckan_gives_a_grids_url_as_the_hubs_grid_route_never_a_folder(
    hub: TestClient, samples: Path
) -> None:
    """A grid read from the hub's own folders: CKAN clients (ckanapi dump --datapackages
    downloads each resource's url) get the grid route, and no `{samples}` placeholder."""
    local = f"file://{{samples}}/{SFC}"
    publish_grid("cams-local", samples / SFC, CAMS, "air-quality", "copernicus-cams", local)
    package = hub.get("/api/3/action/package_show", params={"id": "cams-local"}).json()["result"]
    assert "{samples}" not in json.dumps(package)
    extras = {extra["key"]: extra["value"] for extra in package["extras"]}
    assert extras.get("source_url", "") == "" and extras["access"] == "open"
    (resource,) = package["resources"]
    assert resource["url"] == "http://testserver/api/v1/datasets/cams-local/grid?format=netcdf"
    downloaded = hub.get(resource["url"])
    assert downloaded.headers["content-type"].startswith(NETCDF)
    expected = opened(samples / SFC)["sp"].values
    assert np.allclose(answer_of(downloaded.content)["sp"].values, expected, equal_nan=True)


def test_what_cannot_be_cut_is_said_in_the_description(hub: TestClient) -> None:
    era = grid(hub, "era-winds").json()
    assert era["cells"] == 3 * 2 * 3 * 241 * 480 and era["time"] is None
    assert era["subsets"]["time"] is False and era["subsets"]["bbox"] is True
    assert era["subsets"]["why_not"] == ["time: no time coordinate"]
    lambert = grid(hub, "lambert").json()
    assert lambert["subsets"]["bbox"] is False and lambert["subsets"]["point"] is False
    assert "projected x/y only" in lambert["subsets"]["why_not"][0]
    assert lambert["bbox"] is not None  # the gate found its WGS84 box through pyproj
    rotated = grid(hub, "rotated").json()
    assert rotated["subsets"]["bbox"] is True
    assert rotated["coordinates"]["lat"]["dims"] == ["y", "x"]


def test_a_satellite_subpoint_is_no_axis_of_a_geostationary_grid(hub: TestClient) -> None:
    """GOES-16 ABI: the 0-dimensional nominal_satellite_subpoint_lat/lon were taken for its
    latitude/longitude (bbox [-89.5, 0, -89.5, 0], bbox and point cuts offered)."""
    goes = grid(hub, "goes").json()
    assert (goes["longitude"], goes["latitude"]) == (None, None)
    assert goes["subsets"]["bbox"] is False and goes["subsets"]["point"] is False
    assert goes["subsets"]["why_not"][0] == (
        "bbox and point: it has no latitude/longitude coordinates (projected x/y only)"
    )
    # its box, through the geostationary grid mapping: the file's own extent is -140.62,
    # 14.0, -49.18, 52.77 (cell edges; these are cell centres)
    assert [round(v, 1) for v in goes["bbox"]] == [-140.3, 14.0, -49.4, 52.7]
    cut = grid(hub, "goes", bbox="-90,30,-80,40")
    assert cut.status_code == 400 and "it has no latitude/longitude" in cut.json()["detail"]
    assert grid(hub, "goes", lon="-89.5", lat="0").status_code == 400


def test_a_grid_with_a_free_text_grid_mapping_is_described_and_cut(hub: TestClient) -> None:
    """ARPEGE's CRM032: its unparsable grid_mapping made it a "truncated or corrupt" file."""
    arpege = grid(hub, "arpege")
    assert arpege.status_code == 200, arpege.text
    body, rotated = arpege.json(), grid(hub, "rotated").json()
    assert (body["longitude"], body["latitude"]) == ("lon", "lat")
    assert body["bbox"] == rotated["bbox"] and body["bbox"] is not None
    assert body["subsets"] == rotated["subsets"]
    box = {"bbox": "-4,41,-2,42.5", "format": "json"}
    cut = grid(hub, "arpege", **box)
    assert cut.status_code == 200, cut.text
    assert cut.json()["variables"] == grid(hub, "rotated", **box).json()["variables"]


# --- NetCDF subsets --------------------------------------------------------------------------


def test_a_netcdf_subset_equals_xarrays_own_selection(hub: TestClient, samples: Path) -> None:
    answer = grid(hub, "era-winds", variables="u,v", bbox="-10,40,10,50")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == NETCDF
    assert answer.headers["content-disposition"] == 'attachment; filename="era-winds-grid.nc"'
    assert answer.content[:4] == b"\x89HDF"
    got = answer_of(answer.content)
    expected = opened(samples / ERA)[["u", "v"]].sel(
        latitude=slice(50, 40), longitude=slice(-10, 10)
    )
    assert dict(got.sizes) == {"month": 2, "level": 3, "latitude": 13, "longitude": 27}
    xr.testing.assert_equal(got, expected)
    assert got["u"].attrs["units"] == "m s**-1"


def test_a_time_slice_keeps_from_and_leaves_out_to(hub: TestClient, samples: Path) -> None:
    answer = grid(
        hub, "cams-ml", variables="t", **{"from": "2020-07-01T06:00Z", "to": "2020-07-01T12:00Z"}
    )
    got = answer_of(answer.content)
    expected = opened(samples / ML)[["t"]].sel(time=slice("2020-07-01T06", "2020-07-01T09"))
    assert got.sizes["time"] == 2
    xr.testing.assert_equal(got, expected)
    # a zone other than UTC is turned into UTC; a date without one is UTC
    zoned = {"from": "2020-07-02T20:00+02:00", "to": "2020-07-03"}
    later = answer_of(grid(hub, "cams-ml", variables="t", **zoned).content)
    assert [str(t)[:13] for t in later["time"].values] == ["2020-07-02T18", "2020-07-02T21"]


def test_longitudes_0_360_and_ascending_latitudes_subset_like_the_original(
    hub: TestClient, samples: Path
) -> None:
    original = opened(samples / ERA)["u"].sel(latitude=slice(50, 40), longitude=slice(-10, 10))
    east = answer_of(grid(hub, "era-360", variables="u", bbox="-10,40,10,50").content)
    # west to east: 350.25 (-9.75) … 359.25, then 0 … 9.75
    assert east["longitude"].values.tolist() == (original["longitude"].values % 360).tolist()
    assert east["longitude"].values.tolist()[12:14] == [359.25, 0.0]
    np.testing.assert_allclose(east["u"].values, original.values)
    up = answer_of(grid(hub, "era-up", variables="u", bbox="-10,40,10,50").content)
    assert up["latitude"].values.tolist() == sorted(original["latitude"].values.tolist())
    np.testing.assert_allclose(up["u"].values, original.values[:, :, ::-1, :])


def test_a_bbox_across_the_antimeridian_runs_west_to_east(hub: TestClient) -> None:
    got = answer_of(grid(hub, "era-winds", variables="z", bbox="178,-1,-178.5,1").content)
    assert got["longitude"].values.tolist() == [178.5, 179.25, -180.0, -179.25, -178.5]
    assert got["latitude"].values.tolist() == [0.75, 0.0, -0.75]


def test_a_curvilinear_grid_is_cut_to_its_window_and_masked_outside_the_box(
    hub: TestClient, files: dict[str, Path]
) -> None:
    answer = grid(hub, "rotated", bbox="-4,41,-2,42.5", format="json")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    source = opened(files["rotated"])
    inside = (
        (source.lat >= 41) & (source.lat <= 42.5) & (source.lon >= -4) & (source.lon <= -2)
    ).values
    rows, columns = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    window = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
    expected = np.where(inside[window], source.tas.values[:, window[0], window[1]], np.nan)
    values = np.array(body["variables"]["tas"]["values"], dtype=float)
    np.testing.assert_array_equal(values, expected)  # NaN (null) where outside the box
    assert body["dims"] == {"time": 3, "y": len(range(*window[0].indices(6))),
                            "x": len(range(*window[1].indices(8)))}  # fmt: skip
    assert np.array(body["coordinates"]["lat"]).shape == inside[window].shape
    assert "null" in answer.text and "NaN" not in answer.text


# --- JSON and points -------------------------------------------------------------------------


def test_a_json_subset_gives_coordinates_and_values_with_null_for_missing(
    hub: TestClient, samples: Path
) -> None:
    answer = grid(hub, "cams-gap", format="json", **{"to": "2020-07-01T06:00Z"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert "NaN" not in answer.text
    body = answer.json()
    assert body["dataset"] == "cams-gap" and body["cells"] == 2 * 9
    assert body["coordinates"]["time"] == ["2020-07-01T00:00:00Z", "2020-07-01T03:00:00Z"]
    assert body["coordinates"]["latitude"] == [23.5, 22.75, 22.0]
    sp = body["variables"]["sp"]
    assert (sp["units"], sp["dims"]) == ("Pa", ["time", "latitude", "longitude"])
    expected = opened(samples / SFC)["sp"].values[:2].tolist()
    expected[0][0][0] = None  # the value blanked in this copy
    assert sp["values"] == expected


def test_the_nearest_cell_gives_its_series_and_its_distance(
    hub: TestClient, samples: Path, files: dict[str, Path]
) -> None:
    answer = grid(hub, "cams-sfc", lon="27.8", lat="22.9")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    nearest = body["nearest"]
    assert (nearest["cell_lon"], nearest["cell_lat"]) == (27.75, 22.75)
    assert nearest["indices"] == {"latitude": 1, "longitude": 1}
    _, _, metres = SPHERE.inv(27.8, 22.9, 27.75, 22.75)
    assert nearest["distance_m"] == pytest.approx(metres, abs=0.1)
    expected = opened(samples / SFC)["sp"].isel(latitude=1, longitude=1)
    assert body["variables"]["sp"]["dims"] == ["time"]
    assert body["variables"]["sp"]["values"] == expected.values.tolist()
    assert len(body["coordinates"]["time"]) == 16 and body["cells"] == 16
    # across 180°: the nearest meridian of 179.9° E is -180°
    era = grid(hub, "era-winds", lon="179.9", lat="0.2", variables="u").json()
    assert (era["nearest"]["cell_lon"], era["nearest"]["cell_lat"]) == (-180.0, 0.0)
    assert era["nearest"]["distance_m"] == pytest.approx(SPHERE.inv(179.9, 0.2, 180, 0)[2], 0.01)
    assert era["variables"]["u"]["dims"] == ["month", "level"]
    # a curvilinear grid: the nearest of its 2-D centres
    rotated = grid(hub, "rotated", lon="-3.0", lat="41.5", **{"from": "2020-01-02"}).json()
    source = opened(files["rotated"])
    lats, lons = source["lat"].values, source["lon"].values
    metres = SPHERE.inv(np.full(lats.shape, -3.0), np.full(lats.shape, 41.5), lons, lats)[2]
    y, x = np.unravel_index(np.argmin(metres), metres.shape)
    assert rotated["nearest"]["indices"] == {"y": y, "x": x} and rotated["cells"] == 2
    assert rotated["nearest"]["distance_m"] == pytest.approx(metres[y, x], abs=0.1)
    assert rotated["variables"]["tas"]["values"] == source["tas"].values[1:, y, x].tolist()
    as_netcdf = answer_of(grid(hub, "cams-sfc", lon="27.8", lat="22.9", format="netcdf").content)
    assert as_netcdf["sp"].dims == ("time",)


# --- limits and bad parameters ---------------------------------------------------------------


def test_an_answer_over_the_limit_is_refused_naming_its_size(
    hub: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = grid(hub, "era-winds", format="json")
    assert whole.status_code == 400
    assert whole.json()["detail"].startswith(
        "this JSON answer would hold 2,082,240 values, over the limit of 250,000"
    )
    monkeypatch.setenv("HUB_GRID_MAX_CELLS", "1000")
    get_settings.cache_clear()
    assert grid(hub, "cams-sfc").json()["limits"] == {"netcdf": 1000, "json": 62}
    too_many = grid(hub, "era-winds", variables="u")
    assert too_many.status_code == 400
    assert "694,080 values, over the limit of 1,000" in too_many.json()["detail"]
    assert grid(hub, "cams-sfc", format="netcdf").status_code == 200  # 144 values
    json_too_many = grid(hub, "cams-sfc", format="json")
    assert json_too_many.status_code == 400 and "144 values" in json_too_many.text
    assert "over the limit of 62" in json_too_many.text
    assert grid(hub, "cams-sfc", format="json", bbox="27,22,27.5,22.5").status_code == 200


BAD = [
    ({"variables": "sp,nope"}, "unknown variable 'nope': this grid has sp"),
    ({"bbox": "27,23.5,28,22"}, "minlat 23.5 is greater than maxlat 22"),
    ({"bbox": "27,22,28"}, "must have 4 comma-separated numbers"),
    ({"bbox": "27,22,28,nan"}, "finite numbers"),
    ({"bbox": "0,0,1,1"}, "no cell centre of the grid lies in bbox 0,0,1,1"),
    ({"from": "yesterday"}, "from='yesterday' is not an ISO 8601 date-time"),
    ({"to": "2020-13-01"}, "to='2020-13-01' is not an ISO 8601 date-time"),
    ({"from": "2020-07-02", "to": "2020-07-01"}, "is after to"),
    ({"from": "2021-01-01"}, "no time step of the grid is in [from, to)"),
    ({"lon": "27.5"}, "a point needs both lon and lat"),
    ({"lon": "200", "lat": "0"}, "lon='200' must be between -180 and 180"),
    ({"lon": "27", "lat": "nan"}, "lat='nan' must be between -90 and 90"),
    ({"lon": "east", "lat": "0"}, "lon='east' is not a number of degrees"),
    ({"lon": "27", "lat": "22", "bbox": "27,22,28,23"}, "not both"),
    ({"varaibles": "sp"}, "unknown parameter 'varaibles'"),
]


def test_bad_parameters_are_400s_that_say_why(hub: TestClient) -> None:
    for params, message in BAD:
        answer = grid(hub, "cams-sfc", **params)
        assert answer.status_code == 400, (params, answer.text)
        assert message in answer.json()["detail"], params


def test_what_a_grid_cannot_do_is_a_400_and_unknown_things_404(
    hub: TestClient, published: Published
) -> None:
    no_time = grid(hub, "era-winds", **{"from": "2000-01-01"})
    assert no_time.status_code == 400 and "no time coordinate" in no_time.json()["detail"]
    projected = grid(hub, "lambert", bbox="3.8,43.5,3.9,43.7")
    assert projected.status_code == 400
    assert "cannot be cut by a bbox: it has no latitude/longitude" in projected.json()["detail"]
    assert grid(hub, "lambert", lon="3.9", lat="43.6").status_code == 400
    assert grid(hub, "cams-sfc", format="xml").status_code == 400
    records_only = grid(hub, "atmo-demo-air")
    assert records_only.status_code == 404
    assert records_only.json()["detail"] == "dataset 'atmo-demo-air' has no grid"
    assert grid(hub, "nothing").status_code == 404


# --- access ----------------------------------------------------------------------------------


def test_a_restricted_grid_is_read_only_by_those_its_charter_names(
    hub: TestClient, engine: Engine
) -> None:
    for params in ({}, {"format": "json"}, {"lon": "27.8", "lat": "22.9"}):
        anonymous = grid(hub, "lab-grid", **params)
        assert anonymous.status_code == 401, params
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "restricted" in anonymous.json()["detail"] and "sp" not in anonymous.text
    outsider = bearer(engine, "agency", "regional-health-agency")
    assert hub.get("/api/v1/datasets/lab-grid/grid", headers=outsider).status_code == 403
    member = bearer(engine, "agency", "metropole-civil-protection")
    described = hub.get("/api/v1/datasets/lab-grid/grid", headers=member)
    assert described.status_code == 200 and described.json()["cells"] == 144

    def values(purpose: str) -> httpx.Response:
        return hub.get(
            "/api/v1/datasets/lab-grid/grid",
            params={"format": "json", "to": "2020-07-01T03:00Z"},
            headers={**member, "X-Purpose": purpose},
        )

    unlisted = values("flood drill")  # the charter's purposes bind its readers: [testing]
    assert unlisted.status_code == 403 and "'flood drill'" in unlisted.json()["detail"]
    assert values("testing").status_code == 200 and values("testing").json()["cells"] == 9
    producer = bearer(engine, "operator", "grid-lab")
    assert hub.get("/api/v1/datasets/lab-grid/grid", headers=producer).status_code == 200
    with Session(engine) as session:
        events = audit.entries(session, dataset="lab-grid")
    assert [(e.outcome, e.actor_role) for e in events] == [
        *[("denied", "anonymous")] * 3,
        ("denied", "agency"),
        ("granted", "agency"),
        ("denied", "agency"),
        ("granted", "agency"),
        ("granted", "agency"),
        ("granted", "operator"),
    ]
    assert events[5].purpose == "flood drill"
    assert events[6].rows == 9 and events[6].purpose == "testing"
    assert events[6].route == "GET /api/v1/datasets/lab-grid/grid"
    assert audit.verify(engine).intact
    # open grids leave no entry: open data is nobody's secret
    with Session(engine) as session:
        assert audit.entries(session, dataset="cams-sfc") == []


def test_a_restricted_grid_shows_no_extent_in_its_public_detail(hub: TestClient) -> None:
    public = hub.get("/api/v1/datasets/lab-grid").json()
    assert public["freshness"]["bbox"] is None and public["freshness"]["time_min"] is None
    assert hub.get("/api/v1/datasets/cams-sfc").json()["freshness"]["bbox"] == [
        27.0, 22.0, 28.5, 23.5
    ]  # fmt: skip


# --- no server error, whatever the parameters ------------------------------------------------


def test_schemathesis_finds_no_server_error_on_grids(hub: TestClient, engine: Engine) -> None:
    import schemathesis
    from api.test_schemathesis import exercise
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.python.asgi import shutdown_lifespans

    from hub.app import create_app

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
    (operation,) = [
        op.ok()
        for op in schema.get_all_operations()
        if op.ok().path == "/api/v1/datasets/{dataset_id}/grid"
    ]
    cases: Counter[str] = Counter()
    producer = bearer(engine, "operator", "grid-lab")
    try:
        for dataset_id in ("cams-sfc", "cams-ml", "rotated", "lambert", "lab-grid"):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(
                    generation_mode=mode, path_parameters={"dataset_id": dataset_id}
                )
                headers = producer if dataset_id == "lab-grid" else {}
                with contextlib.suppress(Unsatisfiable):  # nothing of it can be made invalid
                    exercise(strategy, headers, cases, f"{dataset_id}/{mode.value}")
    finally:
        shutdown_lifespans()
    assert sum(cases.values()) >= 50, cases
