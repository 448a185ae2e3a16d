"""hub.grids: real NetCDF files described from their metadata, broken ones refused, stored once.

Expected values were read once from the shared samples with xarray 2026.9
(`xr.open_dataset(path, engine="scipy")`, printing `ds`, each variable's attrs and `ds.attrs`)
and agree with /work/shared/data/SOURCES.md.
"""

from __future__ import annotations

import hashlib
import tracemalloc
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import h5netcdf
import numpy as np
import pyproj
import pytest
import xarray as xr

from hub.batches import GridVariable
from hub.gridextent import longitude_extent
from hub.grids import GridError, describe_grid, engine_for, store_grid

SFC = "grids/cams_eac4_97da7a58_levtype_sfc.nc"
ML = "grids/cams_eac4_97da7a58_levtype_ml.nc"
ERA = "grids/xarray-data_eraint_uvz.nc"

# CAMS EAC4 request 97da7a58: latitude 23.5, 22.75, 22.0; longitude 27.0, 27.75, 28.5;
# time int32 1056264 … 1056309 "hours since 1900-01-01 00:00:00.0" (gregorian), 16 steps.
CAMS_BBOX = [27.0, 22.0, 28.5, 23.5]
CAMS_FIRST = datetime(2020, 7, 1, 0, 0, tzinfo=UTC)  # 1056264 h after 1900-01-01
CAMS_LAST = datetime(2020, 7, 2, 21, 0, tzinfo=UTC)  # 1056309 h after 1900-01-01
CAMS_DIMS = ("time", "latitude", "longitude")
CAMS_LEVEL_DIMS = ("time", "level", "latitude", "longitude")


def rewritten(
    samples: Path,
    name: str,
    tmp_path: Path,
    change: Callable[[xr.Dataset], xr.Dataset],
    engine: str = "scipy",
) -> Path:
    """A copy of a sample, changed by `change(ds)` (coordinates only), written to tmp_path."""
    with warnings.catch_warnings():  # ERA-Interim's NaN _FillValue on packed shorts
        warnings.simplefilter("ignore", xr.SerializationWarning)
        changed = change(xr.load_dataset(samples / name, engine="scipy", decode_times=False))
        path = tmp_path / f"changed-{Path(name).name}"
        changed.to_netcdf(path, engine=engine)
    return path


# --- the real samples ------------------------------------------------------------------------


def test_cams_surface_file(samples):
    grid = describe_grid(samples / SFC)
    assert grid.engine == "scipy"  # CDF\x02: NetCDF-3 64-bit offset
    assert grid.variables == [GridVariable("sp", "Pa", "Surface pressure", CAMS_DIMS)]
    assert grid.dimensions == {"time": 16, "latitude": 3, "longitude": 3}
    assert grid.bbox == CAMS_BBOX
    assert (grid.time_min, grid.time_max) == (CAMS_FIRST, CAMS_LAST)
    assert set(grid.attributes) == {"Conventions", "history"}
    assert grid.attributes["Conventions"] == "CF-1.6"
    assert grid.attributes["history"].startswith(
        "2023-06-21 13:01:07 GMT by grib_to_netcdf-2.25.1: /opt/ecmwf/mars-client/bin/"
    )


def test_cams_model_level_file(samples):
    grid = describe_grid(samples / ML)
    assert grid.variables == [
        GridVariable(
            "go3", "kg kg**-1", "Ozone mass mixing ratio (full chemistry scheme)", CAMS_LEVEL_DIMS
        ),
        GridVariable("q", "kg kg**-1", "Specific humidity", CAMS_LEVEL_DIMS),
        GridVariable("t", "K", "Temperature", CAMS_LEVEL_DIMS),
    ]
    assert grid.dimensions == {"time": 16, "level": 60, "latitude": 3, "longitude": 3}
    assert grid.bbox == CAMS_BBOX
    assert (grid.time_min, grid.time_max) == (CAMS_FIRST, CAMS_LAST)
    assert grid.attributes["Conventions"] == "CF-1.6"
    assert grid.attributes["history"].startswith("2023-06-21 13:01:06 GMT by grib_to_netcdf")


def test_era_interim_file_is_global_and_has_no_time(samples):
    grid = describe_grid(samples / ERA)
    dims = ("month", "level", "latitude", "longitude")
    assert grid.variables == [
        GridVariable("z", "m**2 s**-2", "Geopotential", dims),
        GridVariable("u", "m s**-1", "U component of wind", dims),
        GridVariable("v", "m s**-1", "V component of wind", dims),
    ]
    assert grid.dimensions == {"month": 2, "level": 3, "latitude": 241, "longitude": 480}
    # latitude 90 → -90 and longitude -180 → 179.25, every 0.75°: a whole globe, no crossing
    assert grid.bbox == [-180.0, -90.0, 179.25, 90.0]
    # `month` (1, 7) has no units: climatological months, not times
    assert (grid.time_min, grid.time_max) == (None, None)
    # its only other global attribute is `Info`, which is not a CF one
    assert grid.attributes == {"Conventions": "CF-1.0"}


def test_describing_the_largest_sample_does_not_load_its_data(samples):
    describe_grid(samples / SFC)  # imports and backend registration out of the measure
    tracemalloc.start()
    try:
        describe_grid(samples / ERA)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # z, u and v decode to 3 × 2·3·241·480 float64 = 16.7 MB; the coordinates are 2.9 kB
    assert peak < 2_000_000


def test_a_netcdf4_file_is_read_through_h5netcdf_and_described_alike(samples, tmp_path):
    path = rewritten(samples, SFC, tmp_path, lambda ds: ds, engine="h5netcdf")
    assert path.read_bytes()[:4] == b"\x89HDF" and engine_for(path) == "h5netcdf"
    grid = describe_grid(path)
    assert grid.engine == "h5netcdf"
    assert grid.variables == [GridVariable("sp", "Pa", "Surface pressure", CAMS_DIMS)]
    assert grid.bbox == CAMS_BBOX and (grid.time_min, grid.time_max) == (CAMS_FIRST, CAMS_LAST)


def test_a_huge_unwritten_netcdf4_variable_is_never_read(tmp_path):
    path = tmp_path / "huge.nc"
    with h5netcdf.File(path, "w") as f:  # 5000 × 5000 float64 = 200 MB, no chunk written
        f.dimensions = {"lat": 5000, "lon": 5000}
        lat = f.create_variable("lat", ("lat",), "f8", data=np.linspace(40, 50, 5000))
        lat.attrs["units"] = "degrees_north"
        lon = f.create_variable("lon", ("lon",), "f8", data=np.linspace(-5, 10, 5000))
        lon.attrs["units"] = "degrees_east"
        f.create_variable("no2", ("lat", "lon"), "f8", chunks=(500, 500), compression="gzip")
    assert path.stat().st_size < 1_000_000
    describe_grid(path)  # warm-up
    tracemalloc.start()
    try:
        grid = describe_grid(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert grid.bbox == [-5.0, 40.0, 10.0, 50.0] and grid.dimensions == {"lat": 5000, "lon": 5000}
    assert peak < 10_000_000


# --- coordinates found by CF attributes; longitudes and times made WGS84 / UTC ------------------


def test_coordinates_are_found_by_cf_attributes_not_names(samples, tmp_path):
    renamed = rewritten(
        samples, SFC, tmp_path, lambda ds: ds.rename(latitude="y", longitude="x")
    )  # units degrees_north / degrees_east kept
    assert describe_grid(renamed).bbox == CAMS_BBOX

    def projected(ds: xr.Dataset) -> xr.Dataset:
        ds = ds.rename(latitude="y", longitude="x")
        ds["y"].attrs, ds["x"].attrs = {"units": "m"}, {"units": "m"}
        return ds

    assert describe_grid(rewritten(samples, SFC, tmp_path, projected)).bbox is None

    def bare(ds: xr.Dataset) -> xr.Dataset:
        ds = ds.rename(latitude="lat", longitude="lon")
        ds["lat"].attrs, ds["lon"].attrs = {}, {}
        return ds

    assert describe_grid(rewritten(samples, SFC, tmp_path, bare)).bbox == CAMS_BBOX


def test_a_grid_across_the_antimeridian_in_0_360_longitudes(samples, tmp_path):
    def pacific(ds: xr.Dataset) -> xr.Dataset:
        return ds.assign_coords(
            longitude=("longitude", [179.25, 180.0, 180.75], ds.longitude.attrs)
        )

    grid = describe_grid(rewritten(samples, SFC, tmp_path, pacific))
    assert grid.bbox == [179.25, 22.0, -179.25, 23.5]  # west > east: it crosses


def test_a_global_0_360_grid_becomes_minus_180_180(samples, tmp_path):
    def shifted(ds: xr.Dataset) -> xr.Dataset:
        return ds.assign_coords(longitude=ds.longitude % 360)  # 0 … 359.25

    grid = describe_grid(rewritten(samples, ERA, tmp_path, shifted))
    assert grid.bbox == [-180.0, -90.0, 179.25, 90.0]


@pytest.mark.parametrize(
    ("lons", "extent"),
    [
        ([27.0, 27.75, 28.5], (27.0, 28.5)),
        ([350.0, 355.0, 5.0, 10.0], (-10.0, 10.0)),  # 0..360 across Greenwich
        ([170.0, 175.0, 185.0, 190.0], (170.0, -170.0)),  # across the antimeridian
        ([0.0, 90.0, 180.0], (0.0, 180.0)),  # ends on 180°: no crossing
        ([-120.0], (-120.0, -120.0)),
    ],
)
def test_longitude_extent(lons, extent):
    assert longitude_extent(np.array(lons)) == extent


def test_time_units_with_an_offset_are_turned_into_utc(samples, tmp_path):
    def paris(ds: xr.Dataset) -> xr.Dataset:
        ds["time"].attrs["units"] = "hours since 1900-01-01 00:00:00 +01:00"
        return ds

    grid = describe_grid(rewritten(samples, SFC, tmp_path, paris))
    assert grid.time_min == datetime(2020, 6, 30, 23, 0, tzinfo=UTC)
    assert grid.time_max == datetime(2020, 7, 2, 20, 0, tzinfo=UTC)


def test_latitudes_that_are_not_degrees_are_refused(samples, tmp_path):
    def metres(ds: xr.Dataset) -> xr.Dataset:
        return ds.assign_coords(latitude=ds.latitude * 100_000)

    with pytest.raises(GridError, match=r"latitude 'latitude' reaches 2350000.0: not degrees"):
        describe_grid(rewritten(samples, SFC, tmp_path, metres))


# --- files that are not (whole) NetCDF ----------------------------------------------------------


@pytest.mark.parametrize("name", [SFC, ML, ERA])
def test_a_truncated_file_is_refused_with_a_clear_message(samples, tmp_path, name):
    data = (samples / name).read_bytes()
    half = tmp_path / Path(name).name
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(GridError) as caught:
        describe_grid(half)
    message = str(caught.value)
    assert message.startswith(f"{half.name}: truncated NetCDF file")
    assert f"than the {len(data) // 2} bytes the file holds" in message


def test_a_cut_header_is_refused(samples, tmp_path):
    cut = tmp_path / "cut.nc"
    cut.write_bytes((samples / SFC).read_bytes()[:200])
    with pytest.raises(GridError, match=r"cut.nc: truncated or corrupt NetCDF file \(200 bytes\)"):
        describe_grid(cut)


def test_a_truncated_netcdf4_file_is_refused(samples, tmp_path):
    path = rewritten(samples, SFC, tmp_path, lambda ds: ds, engine="h5netcdf")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(GridError, match="truncated"):
        describe_grid(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"time,value\n2020-07-01T00:00:00Z,1\n", "not a NetCDF file (it starts with b'time'"),
        (b"", "not a NetCDF file (it starts with b''"),
        (b"CDF\x05" + bytes(60), "CDF-5) files are not supported"),
    ],
    ids=["text", "empty", "cdf5"],
)
def test_a_file_that_is_not_netcdf_is_refused(tmp_path, content, words):
    path = tmp_path / "grid.nc"
    path.write_bytes(content)
    with pytest.raises(GridError) as caught:
        describe_grid(path)
    assert str(caught.value).startswith("grid.nc: ") and words in str(caught.value)


# --- storing a grid ----------------------------------------------------------------------------


def test_store_grid_copies_once_under_its_content_hash(samples, tmp_path):
    data_dir = tmp_path / "var"
    digest = hashlib.sha256((samples / SFC).read_bytes()).hexdigest()
    stored = store_grid(samples / SFC, data_dir, "cams-eac4-sahara-surface")
    assert stored == data_dir / "grids" / "cams-eac4-sahara-surface" / f"{digest[:16]}.nc"
    assert (
        digest == "a04ba32f7ea78591995517aa13508700aba6281354e000fc2a337e71033ad9e9"
    )  # SOURCES.md
    assert stored.read_bytes() == (samples / SFC).read_bytes()
    again = store_grid(samples / SFC, data_dir, "cams-eac4-sahara-surface")
    assert again == stored and [p.name for p in stored.parent.iterdir()] == [stored.name]
    other = store_grid(samples / ML, data_dir, "cams-eac4-sahara-surface")
    assert other != stored and other.name.startswith("f75f2ab5f88372a3")  # ML's SHA-256
    assert sorted(p.suffix for p in stored.parent.iterdir()) == [".nc", ".nc"]


def test_store_grid_refuses_an_id_that_is_not_a_folder_name(samples, tmp_path):
    for bad in ("../escape", "a/b", "", "Upper"):
        with pytest.raises(GridError, match="cannot name a folder"):
            store_grid(samples / SFC, tmp_path, bad)
    assert not (tmp_path / "grids").exists() and not (tmp_path.parent / "escape").exists()


def test_store_grid_leaves_nothing_behind_when_the_file_cannot_be_read(tmp_path):
    with pytest.raises(FileNotFoundError):
        store_grid(tmp_path / "missing.nc", tmp_path / "var", "some-grid")
    assert list((tmp_path / "var" / "grids" / "some-grid").iterdir()) == []


def test_a_stored_grid_describes_like_the_original(samples, tmp_path):
    stored = store_grid(samples / ML, tmp_path, "cams")
    assert describe_grid(stored) == describe_grid(samples / ML)


@pytest.mark.parametrize(
    ("calendar", "days", "first", "last"),
    [
        ("noleap", [0, 58, 59, 364], datetime(2001, 1, 1, tzinfo=UTC),
         datetime(2001, 12, 31, tzinfo=UTC)),
        # 30 February exists in a 360-day year only: left out, the rest of the range kept
        ("360_day", [0, 58, 59, 359], datetime(2001, 1, 1, tzinfo=UTC),
         datetime(2001, 12, 30, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_a_model_calendar_gives_its_time_range(tmp_path, calendar, days, first, last):
    """Climate models write noleap or 360-day times, which xarray decodes through cftime."""
    path = tmp_path / f"{calendar}.nc"
    time = xr.Variable(
        "time", np.array(days, dtype="f8"),
        {"units": "days since 2001-01-01", "calendar": calendar, "standard_name": "time"},
    )  # fmt: skip
    grid = xr.Dataset(
        {"tas": (("time", "lat", "lon"), np.full((len(days), 2, 2), 280.0, dtype="f4"))},
        coords={
            "time": time,
            "lat": ("lat", [43.5, 43.7], {"units": "degrees_north"}),
            "lon": ("lon", [3.8, 4.0], {"units": "degrees_east"}),
        },
    )
    grid.to_netcdf(path, engine="scipy")
    description = describe_grid(path)
    assert (description.time_min, description.time_max) == (first, last)


# --- files of other publishers, written here with the structure of real ones -----------------


def degrees(values: object, axis: str) -> tuple[tuple[str, ...], object, dict[str, str]]:
    units = "degrees_north" if axis == "lat" else "degrees_east"
    dims = ("y", "x") if np.ndim(values) == 2 else (axis,)
    return dims, values, {"units": units}


def test_a_polar_curvilinear_grid_circles_the_globe(tmp_path):
    # pydata/xarray-data rasm.nc (RASM model output): Tair(time, y, x) on 2-D `xc`/`yc` in
    # 0..360 around the pole, times in a noleap calendar. Before: a box crossing the
    # antimeridian that cut out the widest step between two cells.
    yc = np.linspace(16.53, 89.95, 20)[:, None] + np.zeros((1, 27))
    xc = np.linspace(0.0056, 359.99, 27)[None, :] + np.zeros((20, 1))
    days = {"units": "days since 0001-01-01", "calendar": "noleap"}
    ds = xr.Dataset(
        {"Tair": (("time", "y", "x"), np.zeros((2, 20, 27)), {"coordinates": "yc xc"})},
        coords={"time": ("time", [722815.5, 723881.5], days), "xc": degrees(xc, "lon"),
                "yc": degrees(yc, "lat")},
    )  # fmt: skip
    ds.to_netcdf(tmp_path / "rasm.nc", engine="scipy")
    grid = describe_grid(tmp_path / "rasm.nc")
    assert grid.bbox == [-180.0, 16.53, 180.0, 89.95]
    # 722815.5 noleap days: 1980 years and 115.5 days; 1066 days later, no 29 February 1984
    assert (grid.time_min, grid.time_max) == (
        datetime(1981, 4, 26, 12, tzinfo=UTC), datetime(1984, 3, 28, 12, tzinfo=UTC)
    )  # fmt: skip
    # a regional curvilinear grid (ROMS_example.nc's lon_rho) keeps its own box
    lon_rho = np.linspace(-95.8, -89.0, 27)[None, :] + np.zeros((20, 1))
    regional = ds.assign_coords(xc=(("y", "x"), lon_rho, {"units": "degree_east"}))
    regional.to_netcdf(tmp_path / "roms.nc", engine="scipy")
    assert describe_grid(tmp_path / "roms.nc").bbox == [-95.8, 16.53, -89.0, 89.95]


def test_model_calendar_days_missing_from_ours_stay_in_the_range(tmp_path):
    # CMIP6 HadGEM3 output is in a 360_day calendar: 30 February exists there. Before, such a
    # time was left out, and a file of February's last days had no time range at all.
    time = {"units": "days since 1850-01-01", "calendar": "360_day", "standard_name": "time"}
    start = 360 * 150 + 30  # 1 February 2000 in days since 1850-01-01, 360_day
    ds = xr.Dataset(
        {"tas": (("time", "lat"), np.zeros((2, 1)), {"units": "K"})},
        coords={"time": ("time", [start + 28.5, start + 29.5], time), "lat": degrees([0.0], "lat")},
    )
    ds.to_netcdf(tmp_path / "tas.nc", engine="h5netcdf")
    grid = describe_grid(tmp_path / "tas.nc")
    assert (grid.time_min, grid.time_max) == (
        datetime(2000, 2, 29, 12, tzinfo=UTC),
        datetime(2000, 2, 29, 12, tzinfo=UTC),
    )  # fmt: skip  (29 and 30 February 360_day: the month's last day, 29 February 2000)


def test_months_since_in_a_real_calendar_are_calendar_months(tmp_path):
    # IRI Data Library forecasts: F "months since 1960-01-01" from 452.5 to 619.5 (mid-month),
    # calendar "360"; NOAA monthly files count whole months in the standard calendar. xarray
    # refuses to decode both: before, the file was refused ("cannot decode its time").
    for calendar, values, first, last in (
        ("360", [452.5, 619.5], datetime(1997, 9, 16, tzinfo=UTC),
         datetime(2011, 8, 16, 12, tzinfo=UTC)),
        ("standard", [0.0, 11.0], datetime(2000, 1, 1, tzinfo=UTC),
         datetime(2000, 12, 1, tzinfo=UTC)),
    ):  # fmt: skip
        origin = "1960-01-01" if calendar == "360" else "2000-1-1"
        units = {"units": f"months since {origin}", "calendar": calendar}
        ds = xr.Dataset(
            {"prob": (("F", "Y"), np.zeros((2, 1)), {"units": "percent"})},
            coords={"F": ("F", values, units), "Y": ("Y", [10.0], {"units": "degree_north"})},
        )
        ds.to_netcdf(tmp_path / "f.nc", engine="scipy")
        grid = describe_grid(tmp_path / "f.nc")
        assert (grid.time_min, grid.time_max) == (first, last)


# --- projected grids: x/y in metres and a CF grid mapping, no latitude or longitude ------------

# NOAA HRRR CONUS, as cfgrib prints its GRIB2 grid: lambert, Nx 1799, Ny 1059, Dx = Dy 3000 m,
# LaD = Latin1 = Latin2 38.5, LoV 262.5, first point 21.138123 N 237.280472 E, a sphere of radius
# 6371229 m; the CF grid mapping Herbie users assign to it (Herbie discussion #45).
HRRR_MAPPING = {
    "grid_mapping_name": "lambert_conformal_conic",
    "standard_parallel": [38.5, 38.5],
    "latitude_of_projection_origin": 38.5,
    "longitude_of_central_meridian": 262.5,
    "earth_radius": 6371229.0,
}
# NSIDC sea ice polar stereographic north (EPSG:3411) as its CDR files write `crs`: 25 km
# cells, x -3850 … 3750 km, y 5850 … -5350 km (304 × 448 cells).
NSIDC_NORTH_MAPPING = {
    "grid_mapping_name": "polar_stereographic",
    "straight_vertical_longitude_from_pole": -45.0,
    "latitude_of_projection_origin": 90.0,
    "standard_parallel": 70.0,
    "false_easting": 0.0,
    "false_northing": 0.0,
    "semi_major_axis": 6378273.0,
    "semi_minor_axis": 6356889.449,
}


def projected_grid(
    path: Path,
    x: np.ndarray,
    y: np.ndarray,
    mapping: dict[str, object],
    units: str = "m",
    mapping_name: str = "crs",
) -> Path:
    """A CF file of one (y, x) variable on projected coordinates, with no latitude/longitude."""
    axis = {"units": units}
    ds = xr.Dataset(
        {"t2m": (("y", "x"), np.zeros((y.size, x.size), "f4"), {"grid_mapping": mapping_name})},
        coords={
            "x": ("x", x, {**axis, "standard_name": "projection_x_coordinate"}),
            "y": ("y", y, {**axis, "standard_name": "projection_y_coordinate"}),
            mapping_name: ((), 0, mapping),
        },
    )
    ds.to_netcdf(path, engine="h5netcdf", encoding={"t2m": {"zlib": True}})
    return path


def cells_in_wgs84(crs: pyproj.CRS, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Longitude and latitude of every cell centre, by pyproj, independently of the hub."""
    xx, yy = np.meshgrid(x, y)
    to_wgs84 = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return tuple(np.asarray(v) for v in to_wgs84.transform(xx, yy))


def test_an_hrrr_lambert_conformal_grid_gets_its_bulging_box(tmp_path):
    crs = pyproj.CRS.from_cf(HRRR_MAPPING)
    to_hrrr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x0, y0 = to_hrrr.transform(237.280472 - 360, 21.138123)
    x, y = x0 + 3000.0 * np.arange(1799), y0 + 3000.0 * np.arange(1059)
    grid = describe_grid(projected_grid(tmp_path / "hrrr.nc", x, y, HRRR_MAPPING))
    lons, lats = cells_in_wgs84(crs, x, y)
    expected = [lons.min(), lats.min(), lons.max(), lats.max()]
    assert grid.bbox == pytest.approx(expected, abs=1e-5)
    # the first grid point is the south-west corner; the north edge bulges above its corners
    assert grid.bbox[1] == pytest.approx(21.138123, abs=1e-6)
    west, south, east, north = grid.bbox
    assert (round(west, 2), round(east, 2), round(north, 2)) == (-134.1, -60.92, 52.62)
    assert north > max(lats[-1, 0], lats[-1, -1]) + 4  # corners: 47.84 N
    # the same grid in kilometres
    in_km = describe_grid(
        projected_grid(tmp_path / "km.nc", x / 1000, y / 1000, HRRR_MAPPING, "km")
    )
    assert in_km.bbox == pytest.approx(grid.bbox, abs=1e-6)


@pytest.mark.parametrize("attribute", ["crs_wkt", "spatial_ref"])
def test_a_lambert_93_grid_over_montpellier_from_its_wkt(tmp_path, attribute):
    # GDAL and rioxarray write the CRS as WKT alone, in `crs_wkt` and `spatial_ref`, on a
    # `spatial_ref` variable, y from north to south; 1 km cells round Montpellier.
    lambert_93 = pyproj.CRS.from_epsg(2154)
    x = 760_500.0 + 1000 * np.arange(20)
    y = 6_289_500.0 - 1000 * np.arange(20)
    mapping = {attribute: lambert_93.to_wkt()}
    path = projected_grid(tmp_path / "l93.nc", x, y, mapping, "metre", mapping_name="spatial_ref")
    grid = describe_grid(path)
    lons, lats = cells_in_wgs84(lambert_93, x, y)
    assert grid.bbox == pytest.approx([lons.min(), lats.min(), lons.max(), lats.max()], abs=1e-6)
    comedie = pyproj.Transformer.from_crs(2154, 4326, always_xy=True).transform(770_500, 6_279_500)
    assert comedie == pytest.approx((3.88, 43.61), abs=0.01)  # Place de la Comédie's cell
    west, south, east, north = grid.bbox
    assert west < comedie[0] < east and south < comedie[1] < north
    assert east - west == pytest.approx(0.25, abs=0.02)  # 20 km at 43.6 N


def test_a_polar_stereographic_grid_round_the_pole_spans_every_longitude(tmp_path):
    x = -3_837_500.0 + 25_000 * np.arange(304)
    y = 5_837_500.0 - 25_000 * np.arange(448)
    grid = describe_grid(projected_grid(tmp_path / "nsidc.nc", x, y, NSIDC_NORTH_MAPPING))
    _, lats = cells_in_wgs84(pyproj.CRS.from_cf(NSIDC_NORTH_MAPPING), x, y)
    assert grid.bbox is not None and grid.bbox[0::2] == [-180.0, 180.0]
    assert grid.bbox[3] == 90.0  # the pole is inside the grid, on none of its edges
    assert lats.max() < 89.9
    assert grid.bbox[1] == pytest.approx(lats.min(), abs=1e-5)  # 30.98 N, a corner


def test_a_utm_grid_across_the_antimeridian_crosses_it(tmp_path):
    # UTM zone 60 south (Fiji) as a CF transverse_mercator mapping: 180° is 320 km east of 177°
    mapping = {
        "grid_mapping_name": "transverse_mercator",
        "longitude_of_central_meridian": 177.0,
        "latitude_of_projection_origin": 0.0,
        "scale_factor_at_central_meridian": 0.9996,
        "false_easting": 500_000.0,
        "false_northing": 10_000_000.0,
        "semi_major_axis": 6378137.0,
        "inverse_flattening": 298.257223563,
    }
    x = 400_000.0 + 10_000 * np.arange(50)
    y = 7_900_000.0 + 10_000 * np.arange(30)
    grid = describe_grid(projected_grid(tmp_path / "fiji.nc", x, y, mapping))
    lons, lats = cells_in_wgs84(pyproj.CRS.from_cf(mapping), x, y)
    assert (lons > 0).any() and (lons < 0).any()
    expected = [lons[lons > 0].min(), lats.min(), lons[lons < 0].max(), lats.max()]
    assert grid.bbox == pytest.approx(expected, abs=1e-5)
    assert grid.bbox[0] > grid.bbox[2]  # west > east: it crosses, as longitude_extent says


@pytest.mark.parametrize(
    ("mapping", "units", "reason"),
    [
        ({"grid_mapping_name": "nonsense_projection"}, "m", "Unsupported grid mapping name"),
        (HRRR_MAPPING, "degrees", "'x' is in 'degrees', not a length"),
        (HRRR_MAPPING, "rad", "'x' is in 'rad' on a grid that is not geostationary"),
        ({"crs_wkt": "PROJCRS[broken"}, "m", "no bbox from grid mapping 'crs'"),
        ({"crs_wkt": pyproj.CRS.from_epsg(4326).to_wkt()}, "m", "is not a projected CRS"),
    ],
    ids=["unknown", "units", "angles", "broken-wkt", "geographic"],
)
def test_a_grid_mapping_that_cannot_be_used_gives_no_bbox_and_a_log_line(
    tmp_path, caplog, mapping, units, reason
):
    x, y = np.arange(3) * 1000.0, np.arange(2) * 1000.0
    with caplog.at_level("WARNING", logger="hub.grids"):
        grid = describe_grid(projected_grid(tmp_path / "odd.nc", x, y, mapping, units))
    assert grid.bbox is None and grid.variables[0].name == "t2m"  # still described
    assert "odd.nc: no bbox from grid mapping 'crs'" in caplog.text and reason in caplog.text


# --- geostationary satellites: x/y scanning angles, and a satellite subpoint that is no axis ----

# GOES-16 ABI L2 Cloud Top Height (netcdf4-python's test/20171025_2056.Cloud_Top_Height.nc):
# `goes_imager_projection`, x -0.0749 … 0.06482 rad and y 0.12642 … 0.0427 rad in 0.00028 steps
# (500 × 300), and the 0-dimensional data variables nominal_satellite_subpoint_lat/lon with
# standard_name latitude/longitude (0.0, -89.5).
GOES_MAPPING = {
    "long_name": "GOES-R ABI fixed grid projection",
    "grid_mapping_name": "geostationary",
    "perspective_point_height": 35786023.0,
    "semi_major_axis": 6378137.0,
    "semi_minor_axis": 6356752.31414,
    "inverse_flattening": 298.2572221,
    "latitude_of_projection_origin": 0.0,
    "longitude_of_projection_origin": -89.5,
    "sweep_angle_axis": "x",
}
GOES_X = np.linspace(-0.0749, 0.06482, 50)  # the file's span, in fewer cells
GOES_Y = np.linspace(0.12642, 0.0427, 30)


def goes_like(path: Path, mapping: dict[str, object] = GOES_MAPPING) -> Path:
    """A GOES-R ABI fixed-grid file: scanning angles, a grid mapping, a scalar subpoint."""
    ds = xr.Dataset(
        {
            "HT": (("y", "x"), np.zeros((30, 50), "f4"),
                   {"units": "m", "grid_mapping": "goes_imager_projection"}),
            "nominal_satellite_subpoint_lat": ((), np.float32(0.0),
                                               {"standard_name": "latitude",
                                                "units": "degrees_north"}),
            "nominal_satellite_subpoint_lon": ((), np.float32(-89.5),
                                               {"standard_name": "longitude",
                                                "units": "degrees_east"}),
            "goes_imager_projection": ((), np.int32(-2147483647), mapping),
        },
        coords={
            "x": ("x", GOES_X, {"units": "rad", "axis": "X",
                                "standard_name": "projection_x_coordinate"}),
            "y": ("y", GOES_Y, {"units": "rad", "axis": "Y",
                                "standard_name": "projection_y_coordinate"}),
        },
    )  # fmt: skip
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def test_a_geostationary_grid_gets_its_box_from_scanning_angles_not_its_subpoint(tmp_path):
    grid = describe_grid(goes_like(tmp_path / "goes.nc"))
    crs = pyproj.CRS.from_cf(GOES_MAPPING)
    height = GOES_MAPPING["perspective_point_height"]
    lons, lats = cells_in_wgs84(crs, GOES_X * height, GOES_Y * height)
    assert np.isfinite(lons).all() and np.isfinite(lats).all()  # every cell sees the Earth
    assert grid.bbox == pytest.approx([lons.min(), lats.min(), lons.max(), lats.max()], abs=1e-4)
    assert grid.bbox != [-89.5, 0.0, -89.5, 0.0]  # the satellite's subpoint is no extent
    # the file's own geospatial_lat_lon_extent, of cell edges: -140.62, 14.0, -49.18, 52.77
    assert [round(v, 1) for v in grid.bbox] == [-140.3, 14.0, -49.4, 52.7]  # of centres
    assert "nominal_satellite_subpoint_lat" in [v.name for v in grid.variables]


def test_a_scalar_latitude_and_longitude_are_no_axes_of_the_grid(tmp_path):
    mapping = {"grid_mapping_name": "unknown_to_proj"}  # no box through the mapping either
    grid = describe_grid(goes_like(tmp_path / "goes.nc", mapping))
    assert grid.bbox is None


# --- unwritten values and attributes xarray cannot parse ----------------------------------------


def test_netcdf_default_fill_values_are_not_coordinates(tmp_path):
    # NetCDF's default float fill (9.96921e36) stands where nothing was written and no _FillValue
    # is declared; netcdf4-python's CRM032_test1.nc holds nothing else in its latitude/longitude
    fill = np.float32(9.96921e36)
    lat = np.array([43.0, 43.5, fill, 44.0], "f4")
    lon = np.array([3.0, fill, 3.5, 4.0], "f4")
    ds = xr.Dataset(
        {"mslp": (("cell",), np.zeros(4, "f4"), {"units": "hPa"})},
        coords={
            "lat": ("cell", lat, {"units": "degrees_north"}),
            "lon": ("cell", lon, {"units": "degrees_east"}),
        },
    )
    no_fill = {name: {"_FillValue": None} for name in ("lat", "lon")}
    ds.to_netcdf(tmp_path / "some.nc", engine="scipy", encoding=no_fill)
    assert describe_grid(tmp_path / "some.nc").bbox == [3.0, 43.0, 4.0, 44.0]
    unwritten = ds.assign_coords(lat=ds.lat * 0 + fill, lon=ds.lon * 0 + fill)
    unwritten.to_netcdf(tmp_path / "none.nc", engine="scipy", encoding=no_fill)
    grid = describe_grid(tmp_path / "none.nc")  # before: "latitude 'lat' reaches 9.97e+36"
    assert grid.bbox is None and grid.variables[0].name == "mslp"


# ARPEGE's stretched grid in netcdf4-python's test/CRM032_test1.nc: its grid_mapping attribute is
# free text, neither a variable's name nor CF's `name: coordinates` pairs.
FREE_TEXT_MAPPING = (
    "rotated_stretched_latitude_longitude rotated_north_pole_latitude: 40. "
    "rotated_north_pole_longitude: 12. stretching_coefficient: 3"
)


def test_a_free_text_grid_mapping_is_read_and_named_in_the_notes(tmp_path, caplog):
    path = tmp_path / "arpege.nc"
    ds = xr.Dataset(
        {"MSLP": (("time", "rgrid"), np.zeros((1, 4), "f4"),
                  {"units": "hPa", "grid_mapping": FREE_TEXT_MAPPING})},
        coords={
            "time": ("time", [0], {"units": "days since 1961-01-01"}),
            "latitude": ("rgrid", [30.0, 40.0, 50.0, 60.0], {"units": "degrees_north"}),
            "longitude": ("rgrid", [-10.0, 0.0, 10.0, 20.0], {"units": "degrees_east"}),
        },
    )  # fmt: skip
    ds.to_netcdf(path, engine="scipy")
    with pytest.raises(ValueError, match="cannot decode 'grid_mapping'"):
        xr.open_dataset(path, engine="scipy", decode_coords="all")  # what the hub met
    with caplog.at_level("WARNING", logger="hub.grids"):
        grid = describe_grid(path)
    assert grid.bbox == [-10.0, 30.0, 20.0, 60.0]
    assert grid.time_min == datetime(1961, 1, 1, tzinfo=UTC)
    assert [v.name for v in grid.variables] == ["MSLP"]
    (note,) = grid.notes
    assert note.startswith(
        "the grid_mapping attribute of MSLP could not be read "
        "('rotated_stretched_latitude_longitude rotated_north_pole_latitude: 40. "
    )
    assert "names no variable, nor 'variable: coordinates' pairs" in note
    assert "arpege.nc: the grid_mapping attribute of MSLP could not be read" in caplog.text
    assert "corrupt" not in caplog.text
