"""CKAN's datastore_search pages to the end of any search by following `_links.next`: past
the cap on a bare `offset` (OFFSET_MAX, made small here), its cursor reads each page as a keyset
read."""

from __future__ import annotations

import ckanapi
import httpx
import pytest
from api.support import live_server
from api.test_ckan_writes import ROWS, new_package, token

from hub.api.ckan import datastore

SEARCH = "/api/3/action/datastore_search"


@pytest.fixture
def hub_url(engine, published):
    with live_server() as url:
        yield url


@pytest.fixture
def pushed(hub_url, engine) -> str:
    """A resource of 18 rows: three stations' six hours."""
    operator = ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "operator", "atmo-demo"))
    operator.action.package_create(**new_package())
    rows = [
        {**row, "station_id": f"FR-PUSH-0{station}", "value": row["value"] + 10 * station}
        for station in (1, 2, 3)
        for row in ROWS
    ]
    created = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"}, schema="air-quality-observation", records=rows
    )
    return created["resource_id"]


def walk(hub_url: str, first: str) -> tuple[list[float], list[dict]]:
    """Every page from `first`, following `next` until a page comes back empty."""
    values, pages, url = [], [], hub_url + first
    while True:
        answer = httpx.get(url)
        assert answer.status_code == 200, answer.text
        page = answer.json()["result"]
        pages.append(page)
        if not page["records"]:
            return values, pages
        values += [r["value"] for r in page["records"]]
        url = hub_url + page["_links"]["next"]


@pytest.mark.parametrize("sort", [None, "value desc"])
def test_next_goes_past_the_offset_cap_to_the_last_row(hub_url, pushed, monkeypatch, sort):
    monkeypatch.setattr(datastore, "OFFSET_MAX", 4)
    query = f"{SEARCH}?resource_id={pushed}&limit=4" + (f"&sort={sort}" if sort else "")
    values, pages = walk(hub_url, query)
    assert len(values) == 18 and len(set(values)) == 18  # each row once, none left out
    if sort:
        assert values == sorted(values, reverse=True)
    assert [p["offset"] for p in pages] == [0, 4, 8, 12, 16, 20]
    assert all(p["total"] == 18 for p in pages)
    # a bare offset past the cap is refused, and says how to go on
    refused = httpx.get(f"{hub_url}{SEARCH}?resource_id={pushed}&offset=8")
    assert refused.status_code == 409
    assert "_links.next" in refused.json()["error"]["offset"][0]


def test_a_first_offset_within_the_cap_goes_on_by_cursor(hub_url, pushed, monkeypatch):
    monkeypatch.setattr(datastore, "OFFSET_MAX", 4)
    values, pages = walk(hub_url, f"{SEARCH}?resource_id={pushed}&limit=5&offset=3&sort=value")
    assert len(values) == 15 and values == sorted(values)
    assert "cursor=" in pages[0]["_links"]["next"]
    # `prev` is given only where a bare offset reaches
    assert pages[0]["_links"]["prev"].endswith("offset=0")
    assert "prev" not in pages[-1]["_links"]


def test_ckanapi_reads_the_next_page_with_the_cursor(hub_url, pushed):
    reader = ckanapi.RemoteCKAN(hub_url)
    first = reader.action.datastore_search(resource_id=pushed, limit=10)
    after = dict(httpx.URL(first["_links"]["next"]).params)
    second = reader.action.datastore_search(**after)
    assert len(first["records"]) == 10 and len(second["records"]) == 8
    assert second["offset"] == 10
    with pytest.raises(ckanapi.ValidationError, match="cursor"):
        reader.action.datastore_search(resource_id=pushed, cursor="bm90IGEgY3Vyc29y")
