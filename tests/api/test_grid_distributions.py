"""A grid's size in CKAN and DCAT: declared only beside a URL that serves the file it measures
(the hub's /grid serves a re-encoded NetCDF-4 of another size)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api.support import client_for
from api.test_api_grids import CAMS, SFC, publish_grid
from fastapi.testclient import TestClient
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT
from sqlalchemy import Engine

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
