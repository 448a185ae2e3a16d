"""Conditional GETs of what a harvester fetches every night: the DCAT catalogue pages, a
dataset's DCAT document and CKAN's package_show and package_search carry an ETag, and
If-None-Match holding it answers 304 until the answer changes for that caller."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from api.support import air_batch, bearer, observation_rows

from hub.catalogue import publish

OPEN = "atmo-demo-air"
URLS = [
    "/catalog.ttl",
    "/catalog.jsonld",
    "/catalog.rdf?page=1",
    f"/api/v1/datasets/{OPEN}/dcat.ttl",
    f"/api/v1/datasets/{OPEN}/dcat.jsonld",
    f"/api/3/action/package_show?id={OPEN}",
    "/api/action/package_search?q=air",
]


def _vary(response) -> set[str]:
    return {v.strip() for v in response.headers.get("vary", "").split(",") if v.strip()}


@pytest.mark.parametrize("url", URLS)
def test_a_client_holding_the_current_etag_gets_a_304(client, published, url):
    first = client.get(url)
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('W/"')
    assert first.headers["cache-control"] == "no-cache"  # anonymous: a shared cache may keep it
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag and "Authorization" in _vary(again)
    assert client.head(url, headers={"If-None-Match": f'"other", {tag}'}).status_code == 304
    stale = client.get(url, headers={"If-None-Match": 'W/"not-this-one"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_a_change_to_the_catalogue_changes_the_tags(client, engine, published):
    tags = {url: client.get(url).headers["etag"] for url in URLS}
    renamed = air_batch(OPEN, "atmo-demo-open", "Air quality, Rennes (renamed)", observation_rows())
    publish(renamed, engine=engine)
    for url, tag in tags.items():
        answer = client.get(url, headers={"If-None-Match": tag})
        assert answer.status_code == 200 and "renamed" in answer.text, url
        assert answer.headers["etag"] != tag


@pytest.mark.parametrize(
    "url",
    [
        "/catalog.ttl",
        "/api/v1/datasets/{restricted}/dcat.ttl",
        "/api/3/action/package_show?id={restricted}",
        "/api/3/action/package_search?q=air",
    ],
)
def test_a_token_holder_gets_a_tag_of_their_own_kept_private(client, engine, published, url):
    path = url.format(restricted=published.closed["restricted"])
    anonymous = client.get(path)
    member = bearer(engine, "agency", "metropole-civil-protection")
    theirs = client.get(path, headers=member)
    assert theirs.headers["etag"] != anonymous.headers["etag"]
    assert theirs.headers["cache-control"] == "private, no-cache"
    # the anonymous copy is no copy of the member's answer, nor the other way round
    held = {"If-None-Match": anonymous.headers["etag"]}
    assert client.get(path, headers={**member, **held}).status_code == 200
    assert client.get(path, headers={"If-None-Match": theirs.headers["etag"]}).status_code == 200
    again = client.get(path, headers={**member, "If-None-Match": theirs.headers["etag"]})
    assert again.status_code == 304 and again.headers["cache-control"] == "private, no-cache"


def test_a_post_is_answered_in_full_whatever_it_holds(client, published):
    tag = client.get(f"/api/3/action/package_show?id={OPEN}").headers["etag"]
    posted = client.post(
        "/api/3/action/package_show", json={"id": OPEN}, headers={"If-None-Match": tag}
    )
    assert posted.status_code == 200 and posted.json()["result"]["name"] == OPEN


def test_a_negotiated_dataset_page_varies_with_accept_in_its_304_too(client, published):
    turtle = {"Accept": "text/turtle"}
    first = client.get(f"/datasets/{OPEN}", headers=turtle)
    assert first.headers["content-type"].startswith("text/turtle")
    again = client.get(
        f"/datasets/{OPEN}", headers={**turtle, "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and {"Accept", "Authorization"} <= _vary(again)


TAGS_OF_A_PROCESS = """
from fastapi.testclient import TestClient
from hub.app import create_app
with TestClient(create_app()) as client:
    for url in ("/catalog.jsonld", "/catalog.rdf", "/api/v1/datasets/atmo-demo-air/dcat.jsonld"):
        print(client.get(url).headers["etag"])
"""


def test_a_dcat_documents_tag_is_the_same_in_every_process(engine, published):
    """rdflib orders JSON-LD and RDF/XML by Python's string hashing, seeded per process: replicas
    behind one address, or a restarted hub, must still give a harvester's tag a 304."""

    def tags(seed: str) -> str:
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        ran = subprocess.run(
            [sys.executable, "-c", TAGS_OF_A_PROCESS],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return ran.stdout

    first = tags("1")
    assert first.count('W/"') == 3
    assert tags("2") == first
