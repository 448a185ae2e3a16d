"""The `netcdf` reader: the real CAMS and ERA-Interim samples into grid batches, through the
bundled source files and charters; zipped grids; files that are not NetCDF.

Expected values were read once from the samples with xarray 2026.9 (`xr.open_dataset(path,
engine="scipy")`: dimensions, coordinates, variable attributes) and agree with SOURCES.md.
"""

from __future__ import annotations

import hashlib
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import xarray as xr
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import catalogue
from hub.batches import GridBatch, GridVariable, Publisher
from hub.charters import check_publication, load_charter
from hub.models import Resource, as_utc
from pipelines.flows import harvest_source
from pipelines.readers import Fetched, ReaderError, check_options, reader_for
from pipelines.sources import Operator, Source, load_source

BUNDLED = Path(__file__).parents[2] / "pipelines" / "sources"
SFC = "grids/cams_eac4_97da7a58_levtype_sfc.nc"
ML = "grids/cams_eac4_97da7a58_levtype_ml.nc"
ERA = "grids/xarray-data_eraint_uvz.nc"
CAMS = Publisher("copernicus-cams", "Copernicus Atmosphere Monitoring Service", "public")
CAMS_BBOX = [27.0, 22.0, 28.5, 23.5]  # latitude 23.5 … 22.0, longitude 27.0 … 28.5
# time 1056264 … 1056309 "hours since 1900-01-01 00:00:00.0", every 3 hours
CAMS_TIMES = (datetime(2020, 7, 1, 0, tzinfo=UTC), datetime(2020, 7, 2, 21, tzinfo=UTC))
ON = date(2026, 11, 22)


def grid_source(**options: Any) -> Source:
    return Source(
        id="test-grid", title="Test grid", operator=Operator("copernicus-cams", "CAMS"),
        theme="air-quality", format="netcdf", url="file:x.nc", schema="",
        charter="copernicus-cams", options=options,
    )  # fmt: skip


def read_grid(source: Source, fetched: Fetched) -> GridBatch:
    """Read a grid source as the harvest does: its reader, after checking its options."""
    reader = reader_for(source)
    assert (reader.name, reader.kind) == ("netcdf", "grids")
    check_options(source, reader)
    batch = reader.read(source, fetched)
    assert isinstance(batch, GridBatch)
    return batch


def bundled(name: str, samples: Path, sample: str) -> tuple[Source, GridBatch]:
    """A bundled grid source, checked to name `sample`, read from the shared samples."""
    source = load_source(BUNDLED / name)
    assert source.url == f"file://{{samples}}/{sample}"
    return source, read_grid(source, Fetched(samples / sample))


# --- the bundled sources on the real samples ------------------------------------------------


def test_cams_surface_source(samples):
    source, batch = bundled("cams-eac4-sahara-surface.yaml", samples, SFC)
    assert (batch.dataset_id, batch.source_id) == ("cams-eac4-sahara-surface",) * 2
    assert batch.title == "Surface pressure, eastern Sahara, 1-2 July 2020 (CAMS EAC4 reanalysis)"
    assert (batch.publisher, batch.theme, batch.charter) == (CAMS, "air-quality", "copernicus-cams")
    assert batch.path == samples / SFC
    assert batch.variables == [
        GridVariable("sp", "Pa", "Surface pressure", ("time", "latitude", "longitude"))
    ]
    assert batch.dimensions == {"time": 16, "latitude": 3, "longitude": 3}
    assert batch.bbox == CAMS_BBOX and (batch.time_min, batch.time_max) == CAMS_TIMES
    assert batch.attributes["Conventions"] == "CF-1.6"
    assert batch.attributes["history"].startswith("2023-06-21 13:01:07 GMT by grib_to_netcdf")
    # the file has no title attribute: the description is the source's own
    assert batch.description == source.description and "eastern Sahara" in batch.description
    assert batch.keywords == ["air-quality"]  # the theme, not the reader's name
    assert batch.source_url == "file://{samples}/grids/cams_eac4_97da7a58_levtype_sfc.nc"


def test_cams_model_level_source(samples):
    _, batch = bundled("cams-eac4-sahara-model-levels.yaml", samples, ML)
    assert batch.dataset_id == "cams-eac4-sahara-model-levels" and batch.publisher == CAMS
    assert [(v.name, v.units) for v in batch.variables] == [
        ("go3", "kg kg**-1"),
        ("q", "kg kg**-1"),
        ("t", "K"),
    ]
    assert batch.variables[0].long_name == "Ozone mass mixing ratio (full chemistry scheme)"
    assert {v.dimensions for v in batch.variables} == {("time", "level", "latitude", "longitude")}
    assert batch.dimensions == {"time": 16, "level": 60, "latitude": 3, "longitude": 3}
    assert batch.bbox == CAMS_BBOX and (batch.time_min, batch.time_max) == CAMS_TIMES


def test_era_interim_source(samples):
    _, batch = bundled("era-interim-winds-climatology.yaml", samples, ERA)
    assert batch.publisher == Publisher(
        "ecmwf", "European Centre for Medium-Range Weather Forecasts", "public"
    )
    assert (batch.theme, batch.charter) == ("energy", "ecmwf-era-interim")
    assert [(v.name, v.units, v.long_name) for v in batch.variables] == [
        ("z", "m**2 s**-2", "Geopotential"),
        ("u", "m s**-1", "U component of wind"),
        ("v", "m s**-1", "V component of wind"),
    ]
    assert batch.dimensions == {"month": 2, "level": 3, "latitude": 241, "longitude": 480}
    assert batch.bbox == [-180.0, -90.0, 179.25, 90.0]  # 0.75° global grid, cell centres
    assert (batch.time_min, batch.time_max) == (None, None)  # months 1 and 7, no dates
    assert batch.attributes == {"Conventions": "CF-1.0"}


@pytest.mark.parametrize(
    ("name", "mention"),
    [
        ("cams-eac4-sahara-surface.yaml", "Copernicus Atmosphere Monitoring Service"),
        ("cams-eac4-sahara-model-levels.yaml", "Copernicus Atmosphere Monitoring Service"),
        ("era-interim-winds-climatology.yaml", "ERA-Interim reanalysis data (ECMWF)"),
    ],
)
def test_the_bundled_grid_charters_let_their_producers_publish(name, mention):
    source = load_source(BUNDLED / name)
    charter = load_charter(source.charter, ON)
    check_publication(
        charter, producer=source.operator.id, theme=source.theme, schema=source.schema, on=ON
    )
    assert (charter.access, charter.licence["id"]) == ("open", "custom")
    assert charter.mandatory_mention and mention in charter.mandatory_mention


def test_a_file_title_is_added_to_the_description(samples, tmp_path):
    titled = tmp_path / "titled.nc"
    with xr.open_dataset(samples / SFC, engine="scipy", decode_times=False) as ds:
        ds.load().assign_attrs(title="CAMS EAC4 surface pressure").to_netcdf(titled)
    source = grid_source()
    source.description = "Surface pressure over the eastern Sahara."
    batch = read_grid(source, Fetched(titled))
    assert batch.attributes["title"] == "CAMS EAC4 surface pressure"
    assert batch.description == (
        "Surface pressure over the eastern Sahara.\n\nFile title: CAMS EAC4 surface pressure"
    )


def test_a_free_text_grid_mapping_is_read_and_said_in_the_description(tmp_path):
    # ARPEGE's stretched grid in netcdf4-python's test/CRM032_test1.nc names no variable in its
    # grid_mapping: xarray cannot parse it, and the file was refused as "truncated or corrupt"
    mapping = (
        "rotated_stretched_latitude_longitude rotated_north_pole_latitude: 40. "
        "rotated_north_pole_longitude: 12. stretching_coefficient: 3"
    )
    path = tmp_path / "arpege.nc"
    xr.Dataset(
        {"MSLP": ("rgrid", [1013.0, 1009.0, 1021.0], {"units": "hPa", "grid_mapping": mapping})},
        coords={
            "latitude": ("rgrid", [35.0, 45.0, 55.0], {"units": "degrees_north"}),
            "longitude": ("rgrid", [-5.0, 5.0, 15.0], {"units": "degrees_east"}),
        },
        attrs={"source": "ARPEGE"},
    ).to_netcdf(path, engine="scipy")
    source = grid_source()
    source.description = "Mean sea-level pressure."
    batch = read_grid(source, Fetched(path))
    assert batch.bbox == [-5.0, 35.0, 15.0, 55.0]
    assert [(v.name, v.units) for v in batch.variables] == [("MSLP", "hPa")]
    assert batch.description == (
        "Mean sea-level pressure.\n\nNot read from the file: the grid_mapping attribute of MSLP "
        f"could not be read ('{mapping}' names no variable, nor 'variable: coordinates' "
        "pairs): the file's grid mappings, bounds and cell measures were left undecoded."
    )


# --- zipped grids --------------------------------------------------------------------------


def zipped(folder: Path, members: dict[str, bytes]) -> Fetched:
    """A real zip of `members`, extracted as fetch hands it to a reader."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "grids.zip"
    with zipfile.ZipFile(archive, "w") as opened:
        for name, data in members.items():
            opened.writestr(name, data)
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder / "x")
    return Fetched(archive, members={name: folder / "x" / name for name in members})


def test_the_one_nc_member_of_an_archive_is_read(samples, tmp_path):
    fetched = zipped(
        tmp_path,
        {
            "README.txt": b"CAMS EAC4 request 97da7a58",
            "__MACOSX/data/._levtype_sfc.nc": b"\x00\x05\x16\x07",
            "data/levtype_sfc.nc": (samples / SFC).read_bytes(),
        },
    )
    batch = read_grid(grid_source(), fetched)
    assert batch.path == tmp_path / "x" / "data" / "levtype_sfc.nc"
    assert batch.variables[0].name == "sp" and batch.bbox == CAMS_BBOX


def test_options_member_chooses_among_several_grids(samples, tmp_path):
    members = {"sfc.nc": (samples / SFC).read_bytes(), "ml.nc": (samples / ML).read_bytes()}
    fetched = zipped(tmp_path, members)
    with pytest.raises(
        ReaderError, match=r"several NetCDF files \(ml.nc, sfc.nc\).*options.member"
    ):
        read_grid(grid_source(), fetched)
    batch = read_grid(grid_source(member="ML.nc"), fetched)  # matched case-insensitively
    assert [v.name for v in batch.variables] == ["go3", "q", "t"]
    with pytest.raises(ReaderError, match=r"the archive has no 'other.nc' \(it holds: ml.nc"):
        read_grid(grid_source(member="other.nc"), fetched)


def test_an_archive_without_a_grid_is_refused(tmp_path):
    fetched = zipped(tmp_path, {"readme.txt": b"nothing here", "data.csv": b"a,b\n"})
    with pytest.raises(ReaderError, match=r"holds no .nc file \(it holds: data.csv, readme.txt\)"):
        read_grid(grid_source(), fetched)


def test_unknown_options_are_refused():
    with pytest.raises(ReaderError, match=r"unknown option\(s\) variables .*member"):
        check_options(grid_source(variables=["sp"]), reader_for(grid_source()))


# --- files that are not (whole) NetCDF --------------------------------------------------------


def test_a_text_file_named_nc_is_a_reader_error(tmp_path):
    path = tmp_path / "grid.nc"
    path.write_text("lat,lon,sp\n23.5,27.0,95000\n", encoding="utf-8")
    with pytest.raises(ReaderError) as caught:
        read_grid(grid_source(), Fetched(path))
    assert str(caught.value).startswith("source 'test-grid': grid.nc: not a NetCDF file")


@pytest.mark.parametrize("sample", [SFC, ML, ERA])
def test_a_truncated_grid_is_a_reader_error(samples, tmp_path, sample):
    data = (samples / sample).read_bytes()
    half = tmp_path / "half.nc"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReaderError, match=r"^source 'test-grid': half.nc: truncated NetCDF file"):
        read_grid(grid_source(), Fetched(half))


# --- end to end ---------------------------------------------------------------------------


def test_harvesting_the_cams_source_registers_a_grid_resource(engine: Engine, samples, hub_env):
    source = load_source(BUNDLED / "cams-eac4-sahara-model-levels.yaml")
    outcome = harvest_source(source)
    assert outcome.status == "succeeded", outcome.message
    assert (outcome.read, outcome.published) == (1, 1)  # one grid file
    digest = hashlib.sha256((samples / ML).read_bytes()).hexdigest()
    assert digest.startswith("f75f2ab5f88372a3")  # SOURCES.md
    stored = hub_env / "grids" / source.id / f"{digest[:16]}.nc"
    assert stored.read_bytes() == (samples / ML).read_bytes()
    with Session(engine) as session:
        dataset = catalogue.get(session, source.id)
        assert (dataset.organization_id, dataset.charter_id) == ("copernicus-cams", source.charter)
        assert dataset.bbox == CAMS_BBOX
        assert (as_utc(dataset.time_min), as_utc(dataset.time_max)) == CAMS_TIMES
        grid = session.exec(
            select(Resource).where(Resource.dataset_id == source.id, Resource.kind == "grid")
        ).one()
        assert grid.format == "NetCDF" and grid.details is not None
        assert grid.details["file"] == stored.name
        assert [(v["name"], v["units"]) for v in grid.details["variables"]] == [
            ("go3", "kg kg**-1"),
            ("q", "kg kg**-1"),
            ("t", "K"),
        ]
        assert grid.details["dimensions"] == {
            "time": 16,
            "level": 60,
            "latitude": 3,
            "longitude": 3,
        }
    again = harvest_source(source)  # the same file: kept, not published again
    assert (again.status, again.published, again.skipped) == ("succeeded", 0, 1)
    assert [p.name for p in stored.parent.iterdir()] == [stored.name]
