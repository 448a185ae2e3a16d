"""What the hub says of the grid files it serves: a size in CKAN and DCAT only beside a URL that
serves the file it measures (/grid serves a re-encoded NetCDF-4 of another size), and in the
NetCDF itself no missing-value attribute on coordinates and a history saying what it did."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import xarray as xr
from api.support import client_for
from api.test_api_grids import CAMS, SFC, publish_grid
from fastapi.testclient import TestClient
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT
from sqlalchemy import Engine

from hub import __version__

LOCAL, REMOTE = "cams-local", "cams-remote"


@pytest.fixture
def client(engine: Engine, samples: Path) -> Iterator[TestClient]:
    """The same grid harvested from a local file (as the demo does) and from a web URL."""
    path = samples / SFC
    publish_grid(LOCAL, path, CAMS, "air-quality", "copernicus-cams", f"file://{path}")
    publish_grid(REMOTE, path, CAMS, "air-quality", "copernicus-cams", "https://example.org/s.nc")
    with client_for(engine) as client:
        yield client


def distribution(client: TestClient, dataset_id: str) -> tuple[Graph, URIRef]:
    graph = Graph().parse(data=client.get(f"/api/v1/datasets/{dataset_id}/dcat.ttl").text)
    (node,) = graph.subjects(DCAT.accessURL, None)
    return graph, node


def test_a_grid_resource_declares_no_size_its_url_does_not_serve(
    client: TestClient, samples: Path
) -> None:
    resource = client.get(f"/api/3/action/package_show?id={LOCAL}").json()["result"]["resources"][0]
    served = client.get(resource["url"])
    assert served.status_code == 200 and len(served.content) != (samples / SFC).stat().st_size
    assert resource["size"] is None


def test_dcat_says_a_grid_size_only_beside_the_file_it_measures(
    client: TestClient, samples: Path
) -> None:
    graph, local = distribution(client, LOCAL)
    assert graph.value(local, DCAT.downloadURL) is None  # the /grid access URL only
    assert graph.value(local, DCAT.byteSize) is None
    graph, remote = distribution(client, REMOTE)
    assert graph.value(remote, DCAT.downloadURL) == URIRef("https://example.org/s.nc")
    assert graph.value(remote, DCAT.byteSize).toPython() == (samples / SFC).stat().st_size


def test_a_netcdf_subset_has_coordinates_without_fill_and_says_what_was_done(
    client: TestClient, samples: Path
) -> None:
    url = f"/api/v1/datasets/{LOCAL}/grid?bbox=27,22,28,23&format=netcdf"
    answer = client.get(url)
    assert answer.status_code == 200
    raw = xr.load_dataset(io.BytesIO(answer.content), engine="h5netcdf", mask_and_scale=False)
    assert raw.coords and all("_FillValue" not in raw[name].attrs for name in raw.coords)
    assert any("_FillValue" in var.attrs for var in raw.data_vars.values())  # values may miss
    source = xr.open_dataset(samples / SFC, engine="scipy").attrs["history"]
    *kept, done = raw.attrs["history"].split("\n")
    assert "\n".join(kept) == source.rstrip("\n")
    assert f": territorial data hub {__version__}, {url} (subset" in done
