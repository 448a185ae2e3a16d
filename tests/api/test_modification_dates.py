"""What incremental harvesters see: a dataset's modification date moves when its metadata or
its data change, and only then, on CKAN's `fq=metadata_modified`, DCAT's `modified_since` and
`/api/v1/datasets?updated_since` alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from api.support import client_for
from fastapi.testclient import TestClient
from rdflib import Graph
from rdflib.namespace import DCAT
from sqlmodel import Session
from test_batch_kinds import ERA, entry, grid_batch, listing
from test_catalogue import batch, observations

from hub import withdrawal
from hub.catalogue import publish
from hub.models import Dataset, utcnow


@pytest.fixture
def client(engine) -> Iterator[TestClient]:
    with client_for(engine) as client:
        yield client


def changed_since(client: TestClient, since: datetime) -> dict[str, set[str]]:
    """The datasets each incremental interface lists as changed since `since`."""
    moment = since.isoformat().replace("+00:00", "Z")
    ckan = client.get(
        "/api/3/action/package_search",
        params={"fq": f"metadata_modified:[{moment} TO *]", "rows": 1000},
    ).json()["result"]["results"]
    dcat = Graph().parse(
        data=client.get("/catalog.ttl", params={"modified_since": moment}).text, format="turtle"
    )
    rest = client.get("/api/v1/datasets", params={"updated_since": moment, "limit": 100}).json()
    return {
        "ckan": {package["name"] for package in ckan},
        "dcat": {str(d).rsplit("/", 1)[-1] for d in dcat.objects(None, DCAT.dataset)},
        "rest": {dataset["id"] for dataset in rest["datasets"]},
    }


def nowhere() -> dict[str, set[str]]:
    return {"ckan": set(), "dcat": set(), "rest": set()}


def everywhere(dataset_id: str) -> dict[str, set[str]]:
    return {"ckan": {dataset_id}, "dcat": {dataset_id}, "rest": {dataset_id}}


def modified_at(engine, dataset_id: str) -> datetime:
    with Session(engine) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        return dataset.modified_at


def test_withdrawn_rows_are_a_change_every_interface_lists(engine, client) -> None:
    publish(batch(observations(5)))
    since = utcnow()
    done = withdrawal.withdraw(engine, "demo-no2", [("station_id", "FR-DEMO-01")], "test")
    assert done.rows == 5
    assert changed_since(client, since) == everywhere("demo-no2")


def test_a_withdrawal_that_matches_no_row_changes_nothing(engine, client) -> None:
    publish(batch(observations(5)))
    since = utcnow()
    assert withdrawal.withdraw(engine, "demo-no2", [("station_id", "ELSEWHERE")], "t").rows == 0
    assert changed_since(client, since) == nowhere()


def test_a_harvest_of_the_same_rows_is_no_change(engine, client) -> None:
    publish(batch(observations(5)))
    stamped, since = modified_at(engine, "demo-no2"), utcnow()
    again = publish(batch(observations(5)))
    assert (again.rows_published, again.rows_updated, again.rows_skipped) == (0, 0, 5)
    assert changed_since(client, since) == nowhere()
    assert modified_at(engine, "demo-no2") == stamped


def test_rows_published_or_corrected_are_a_change(engine, client) -> None:
    publish(batch(observations(5)))
    since = utcnow()
    assert publish(batch(observations(5, value="30"))).rows_updated == 5
    assert changed_since(client, since) == everywhere("demo-no2")


def test_a_new_description_alone_is_a_change(engine, client) -> None:
    publish(batch(observations(5)))
    since = utcnow()
    renamed = batch(observations(5))
    renamed.description = "Hourly NO2 at the Comédie station."
    assert publish(renamed).rows_skipped == 5
    assert changed_since(client, since) == everywhere("demo-no2")


def test_a_portal_listing_again_changes_only_what_it_changed(engine, client) -> None:
    publish(listing(entry("rivers", "a.csv"), entry("dams", "c.csv")))
    since = utcnow()
    same = publish(listing(entry("rivers", "a.csv"), entry("dams", "c.csv")))
    assert (same.rows_published, same.rows_updated, same.rows_skipped) == (0, 0, 2)
    assert changed_since(client, since) == nowhere()

    moved = entry("rivers", "a.csv")
    moved.landing_page = "https://portal.example.org/datasets/rivers-of-the-region"
    run = publish(listing(moved, entry("dams", "c.csv")))
    assert (run.rows_published, run.rows_updated, run.rows_skipped) == (0, 1, 1)
    assert changed_since(client, since) == everywhere("portal--rivers")


def test_a_portal_file_added_is_a_change(engine, client) -> None:
    publish(listing(entry("rivers", "a.csv"), entry("dams", "c.csv")))
    since = utcnow()
    run = publish(listing(entry("rivers", "a.csv", "b.csv"), entry("dams", "c.csv")))
    assert (run.rows_updated, run.rows_skipped) == (1, 1)
    assert changed_since(client, since) == everywhere("portal--rivers")


def test_the_same_grid_again_is_no_change(engine, client, samples: Path) -> None:
    publish(grid_batch(samples / ERA))
    since = utcnow()
    assert publish(grid_batch(samples / ERA)).rows_skipped == 1
    assert changed_since(client, since) == nowhere()
