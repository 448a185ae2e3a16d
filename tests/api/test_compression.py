"""gzip for the clients that ask (hub.api.compression): the catalogue, CKAN's search, the REST
listing and streamed downloads shrink; small answers, zip packages, NetCDF and HTML pages are
sent as they are, and a HEAD says what its GET sends."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest
from api.test_api_grids import CAMS, SFC, publish_grid

GZIP = {"Accept-Encoding": "gzip"}
PLAIN = {"Accept-Encoding": "identity"}
COMPRESSED = [
    "/catalog.ttl",
    "/catalog.jsonld",
    "/api/3/action/package_search?rows=1000",
    "/api/v1/datasets?limit=100",
    "/api/v1/datasets/atmo-demo-air/records?format=csv",  # streamed, chunk by chunk
]


def fetched(client, url: str, headers: dict[str, str]):
    """The answer and the bytes on the wire (httpx would decompress them)."""
    with client.stream("GET", url, headers=headers) as answer:
        return answer, b"".join(answer.iter_raw())


def _vary(response) -> set[str]:
    return {v.strip() for v in response.headers.get("vary", "").split(",") if v.strip()}


@pytest.mark.parametrize("url", COMPRESSED)
def test_answers_are_gzipped_for_clients_that_ask(client, published, url):
    plain, plain_bytes = fetched(client, url, PLAIN)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    zipped, wire = fetched(client, url, GZIP)
    assert zipped.headers["content-encoding"] == "gzip"
    assert {"Accept-Encoding", "Authorization"} <= _vary(zipped)
    assert gzip.decompress(wire) == plain_bytes
    assert len(wire) * 3 < len(plain_bytes)
    head = client.head(url, headers=GZIP)
    assert head.headers["content-encoding"] == "gzip"
    assert head.headers.get("content-length") == zipped.headers.get("content-length")
    if "content-length" in zipped.headers:  # built whole: its length is the compressed one
        assert int(zipped.headers["content-length"]) == len(wire)


def test_what_gzip_cannot_help_is_sent_as_it_is(client, published, samples: Path):
    publish_grid("cams-sfc", samples / SFC, CAMS, "air-quality", "copernicus-cams")
    small, wire = fetched(client, "/healthz", GZIP)
    assert small.status_code == 200 and "content-encoding" not in small.headers
    package, wire = fetched(client, "/api/v1/datasets/atmo-demo-air/datapackage.zip", GZIP)
    assert package.status_code == 200 and "content-encoding" not in package.headers
    assert "datapackage.json" in zipfile.ZipFile(io.BytesIO(wire)).namelist()
    grid, wire = fetched(client, "/api/v1/datasets/cams-sfc/grid?format=netcdf", GZIP)
    assert grid.status_code == 200 and "content-encoding" not in grid.headers
    assert wire.startswith(b"\x89HDF") and int(grid.headers["content-length"]) == len(wire)
    # a page holds the visitor's CSRF token beside the search it shows: not compressed (BREACH)
    page, wire = fetched(client, "/?q=air", GZIP)
    assert page.status_code == 200 and "content-encoding" not in page.headers
