"""A portal's files harvested by its `options.files` rules (`pipelines.portalfiles`): a local
CKAN portal serving EnviDat's recorded package_search, whose datasets link to a real CAMS NetCDF
grid and a real OpenAQ export served beside it, and a DCAT catalogue (ckanext-dcat's example)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub.models import Dataset, HarvestRun, QuarantinedRow, Resource, SourceCursor
from pipelines.harvesting import Outcome, harvest_source
from pipelines.sources import load_source
from tests.readers.test_portal_readers import (
    PERMAFROST,
    POD,
    SEARCH,
    VPD,
    Answer,
    Ckan,
    Request,
    Server,
    serve,
)

__all__ = ["serve"]  # the fixture, shared with the portal readers' tests

GRID = "cams_eac4_97da7a58_levtype_sfc.nc"
OPENAQ = "openaq_location_3145071_measurements.csv"
PERMAFROST_ID, VPD_ID = f"envidat--{PERMAFROST}", f"envidat--{VPD}"
RULES: list[dict[str, Any]] = [
    {"formats": ["netcdf", "application/x-netcdf"], "reader": "netcdf"},
    {
        "formats": ["CSV", "text/csv"],
        "names": ["*measurements*.csv"],
        "reader": "openaq-csv",
        "schema": "air-quality-observation",
        "options": {"max_invalid_share": 0.5},
    },
]
CHARTER = {
    "id": "portal-files-open", "version": "1.0", "title": "Test portal files, open",
    "producer": "envidat",
    "licence": {"id": "etalab-2.0", "label": "Licence Ouverte 2.0",
                "uri": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"},
    "access": "open", "purposes": ["public-information"], "gdpr_sensitive": False,
    "valid_from": "2026-01-01", "valid_until": "2030-12-31", "themes": ["air-quality"],
}  # fmt: skip


@dataclass
class Files:
    """A file server that honours If-None-Match, and keeps every request's headers."""

    served: dict[str, bytes]
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def route(self, request: Request) -> Answer:
        name = request.path.removeprefix("/files/")
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.asked.append((name, headers))
        if name not in self.served:
            return 404, "text/plain", b"no such file", {}
        etag = f'"{hashlib.sha256(self.served[name]).hexdigest()[:16]}"'
        if headers.get("if-none-match") == etag:
            return 304, "application/octet-stream", b"", {"ETag": etag}
        return 200, "application/octet-stream", self.served[name], {"ETag": etag}

    def names(self) -> list[str]:
        return [name for name, _ in self.asked]


@dataclass
class Portal:
    """A CKAN portal (package_search) that also serves files under /files/."""

    ckan: Ckan
    files: Files

    def route(self, request: Request) -> Answer:
        if request.path.startswith("/files/"):
            return self.files.route(request)
        return self.ckan.route(request)


def resource_like(template: dict[str, Any], url: str, name: str, kind: str) -> dict[str, Any]:
    """A CKAN resource shaped as EnviDat writes them, for a file of ours."""
    return template | {"url": url, "name": name, "format": kind, "id": f"local-{name}"}


def envidat_linking(samples: Path, files_url: str) -> list[dict[str, Any]]:
    """EnviDat's two searched packages, their files moved to `files_url`, the permafrost one
    also linking the CAMS grid and the VPD one the OpenAQ export."""
    packages = json.loads((samples / SEARCH).read_text(encoding="utf-8"))["result"]["results"]
    packages = copy.deepcopy(packages)
    for package in packages:
        for resource in package["resources"]:
            resource["url"] = f"{files_url}/files/{resource['url'].rsplit('/', 1)[-1]}"
    by_name = {p["name"]: p for p in packages}
    grid = by_name[PERMAFROST]["resources"]
    grid.append(resource_like(grid[0], f"{files_url}/files/{GRID}", GRID, "NetCDF"))
    table = by_name[VPD]["resources"]
    table.append(resource_like(table[0], f"{files_url}/files/{OPENAQ}", OPENAQ, "CSV"))
    return packages


def served_files(samples: Path) -> dict[str, bytes]:
    return {
        GRID: (samples / "grids" / GRID).read_bytes(),
        OPENAQ: (samples / "air" / OPENAQ).read_bytes(),
    }


@pytest.fixture
def charters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "charters"
    folder.mkdir()
    (folder / "portal-files-open.yaml").write_text(yaml.safe_dump(CHARTER), encoding="utf-8")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))


def portal_file(folder: Path, url: str, fmt: str = "ckan", **fields: Any) -> Path:
    """A portal source file as an operator writes it, theme air-quality."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "id": "envidat", "title": "EnviDat", "theme": "air-quality", "format": fmt,
        "operator": {"id": "envidat", "name": "EnviDat (WSL)"}, "url": url,
        "charter": "portal-files-open", **fields,
    }  # fmt: skip
    path = folder / "envidat.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def harvest(path: Path) -> Outcome:
    return harvest_source(load_source(path))


def kinds_of(engine: Engine, dataset_id: str) -> list[str]:
    with Session(engine) as session:
        found = select(Resource.kind).where(Resource.dataset_id == dataset_id)
        return sorted(session.exec(found).all())


def file_runs(engine: Engine, dataset_id: str) -> list[HarvestRun]:
    """The runs of a portal dataset's files (the listing's runs are the portal source's)."""
    with Session(engine) as session:
        found = select(HarvestRun).where(
            HarvestRun.dataset_id == dataset_id, HarvestRun.source_id != "envidat"
        )
        return list(session.exec(found.order_by(col(HarvestRun.id))).all())


@pytest.fixture
def portal(serve: Callable[..., Server], samples: Path, charters: None) -> tuple[Portal, Server]:
    files = Files(served_files(samples))
    portal = Portal(Ckan([]), files)
    server = serve(portal.route)
    portal.ckan.packages = envidat_linking(samples, server.url)
    return portal, server


def test_files_join_their_datasets_and_are_not_read_again_unchanged(
    engine: Engine, portal: tuple[Portal, Server], tmp_path: Path
) -> None:
    site, server = portal
    path = portal_file(tmp_path, server.url, options={"files": RULES, "relist_hours": 0})
    first = harvest(path)
    assert (first.status, first.published) == ("succeeded", 2), first.message
    assert first.message == "files: 2 harvested, 0 failed"
    assert sorted(site.files.names()) == [GRID, OPENAQ]  # the other CSVs and the ZIP fit no rule
    with Session(engine) as session:
        permafrost = session.get(Dataset, PERMAFROST_ID)
        vpd = session.get(Dataset, VPD_ID)
        assert permafrost is not None and vpd is not None
        assert vpd.record_count == 1000 and vpd.schema_name == "air-quality-observation"
        assert vpd.source_url == f"{server.url}/dataset/{VPD}"  # the records keep the portal's page
        assert vpd.title.startswith('Dataset for "Canopy-scale VPD reduction')  # the portal's
        grid = session.exec(select(Resource).where(Resource.dataset_id == PERMAFROST_ID,
                                                   Resource.kind == "grid")).one()  # fmt: skip
        assert [v["name"] for v in (grid.details or {})["variables"]] == ["sp"]
        assert grid.url == f"{server.url}/files/{GRID}"
    assert kinds_of(engine, PERMAFROST_ID) == ["file", "file", "grid"]
    assert kinds_of(engine, VPD_ID) == ["file"] * 5 + ["records"]
    [records] = file_runs(engine, VPD_ID)
    assert (records.status, records.rows_read, records.rows_published) == ("succeeded", 1000, 1000)
    assert records.schema_name == "air-quality-observation"
    assert records.charter_id == "portal-files-open"
    assert records.source_id is not None and records.source_id.startswith(f"{VPD_ID[:80]}")

    again = harvest(path)  # a whole listing again: both files asked, both unchanged
    assert again.message == "files: 2 harvested (2 unchanged), 0 failed"
    conditional = [h.get("if-none-match") for _, h in site.files.asked[2:]]
    assert len(conditional) == 2 and all(conditional)
    latest = file_runs(engine, VPD_ID)[-1]
    assert (latest.status, latest.rows_read) == ("succeeded", 0) and "HTTP 304" in latest.error
    with Session(engine) as session:  # the listing kept what the records say of the dataset
        vpd = session.get(Dataset, VPD_ID)
        assert vpd is not None and vpd.record_count == 1000
        assert vpd.schema_name == "air-quality-observation"
        assert vpd.bbox == [-79.47, 43.79, -79.47, 43.79] and vpd.time_min is not None  # Toronto
        assert vpd.source_url == f"{server.url}/dataset/{VPD}"  # the portal's page, not the file
        cursors = session.exec(select(SourceCursor.source_id)).all()
    assert len(cursors) == 3  # the portal's, and one of each file's


def test_an_increment_reads_the_files_of_its_datasets_only(
    engine: Engine, portal: tuple[Portal, Server], tmp_path: Path
) -> None:
    site, server = portal
    path = portal_file(tmp_path, server.url, options={"files": RULES})
    assert harvest(path).message == "files: 2 harvested, 0 failed"
    increment = harvest(path)  # from the latest modification listed: the permafrost dataset
    listing = [r for r in server.requests if r.method == "POST"][-1]
    assert listing.params["fq"].startswith("metadata_modified:[")
    assert (increment.read, increment.message) == (1, "files: 1 harvested (1 unchanged), 0 failed")
    assert site.files.names()[2:] == [GRID]  # not the OpenAQ export of the VPD dataset


@pytest.mark.parametrize("broken", ["missing", "truncated"])
def test_a_broken_file_fails_alone(
    engine: Engine, portal: tuple[Portal, Server], tmp_path: Path, broken: str
) -> None:
    site, server = portal
    if broken == "missing":
        del site.files.served[OPENAQ]
    else:
        site.files.served[GRID] = site.files.served[GRID][:700]
    path = portal_file(tmp_path, server.url, options={"files": RULES})
    outcome = harvest(path)
    assert (outcome.status, outcome.published) == ("succeeded", 2)  # the listing stands
    assert outcome.message.startswith("files: 1 harvested, 1 failed (envidat--")
    failed_dataset, kept_dataset = (
        (VPD_ID, PERMAFROST_ID) if broken == "missing" else (PERMAFROST_ID, VPD_ID)
    )
    [failed] = file_runs(engine, failed_dataset)
    assert failed.status == "failed"
    if broken == "missing":
        assert "HTTP 404" in failed.error and "HTTP 404" in outcome.message
    else:
        assert "ReaderError" in failed.error
    assert [r.status for r in file_runs(engine, kept_dataset)] == ["succeeded"]
    assert "file" in kinds_of(engine, failed_dataset)  # its links are still listed
    assert not {"grid", "records"} & set(kinds_of(engine, failed_dataset))


def test_credentials_go_to_files_on_the_portals_own_origin_only(
    engine: Engine, serve: Callable[..., Server], samples: Path, charters: None,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PORTAL_KEY", "k-5e1f-portal")
    abroad = Files(served_files(samples))
    other = serve(abroad.route)
    site = Portal(Ckan([]), Files(served_files(samples)))
    server = serve(site.route)
    packages = envidat_linking(samples, server.url)
    for package in packages:  # the OpenAQ export lives on another server
        for resource in package["resources"]:
            resource["url"] = resource["url"].replace(f"{server.url}/files/{OPENAQ}",
                                                      f"{other.url}/files/{OPENAQ}")  # fmt: skip
    site.ckan.packages = packages
    auth = {"header": "X-Portal-Key", "secret": "env:PORTAL_KEY"}
    path = portal_file(tmp_path, server.url, auth=auth, options={"files": RULES})
    outcome = harvest(path)
    assert outcome.message == "files: 2 harvested, 0 failed"
    assert [(n, h.get("x-portal-key")) for n, h in site.files.asked] == [(GRID, "k-5e1f-portal")]
    assert [(n, h.get("x-portal-key")) for n, h in abroad.asked] == [(OPENAQ, None)]


@pytest.mark.parametrize(("limit", "read"), [(1, 1), (0, 0)])
def test_files_limit(
    engine: Engine, portal: tuple[Portal, Server], tmp_path: Path, limit: int, read: int
) -> None:
    site, server = portal
    path = portal_file(tmp_path, server.url, options={"files": RULES, "files_limit": limit})
    outcome = harvest(path)
    assert outcome.message == (
        f"files: {read} harvested, 0 failed; {2 - read} more not read (files_limit {limit})"
    )
    assert len(site.files.asked) == read


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"files": "csv"}, "options.files must be a list of rules"),
        ({"files": [{"formats": ["csv"], "reader": "xlsx"}]}, "options.files[0].reader: 'xlsx'"),
        ({"files": [{"formats": ["csv"], "reader": "ckan"}]}, "options.files[0].reader: 'ckan'"),
        (
            {"files": [RULES[0], {"formats": ["csv"], "reader": "openaq-csv"}]},
            "options.files[1].schema: reader 'openaq-csv' gives records, which need a schema",
        ),
        (
            {"files": [{"formats": ["nc"], "reader": "netcdf", "schema": "x"}]},
            "options.files[0].schema: reader 'netcdf' gives grids",
        ),
        ({"files": [{"reader": "netcdf"}]}, "options.files[0] must list formats or names"),
        (
            {"files": [{"names": ["*[.nc"], "reader": "netcdf"}]},
            "options.files[0].names: '*[.nc' is not a glob",
        ),
        ({"files": [{"names": "*.nc", "reader": "netcdf"}]}, "options.files[0].names must be"),
        (
            {"files": [{"formats": ["nc"], "reader": "netcdf", "format": "x"}]},
            "options.files[0]: unknown key(s) format",
        ),
        (
            {"files": [{"formats": ["nc"], "reader": "netcdf", "options": {"rows": 3}}]},
            "options.files[0].options: source 'envidat': unknown option(s) rows",
        ),
        ({"files": RULES, "files_limit": -1}, "options.files_limit must be a whole number"),
        ({"files": RULES, "files_limit": 2.5}, "options.files_limit must be a whole number"),
        ({"files": RULES, "files_limit": True}, "options.files_limit must be a whole number"),
    ],
)
def test_wrong_file_rules_fail_before_any_request(
    engine: Engine, portal: tuple[Portal, Server], tmp_path: Path,
    options: dict[str, Any], said: str,
) -> None:  # fmt: skip
    site, server = portal
    outcome = harvest(portal_file(tmp_path, server.url, options=options))
    assert outcome.status == "failed" and said in outcome.message, outcome.message
    assert server.requests == []


def withdraw(portal: tuple[Portal, Server], tmp_path: Path, name: str, engine: Engine) -> None:
    """Harvest the portal whole, then again once it no longer lists `name`, then once it lists
    it again: its data comes back although its file is unchanged (no answer 304 is taken)."""
    site, server = portal
    listed = list(site.ckan.packages)
    path = portal_file(tmp_path, server.url, options={"files": RULES, "relist_hours": 0})
    assert harvest(path).message == "files: 2 harvested, 0 failed"
    withdrawn = f"envidat--{name}"
    tables = set(sa.inspect(engine).get_table_names())
    site.ckan.packages = [p for p in listed if p["name"] != name]
    whole = harvest(path)
    assert whole.status == "succeeded", whole.message
    with Session(engine) as session:
        assert session.get(Dataset, withdrawn) is None
        assert session.exec(select(Resource).where(Resource.dataset_id == withdrawn)).all() == []
        left = session.exec(select(QuarantinedRow).where(QuarantinedRow.dataset_id == withdrawn))
        assert left.all() == []
    dropped = tables - set(sa.inspect(engine).get_table_names())
    assert len(dropped) == (1 if name == VPD else 0)  # the records' table went with them
    site.ckan.packages = listed
    back = harvest(path)
    assert back.message == "files: 2 harvested (1 unchanged), 0 failed", back.message
    assert "grid" in kinds_of(engine, withdrawn) or "records" in kinds_of(engine, withdrawn)


def test_a_withdrawn_dataset_loses_its_grid(
    engine: Engine, portal: tuple[Portal, Server], tmp_path: Path
) -> None:
    withdraw(portal, tmp_path, PERMAFROST, engine)


def test_a_withdrawn_dataset_loses_its_records(
    engine: Engine, portal: tuple[Portal, Server], tmp_path: Path
) -> None:
    withdraw(portal, tmp_path, VPD, engine)


def test_dcat_distributions_harvested(
    engine: Engine, serve: Callable[..., Server], samples: Path, charters: None, tmp_path: Path
) -> None:
    files = Files(served_files(samples))
    server = serve(lambda r: files.route(r) if r.path.startswith("/files/") else catalogue(r))
    text = (
        (samples / POD)
        .read_text(encoding="utf-8")
        .replace(
            "https://data.agency.gov/datasets/widgets-statistics/widgets.csv",
            f"{server.url}/files/{OPENAQ}",
        )
    )

    def catalogue(request: Request) -> Answer:
        return 200, "application/ld+json", text.encode(), {}

    rule = RULES[1] | {"names": ["*openaq*"]}
    path = portal_file(tmp_path, f"{server.url}/catalog.jsonld", "dcat",
                       options={"files": [rule]})  # fmt: skip
    outcome = harvest(path)
    assert outcome.message == "files: 1 harvested, 0 failed", outcome.message
    with Session(engine) as session:
        widgets = session.get(Dataset, "envidat--widgets-data")
        assert widgets is not None and widgets.record_count == 1000
    assert kinds_of(engine, "envidat--widgets-data") == ["file"] * 4 + ["records"]
