"""HEAD wherever GET answers (hub.api.heads): the same status and headers, no body; a streamed
download not read for nothing; a HEAD of non-open data checked and logged as a GET is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api.support import Published, client_for
from api.test_api_grids import CAMS, SFC, publish_grid
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import reading
from hub.models import AccessEvent

AIR = "/api/v1/datasets/atmo-demo-air"
URLS = (
    f"{AIR}/records?format=csv",
    f"{AIR}/records?format=geojson&limit=5",
    f"{AIR}/datapackage.zip",
    f"{AIR}/dcat.ttl",
    AIR,
    "/api/v1/datasets/cams-sfc/grid?format=netcdf",
    "/api/v1/datasets/cams-sfc/grid",
    "/catalog.jsonld",
    "/datasets/atmo-demo-air",
    "/api/3/action/package_list",
    "/api/3/action/package_show?id=atmo-demo-air",
    "/api/v1/datasets/no-such-dataset/records",  # a 404 stays a 404
)
# Differ between two answers to the same request whatever the method.
VOLATILE = {"date", "content-security-policy", "set-cookie"}


@pytest.fixture
def client(engine: Engine, published: Published, samples: Path) -> Iterator[TestClient]:
    """The published catalogue and a grid."""
    publish_grid("cams-sfc", samples / SFC, CAMS, "air-quality", "copernicus-cams")
    with client_for(engine) as client:
        yield client


def comparable(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in VOLATILE}


@pytest.mark.parametrize("url", URLS)
def test_a_head_is_the_get_without_its_body(client: TestClient, url: str) -> None:
    got, head = client.get(url), client.head(url)
    assert head.status_code == got.status_code
    assert comparable(head.headers) == comparable(got.headers)
    assert head.content == b""


def test_a_head_of_a_post_only_route_is_refused_as_its_get(client: TestClient) -> None:
    url = "/api/v1/crises/some-crisis/close"
    got, head = client.get(url), client.head(url)
    assert head.status_code == got.status_code == 405
    assert head.headers["Allow"] == got.headers["Allow"] and head.content == b""


def test_a_head_of_a_streamed_download_reads_only_its_first_page(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = []
    query = reading._query

    def counted(*args, **kwargs):
        pages.append(1)
        return query(*args, **kwargs)

    monkeypatch.setattr(reading, "STREAM_PAGE", 3)
    monkeypatch.setattr(reading, "_query", counted)
    whole = client.get(f"{AIR}/records?format=csv")
    assert whole.status_code == 200 and len(pages) > 10
    pages.clear()
    head = client.head(f"{AIR}/records?format=csv")
    assert head.status_code == 200 and head.content == b""
    # the first page is read before the head is sent (a refusal or a 400 must come first);
    # the stream is stopped right after, at most a page on
    assert 1 <= len(pages) <= 2


def test_a_head_of_non_open_records_is_checked_and_logged_as_a_head(
    client: TestClient, engine: Engine, published: Published
) -> None:
    url = f"/api/v1/datasets/{published.closed['restricted']}/records"
    assert client.head(url).status_code == client.get(url).status_code == 401
    with Session(engine) as session:
        routes = session.exec(
            select(AccessEvent.route, AccessEvent.outcome)
            .where(AccessEvent.dataset_id == published.closed["restricted"])
            .order_by(AccessEvent.id.desc())
        ).all()
    assert routes[:2] == [(f"GET {url}", "denied"), (f"HEAD {url}", "denied")]
