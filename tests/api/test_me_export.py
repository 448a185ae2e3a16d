"""GET /api/v1/me/export: a subject's rows of every linked dataset, their schemas and charters,
their consents and access log, as a Frictionless data package that `frictionless validate`
accepts; nobody else's row in it."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import frictionless
import pytest
from api.subjects import (
    ALICE,
    BOB,
    CURVES,
    GRID,
    HOURS,
    MORE_CURVES,
    OTHER,
    OTHER_CURVES,
    consent,
    link,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for

from hub.selfdata import receipts

EXPORT = "/api/v1/me/export"


@pytest.fixture
def client(engine, world):
    with client_for(engine) as client:
        yield client


def unpacked(content: bytes, folder: Path) -> dict:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(folder)
    return json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))


def table(folder: Path, path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((folder / path).read_text(encoding="utf-8"))))


def test_the_export_is_a_valid_package_of_the_subjects_data(client, world, tmp_path):
    for dataset in (CURVES, MORE_CURVES, OTHER_CURVES):
        assert link(client, world, "alice", dataset, ALICE).status_code == 201
    assert link(client, world, "bob", CURVES, BOB).status_code == 201
    given = consent(client, world, "alice", [CURVES, MORE_CURVES]).json()
    response = client.get(EXPORT, headers=world.headers["alice"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    package = unpacked(response.content, tmp_path)
    report = frictionless.validate(tmp_path / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    names = [r["name"] for r in package["resources"]]
    assert names[-4:] == ["links", "quarantine", "consents", "access-log"] and len(names) == 7
    mine = {GRID: world.of(GRID, ALICE), OTHER: world.of(OTHER, ALICE)}
    for resource in package["resources"][:3]:
        rows = table(tmp_path, resource["path"])
        assert len(rows) == HOURS
        assert {r["subject_key"] for r in rows} <= set(mine.values())
        assert (tmp_path / resource["schema"]).is_file()
    for charter in package["hub"]["charters"].values():
        assert json.loads((tmp_path / charter).read_text())["access"] == "personal"
    # the consent and its sealed receipt
    (row,) = table(tmp_path, "consents.csv")
    assert (row["id"], row["status"], row["receipt_hash"]) == (
        given["id"],
        "live",
        given["receipt_hash"],
    )
    (kept,) = json.loads((tmp_path / "consents/receipts.json").read_text())
    assert receipts.seal(kept["receipt"]) == kept["receipt_hash"] == given["receipt_hash"]
    # the access log holds the export's own reads of each dataset, by the subject
    log = table(tmp_path, "access-log.csv")
    assert {r["dataset_id"] for r in log} == {CURVES, MORE_CURVES, OTHER_CURVES}
    assert {r["who"] for r in log} == {"you"} and all(r["pseudonym"] for r in log)
    assert package["hub"]["access_log_head"]["id"] >= max(int(r["id"]) for r in log)
    assert world.of(GRID, BOB) not in response.content.decode("latin-1")


def test_the_export_of_a_subject_without_links(client, world, tmp_path):
    response = client.get(EXPORT, headers=world.headers["carol"])
    assert response.status_code == 200
    package = unpacked(response.content, tmp_path)
    assert [r["name"] for r in package["resources"]] == [
        "links",
        "quarantine",
        "consents",
        "access-log",
    ]
    assert frictionless.validate(tmp_path / "datapackage.json").valid
    assert table(tmp_path, "consents.csv") == [] == table(tmp_path, "access-log.csv")


def test_only_the_subject_exports(client, world):
    assert client.get(EXPORT).status_code == 401
    for who in ("coach", "operator", "admin"):
        assert client.get(EXPORT, headers=world.headers[who]).status_code == 403
