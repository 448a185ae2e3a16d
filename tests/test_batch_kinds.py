"""The gate's other batch kinds: a grid (a stored NetCDF file) and a portal's listing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from hub.app import create_app
from hub.batches import FileResource, GridBatch, GridVariable, MetadataBatch, PortalDataset
from hub.catalogue import PublishRefused, publish
from hub.config import get_settings
from hub.models import Dataset, Event, HarvestRun, Resource

USGS = "usgs-public-domain"  # an open charter of producer usgs, theme risk
ERA = "grids/xarray-data_eraint_uvz.nc"


def publisher():
    from hub.batches import Publisher

    return Publisher(id="usgs", name="U.S. Geological Survey")


def grid_batch(path: Path, **changes: object) -> GridBatch:
    fields = dict(
        dataset_id="winds",
        title="Winds",
        publisher=publisher(),
        theme="risk",
        charter=USGS,
        source_id="winds",
        source_url="https://example.org/winds.nc",
        path=path,
        variables=[GridVariable("u", "m s**-1", "U component of wind", ("month", "level"))],
        dimensions={"month": 2, "level": 3, "latitude": 241, "longitude": 480},
        bbox=[-180.0, -90.0, 179.25, 90.0],
        time_min=datetime(2000, 1, 1, tzinfo=UTC),
        time_max=datetime(2000, 7, 1, tzinfo=UTC),
    )
    fields.update(changes)
    return GridBatch(**fields)  # type: ignore[arg-type]


def listing(*entries: PortalDataset, complete: bool = True) -> MetadataBatch:
    return MetadataBatch(
        dataset_id="portal",
        title="A portal",
        publisher=publisher(),
        theme="risk",
        charter=USGS,
        source_id="portal",
        source_url="https://portal.example.org",
        datasets=list(entries),
        complete=complete,
    )


def entry(name: str, *files: str, title: str = "") -> PortalDataset:
    return PortalDataset(
        id=f"portal--{name}",
        title=title or name.title(),
        description=f"About {name}.",
        keywords=["flood"],
        landing_page=f"https://portal.example.org/dataset/{name}",
        resources=[FileResource(name=f, url=f"https://portal.example.org/{f}", format="CSV")
                   for f in files],
    )  # fmt: skip


@pytest.fixture
def client(engine) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


def test_a_grid_is_stored_once_and_registered_with_what_it_holds(engine, samples: Path) -> None:
    run = publish(grid_batch(samples / ERA))
    assert (run.status, run.rows_published, run.rows_skipped) == ("succeeded", 1, 0)
    again = publish(grid_batch(samples / ERA))
    assert (again.status, again.rows_published, again.rows_skipped) == ("succeeded", 0, 1)
    with Session(engine) as session:
        dataset = session.get(Dataset, "winds")
        (resource,) = session.exec(select(Resource).where(Resource.dataset_id == "winds")).all()
    assert dataset is not None and dataset.bbox == [-180.0, -90.0, 179.25, 90.0]
    assert dataset.schema_name == "" and dataset.access == "open"
    assert resource.kind == "grid" and resource.table_name is None
    details = resource.details or {}
    assert details["variables"][0]["name"] == "u" and details["dimensions"]["longitude"] == 480
    stored = get_settings().data_dir / "grids" / "winds" / details["file"]
    assert stored.read_bytes() == (samples / ERA).read_bytes()
    assert details["time_min"].startswith("2000-01-01")


def test_a_grid_under_a_personal_or_foreign_charter_is_refused(engine, samples: Path) -> None:
    with pytest.raises(PublishRefused, match="personal data, which only record batches"):
        publish(grid_batch(samples / ERA, charter="grid-demo-load-curves",
                           publisher=_grid_demo(), theme="energy"))  # fmt: skip
    with pytest.raises(PublishRefused, match="belongs to producer 'usgs'"):
        publish(grid_batch(samples / ERA, publisher=_grid_demo()))
    with Session(engine) as session:
        assert session.exec(select(Resource)).all() == []
        statuses = session.exec(select(HarvestRun.status)).all()
    assert statuses == ["refused", "refused"]
    assert not (get_settings().data_dir / "grids" / "winds").exists()


def _grid_demo():
    from hub.batches import Publisher

    return Publisher(id="grid-demo", name="Grid demo")


def test_a_listing_registers_datasets_with_their_files(engine) -> None:
    run = publish(listing(entry("rivers", "a.csv", "b.csv"), entry("dams", "c.csv")))
    assert (run.rows_read, run.rows_published, run.rows_updated) == (2, 2, 0)
    with Session(engine) as session:
        files = session.exec(
            select(Resource).where(Resource.dataset_id == "portal--rivers").order_by(
                col(Resource.position))
        ).all()  # fmt: skip
        dataset = session.get(Dataset, "portal--rivers")
    assert [(r.kind, r.name, r.url) for r in files] == [
        ("file", "a.csv", "https://portal.example.org/a.csv"),
        ("file", "b.csv", "https://portal.example.org/b.csv"),
    ]
    assert dataset is not None and dataset.source_url.endswith("/dataset/rivers")
    assert dataset.licence_id and dataset.charter_id == USGS


def test_a_listing_again_updates_what_changed_and_withdraws_what_is_gone(engine) -> None:
    publish(listing(entry("rivers", "a.csv", "b.csv"), entry("dams", "c.csv")))
    run = publish(listing(entry("rivers", "a.csv")))  # b.csv and the dams are gone
    assert (run.rows_published, run.rows_updated, run.rows_skipped) == (0, 1, 0)
    with Session(engine) as session:
        assert session.get(Dataset, "portal--dams") is None
        names = session.exec(select(Resource.name).where(Resource.dataset_id == "portal--rivers"))
        assert list(names) == ["a.csv"]
        assert session.exec(select(Event).where(Event.dataset_id == "portal")).all()
    unchanged = publish(listing(entry("rivers", "a.csv"), complete=False))
    assert (unchanged.rows_updated, unchanged.rows_skipped) == (0, 1)


def test_an_increment_withdraws_nothing(engine) -> None:
    publish(listing(entry("rivers", "a.csv"), entry("dams", "c.csv")))
    publish(listing(entry("lakes", "d.csv"), complete=False))
    with Session(engine) as session:
        ids = session.exec(select(Dataset.id).order_by(col(Dataset.id))).all()
    assert ids == ["portal--dams", "portal--lakes", "portal--rivers"]


def test_datasets_without_records_read_well_through_every_api(
    engine, samples: Path, client: TestClient
) -> None:
    publish(grid_batch(samples / ERA))
    publish(listing(entry("rivers", "a.csv")))
    for dataset_id in ("winds", "portal--rivers"):
        assert client.get(f"/api/v1/datasets/{dataset_id}").status_code == 200
        records = client.get(f"/api/v1/datasets/{dataset_id}/records")
        assert records.status_code == 404, records.text
        shown = client.get("/api/3/action/package_show", params={"id": dataset_id}).json()
        assert shown["success"] is True
        assert client.get(f"/datasets/{dataset_id}").status_code == 200
    package = client.get("/api/3/action/package_show", params={"id": "portal--rivers"}).json()
    assert [r["url"] for r in package["result"]["resources"]] == [
        "https://portal.example.org/a.csv"
    ]
