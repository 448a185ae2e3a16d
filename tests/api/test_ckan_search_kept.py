"""package_search keeps what it builds from catalogue rows (package dicts, licence titles,
organization names) per generation of the search index (hub.searchcache.Derived): a kept answer
is the one built afresh, a change to a dataset, its resources, its licence or its organization
shows in the next search, and what a caller may see is never served to another."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import Session, col, select
from support import bearer

from hub import access, searchcache
from hub.access import ANONYMOUS
from hub.api.ckan import search as ckan_search
from hub.db import make_engine
from hub.models import Dataset, Organization, Resource

BASE = "http://testserver/"
FACETS = json.dumps(["organization", "tags", "groups", "license_id", "res_format"])
ASKED = [
    {},
    {"q": "air", "facet.field": FACETS},
    {"q": "*:*", "sort": "name asc", "rows": 3, "start": 2, "facet.field": FACETS},
    {"fq": "organization:atmo-demo", "facet.field": FACETS},
    {"q": "pm25", "fl": "name,title,license_title"},
]


def whole(dataset: Dataset) -> bool:
    return access.sees_computed(dataset, ANONYMOUS)


def search(client, headers=None, **params) -> dict:
    response = client.get("/api/3/action/package_search", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()["result"]


def kept(engine: sa.Engine) -> searchcache._Derived:
    return searchcache._held_for(engine).derived


def forget(engine: sa.Engine) -> None:
    """Everything this process keeps for the engine dropped: the next search builds afresh."""
    held = searchcache._held_for(engine)
    held.derived = searchcache._Derived()
    held.results = searchcache._Results()
    held.whole = None


def package(result: dict, name: str) -> dict:
    return next(p for p in result["results"] if p["name"] == name)


def items(result: dict, facet: str) -> dict[str, str]:
    return {i["name"]: i["display_name"] for i in result["search_facets"][facet]["items"]}


def linked_pdf(dataset: str, name: str, position: int) -> Resource:
    """A file resource a portal could list beside the dataset's records."""
    return Resource(
        id=f"{dataset}-{name}",
        dataset_id=dataset,
        name=name,
        schema_descriptor={},
        url=f"https://example.org/{name}.pdf",
        format="PDF",
        kind="file",
        position=position,
    )


def test_kept_answers_are_the_ones_built_afresh(client, engine, sampled):
    fresh = []
    for params in ASKED:
        forget(engine)
        fresh.append(search(client, **params))
    assert {key[1][0] for key in kept(engine).entries} >= {"dataset", "package", "licence"}
    for params, first in zip(ASKED, fresh, strict=True):
        assert search(client, **params) == first, params
        assert search(client, **params) == first, params  # answered from what was kept


def test_a_kept_package_is_not_shared_with_the_answer(engine, sampled):
    def answer() -> dict:
        with Session(engine) as session:
            return ckan_search.search(session, {"q": "*:*", "rows": 3}, BASE, ANONYMOUS, whole)

    first = answer()
    packages = [value for key, value in kept(engine).entries.items() if key[1][0] == "package"]
    assert packages and all(isinstance(p, bytes) for p in packages)  # kept as JSON, parsed anew
    first["results"][0]["title"] = "changed by the caller"
    first["results"][1]["resources"].clear()
    second = answer()
    assert second["results"][0]["title"] != "changed by the caller"
    assert second["results"][1]["resources"]


def test_a_changed_dataset_shows_in_the_next_search(client, engine, sampled):
    name = "openaq-toronto-pm25"
    before = package(search(client, q="*:*", rows=10), name)
    with Session(engine) as session:
        dataset = session.get(Dataset, name)
        assert dataset is not None
        dataset.title = "Toronto, renamed"
        session.commit()
    after = package(search(client, q="*:*", rows=10), name)
    assert before["title"] != after["title"] == "Toronto, renamed"


def test_a_new_resource_shows_in_the_next_search(client, engine, sampled):
    name = "openaq-toronto-pm25"
    before = package(search(client, q="*:*", rows=10), name)
    with Session(engine) as session:
        session.add(linked_pdf(name, "notes", 99))
        session.commit()
    after = package(search(client, q="*:*", rows=10), name)
    assert after["num_resources"] == before["num_resources"] + 1
    assert after["resources"][-1]["format"] == "PDF"


def test_a_changed_licence_title_shows_in_the_next_search(client, engine, sampled):
    # A licence CKAN's list lacks is titled as its datasets title it; `custom`, gathering
    # bespoke licences, never takes one charter's title.
    before = items(search(client), "license_id")
    assert before["etalab-2.0"] == "Licence Ouverte / Open Licence 2.0 (Etalab)"
    assert before["custom"].startswith("Other (each dataset's own licence")
    with Session(engine) as session:
        for dataset in session.exec(select(Dataset).where(col(Dataset.licence_id) == "etalab-2.0")):
            dataset.licence_title = "Licence Ouverte, second edition"
        session.commit()
    assert items(search(client), "license_id")["etalab-2.0"] == "Licence Ouverte, second edition"


def test_a_renamed_organization_shows_in_the_next_search(client, engine, sampled):
    result = search(client, q="*:*", rows=10)
    assert items(result, "organization")["openaq"] == "OpenAQ"
    assert package(result, "openaq-toronto-pm25")["organization"]["title"] == "OpenAQ"
    with Session(engine) as session:
        organization = session.get(Organization, "openaq")
        assert organization is not None
        organization.name = "OpenAQ, renamed"
        session.commit()
    result = search(client, q="*:*", rows=10)
    assert items(result, "organization")["openaq"] == "OpenAQ, renamed"
    assert package(result, "openaq-toronto-pm25")["organization"]["title"] == "OpenAQ, renamed"


def test_a_change_by_another_engine_shows_in_the_next_search(client, engine, sampled, database_url):
    name = "sensor-community-aberdeen"
    search(client, q="*:*", rows=10)
    other = make_engine(database_url)
    try:
        with Session(other) as session:
            dataset = session.get(Dataset, name)
            assert dataset is not None
            dataset.title = "Aberdeen, from elsewhere"
            session.commit()
    finally:
        other.dispose()
    assert package(search(client, q="*:*", rows=10), name)["title"] == "Aberdeen, from elsewhere"


def test_values_read_while_a_change_commits_are_not_kept(engine, sampled):
    with engine.connect() as connection:
        derived = searchcache.Derived(connection)
        with Session(engine) as session:  # commits between the generation and the values
            dataset = session.get(Dataset, "openaq-toronto-pm25")
            assert dataset is not None
            dataset.title = "changed meanwhile"
            session.commit()
        assert derived.lookup([("licence", "x")], lambda keys: {keys[0]: "before"}) == {
            ("licence", "x"): "before"
        }
        derived.keep()
        assert ("licence", "x") not in {key[1] for key in kept(engine).entries}
        assert searchcache.Derived(connection).get(("licence", "x")) is None


def test_values_read_at_an_unchanged_generation_are_kept(engine, sampled):
    with engine.connect() as connection:
        derived = searchcache.Derived(connection)
        derived.lookup([("licence", "x")], lambda keys: {keys[0]: "read"})
        derived.keep()
        again = searchcache.Derived(connection)
        assert again.lookup([("licence", "x")], lambda keys: {}) == {("licence", "x"): "read"}


def test_what_a_caller_may_see_is_kept_apart(client, engine, published):
    restricted = published.closed["restricted"]
    operator = bearer(engine, "operator", "atmo-demo")

    def extras(headers=None) -> dict[str, str]:
        found = search(client, headers, q="*:*", rows=20, include_private="true")
        return {e["key"]: e["value"] for e in package(found, restricted)["extras"]}

    for _ in range(2):  # built, then kept: each caller's own
        assert "record_count" not in extras()
        assert "record_count" in extras(operator)
    forget(engine)
    for _ in range(2):  # the other way round
        assert "record_count" in extras(operator)
        assert "record_count" not in extras()


def test_a_producers_kept_datasets_follow_a_change(client, engine, sampled):
    asked = {"fq": "organization:openaq", "facet.field": FACETS}
    before = search(client, **asked)
    assert search(client, **asked) == before  # its datasets kept, with their counts
    assert names_of(before) == {"openaq-toronto-pm25"}
    with Session(engine) as session:
        dataset = session.get(Dataset, "sensor-community-aberdeen")
        assert dataset is not None
        dataset.organization_id = "openaq"
        session.commit()
    after = search(client, **asked)
    assert names_of(after) == {"openaq-toronto-pm25", "sensor-community-aberdeen"}
    assert after["facets"]["organization"] == {"openaq": 2}


def names_of(result: dict) -> set[str]:
    return {p["name"] for p in result["results"]}


def show(client, name: str, headers=None) -> dict:
    response = client.get("/api/3/action/package_show", params={"id": name}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_package_show_answers_as_built_afresh_and_as_a_page_shows_it(client, engine, sampled):
    name = "openaq-toronto-pm25"
    forget(engine)
    fresh = show(client, name)
    assert ("package", BASE, True, name) in {key[1] for key in kept(engine).entries}
    assert show(client, name) == fresh  # kept
    assert package(search(client, q="*:*", rows=10), name) == fresh  # the page shares it
    forget(engine)
    assert package(search(client, q="*:*", rows=10), name) == fresh
    assert show(client, name) == fresh  # kept by the page


def test_package_show_follows_a_change_to_the_dataset_and_its_resources(client, engine, sampled):
    name = "openaq-toronto-pm25"
    before = show(client, name)
    with Session(engine) as session:
        dataset = session.get(Dataset, name)
        assert dataset is not None
        dataset.title = "Toronto, renamed again"
        session.add(linked_pdf(name, "guide", 98))
        session.commit()
    after = show(client, name)
    assert after["title"] == "Toronto, renamed again" != before["title"]
    assert after["num_resources"] == before["num_resources"] + 1


def test_package_show_keeps_what_each_caller_may_see_apart(client, engine, published):
    restricted = published.closed["restricted"]
    operator = bearer(engine, "operator", "atmo-demo")

    def extras(headers=None) -> set[str]:
        return {e["key"] for e in show(client, restricted, headers)["extras"]}

    for _ in range(2):  # built, then kept: each caller's own
        assert "record_count" in extras(operator)
        assert "record_count" not in extras()
