"""What the hub says of the grid files it serves: a size in CKAN and DCAT only beside a URL that
serves the file it measures (/grid serves a re-encoded NetCDF-4 of another size), and in the
NetCDF itself no missing-value attribute on coordinates and a history saying what it did."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import xarray as xr
from api.support import client_for
from api.test_api_grids import CAMS, SFC, publish_grid
from fastapi.testclient import TestClient
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT
from sqlalchemy import Engine

from hub import __version__
from hub.config import get_settings

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


def test_dcat_downloads_a_grid_where_ckan_does_and_says_no_size(client: TestClient) -> None:
    """Wherever the grid was harvested from, its download is the hub's NetCDF: the URL of its
    CKAN resource, which answers NetCDF (its description, at the access URL, is JSON)."""
    for dataset_id in (LOCAL, REMOTE):
        graph, node = distribution(client, dataset_id)
        resource = ckan_resource(client, dataset_id)
        assert str(graph.value(node, DCAT.downloadURL)) == resource["url"]
        assert resource["url"].endswith(f"/api/v1/datasets/{dataset_id}/grid?format=netcdf")
        assert resource["mimetype"] == "application/x-netcdf" and resource["format"] == "NetCDF"
        assert client.get(resource["url"]).headers["content-type"] == resource["mimetype"]
        access = str(graph.value(node, DCAT.accessURL))
        assert client.get(access).headers["content-type"] == "application/json"
        assert graph.value(node, DCAT.byteSize) is None


def test_a_grid_too_large_for_one_answer_has_no_download(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past HUB_GRID_MAX_CELLS `?format=netcdf` is a 400: neither CKAN nor DCAT offers it; both
    point at the description, which says how to cut the grid."""
    monkeypatch.setenv("HUB_GRID_MAX_CELLS", "10")
    get_settings.cache_clear()
    graph, node = distribution(client, LOCAL)
    assert graph.value(node, DCAT.downloadURL) is None
    resource = ckan_resource(client, LOCAL)
    assert resource["url"] == str(graph.value(node, DCAT.accessURL))
    assert resource["format"] == "JSON" and resource["mimetype"] == "application/json"
    assert client.get(resource["url"]).headers["content-type"] == "application/json"
    assert client.get(f"{resource['url']}?format=netcdf").status_code == 400


def ckan_resource(client: TestClient, dataset_id: str) -> dict[str, Any]:
    package = client.get(f"/api/3/action/package_show?id={dataset_id}").json()["result"]
    (resource,) = package["resources"]
    return resource


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
