"""/api/v1/schemas: every schema, its version in force, the versions datasets are stored under
at stable URLs, and the datasets on each; the REST search's schema filter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api.support import Published
from fastapi.testclient import TestClient

from hub import schemas
from hub.config import get_settings

BASE = "http://testserver/"
NAME = "air-quality-observation"


def test_the_registry_lists_every_schema_with_the_datasets_on_it(
    client: TestClient, published: Published
) -> None:
    answer = client.get("/api/v1/schemas").json()
    assert answer["count"] == len(schemas.known_schemas()) == len(answer["schemas"])
    entry = {s["name"]: s for s in answer["schemas"]}[NAME]
    bundled = schemas.load_schema(NAME)
    assert (entry["version"], entry["title"], entry["theme"]) == (
        bundled.version,
        bundled.title,
        bundled.theme,
    )
    users = {d["id"]: d for d in entry["datasets"]}
    assert users[published.open_id]["version"] == bundled.version
    assert users[published.open_id]["url"].endswith(f"/api/v1/datasets/{published.open_id}")
    assert entry == client.get(f"/api/v1/schemas/{NAME}").json()
    served = client.get(entry["url"].removeprefix(BASE.rstrip("/")))
    assert served.status_code == 200 and served.json() == bundled.descriptor
    assert client.get("/api/v1/schemas/no-such-schema").status_code == 404
    assert client.get(f"/api/v1/schemas/{NAME}/9.9.9").status_code == 404


def test_a_version_still_used_stays_served_when_a_newer_one_is_in_force(
    client: TestClient,
    published: Published,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored = schemas.load_schema(NAME).descriptor
    newer = json.loads(json.dumps(stored)) | {"version": "1.9.0", "description": "Newer."}
    folder = tmp_path / "territory-schemas"
    folder.mkdir()
    (folder / f"{NAME}.schema.json").write_text(json.dumps(newer), encoding="utf-8")
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(folder))
    get_settings.cache_clear()
    entry = client.get(f"/api/v1/schemas/{NAME}").json()
    assert entry["version"] == "1.9.0"
    assert [v["version"] for v in entry["versions"]] == ["1.9.0", stored["version"]]
    for version in entry["versions"]:
        served = client.get(version["url"].removeprefix(BASE.rstrip("/"))).json()
        assert served == (newer if version["version"] == "1.9.0" else stored)
    on_it = {d["id"]: d["version"] for d in entry["datasets"]}
    assert on_it[published.open_id] == stored["version"]  # not harvested since


def test_the_search_filters_datasets_by_schema(client: TestClient, published: Published) -> None:
    found = client.get("/api/v1/datasets", params={"schema": NAME, "limit": 1000}).json()
    ids = {d["id"] for d in found["datasets"]}
    assert published.open_id in ids
    none = client.get("/api/v1/datasets", params={"schema": "energy-mix"}).json()
    assert none["count"] == 0
