"""Bad input, end to end: what an attacker or a careless operator feeds a harvest.

Every test first publishes a good batch into the dataset, then harvests a bad one through
`pipelines.harvesting.harvest_source(load_source(path))` and proves three things: a clear error
(or quarantined rows with their reasons), the records published earlier untouched (same rows,
same values, same count), and no run left "running".
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from hub import catalogue, charters, schemas
from hub.cli import app
from hub.config import PROJECT_ROOT, get_settings
from hub.models import Dataset, HarvestRun, QuarantinedRow
from hub.validation.textblocks import MIN_FIRST_BLOCK
from pipelines import fetch as fetch_module
from pipelines.harvesting import Outcome, harvest_source
from pipelines.sources import Source, SourceError, load_source

DATASET = "bad-input-air"
DEFAULT_CAP = 1024**3  # HUB_FETCH_MAX_BYTES unset: a feed larger than 1 GiB is a mistake
FIELDS = [
    "station_id",
    "station_name",
    "pollutant",
    "value",
    "unit",
    "averaging_period",
    "observed_at",
    "longitude",
    "latitude",
    "quality_flag",
]
HEADER = ",".join(FIELDS)
# The good batch: three hourly NO2 values at one Montpellier station.
GOOD = [
    f"FR-GOOD-1,Comédie,no2,{value},µg/m³,PT1H,2025-09-01T{hour}:00:00Z,3.88,43.61,valid"
    for hour, value in (("00", "11.5"), ("01", "12.5"), ("02", "13.5"))
]
STATIONS = "air/AirLR_LR_StationAir.csv"  # real, cp1252, decimal commas
HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><title>503 Service Temporarily Unavailable</title></head>
<body>
<h1>Service Temporarily Unavailable</h1>
<p>The server is temporarily unable to service your request. Please try again later.</p>
</body>
</html>
"""

runner = CliRunner()


# --- sources, files and the good batch ----------------------------------------------------------


def write_csv(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def source(
    folder: Path,
    url: str,
    *,
    dataset: str = DATASET,
    fmt: str = "csv",
    schema: str = "air-quality-observation",
    charter: str = "atmo-demo-open",
    operator: str = "atmo-demo",
    options: dict[str, Any] | None = None,
    name: str | None = None,
) -> Source:
    """Write a harvest source file for `url` and load it, as `hub harvest FILE` does."""
    path = folder / f"{name or dataset}.yaml"
    lines = [
        f"id: {dataset}",
        f"title: Bad input test ({dataset})",
        f"operator: {{id: {operator}, name: {operator.title()}, kind: public}}",
        "theme: air-quality",
        f"format: {fmt}",
        f"url: {json.dumps(url)}",
        f"schema: {schema}",
        f"charter: {charter}",
    ]
    if options is not None:
        lines.append(f"options: {json.dumps(options, ensure_ascii=False)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_source(path)


def harvest(folder: Path, url: str, **kwargs: Any) -> Outcome:
    kwargs.setdefault("name", "bad")
    return harvest_source(source(folder, url, **kwargs))


def snapshot(engine: Engine, dataset: str = DATASET) -> dict[str, Any]:
    """The dataset row and every stored record (with its _id and _run), to compare later."""
    with Session(engine) as session:
        row = session.get(Dataset, dataset)
        assert row is not None, f"dataset {dataset} was not published"
        meta = row.model_dump()
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset))
    with engine.connect() as connection:
        records = [
            dict(r)
            for r in connection.execute(
                sa.select(layout.table).order_by(layout.table.c["_id"])
            ).mappings()
        ]
    return {"dataset": meta, "records": records}


def values(snap: dict[str, Any]) -> dict[tuple[str, str, str], float]:
    """(station, pollutant, hour) -> value of a snapshot's records."""
    return {
        (r["station_id"], r["pollutant"], _hour(r["observed_at"])): r["value"]
        for r in snap["records"]
    }


def _hour(moment: datetime | str) -> str:
    """The UTC hour of a stored instant (naive UTC on SQLite, aware on PostgreSQL)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H")


def assert_untouched(engine: Engine, before: dict[str, Any], dataset: str = DATASET) -> None:
    """Nothing of the dataset changed: its row, its records and their values."""
    after = snapshot(engine, dataset)
    assert after["records"] == before["records"]
    assert after["dataset"] == before["dataset"]
    assert after["dataset"]["record_count"] == len(before["records"])


def assert_earlier_records_kept(engine: Engine, before: dict[str, Any], added: int) -> None:
    """A partial batch added `added` new rows and changed none of the earlier ones."""
    after = snapshot(engine)
    kept = {r["_id"]: r for r in after["records"]}
    for record in before["records"]:
        assert kept.get(record["_id"]) == record
    assert len(after["records"]) == len(before["records"]) + added
    assert after["dataset"]["record_count"] == len(before["records"]) + added


def assert_nothing_running(engine: Engine) -> None:
    with Session(engine) as session:
        running = session.exec(select(HarvestRun).where(HarvestRun.status == "running")).all()
    assert running == [], [(r.id, r.dataset_id) for r in running]


def latest_run(engine: Engine, dataset: str = DATASET) -> HarvestRun:
    with Session(engine) as session:
        runs = catalogue.runs_of(session, dataset, limit=1)
    assert runs, f"no run recorded for {dataset}"
    return runs[0]


def quarantine_notes(engine: Engine, run_id: int | None) -> list[str]:
    """Every reason of every row quarantined by a run."""
    with Session(engine) as session:
        rows = session.exec(select(QuarantinedRow).where(QuarantinedRow.run_id == run_id)).all()
    return [error["message"] for row in rows for error in row.errors]


def reasons(engine: Engine, run_id: int | None) -> list[str]:
    """Every reason a run gives for its invalid rows: its quarantined rows', or, for a batch
    refused whole (too many invalid rows), the errors its report lists."""
    with Session(engine) as session:
        run = session.get(HarvestRun, run_id)
    listed = run.report["tasks"][0]["errors"] if run is not None and run.report else []
    return quarantine_notes(engine, run_id) or [error["message"] for error in listed]


def assert_refused(engine: Engine, outcome: Outcome, pattern: str) -> None:
    """A refusal: said why, recorded as a refused run with that reason."""
    assert outcome.status == "refused", outcome
    assert re.search(pattern, outcome.message), outcome.message
    assert outcome.run_id is not None
    with Session(engine) as session:
        run = session.get(HarvestRun, outcome.run_id)
    assert run is not None and run.status == "refused" and run.error == outcome.message
    assert run.finished_at is not None


def assert_failed(outcome: Outcome, pattern: str) -> None:
    assert outcome.status == "failed", outcome
    assert re.search(pattern, outcome.message), outcome.message
    assert (outcome.published, outcome.updated) == (0, 0)


@pytest.fixture
def published(engine: Engine, tmp_path: Path) -> dict[str, Any]:
    """The dataset with its good batch, as a snapshot."""
    outcome = harvest(tmp_path, f"file://{write_csv(tmp_path / 'good.csv', *GOOD)}", name="good")
    assert (outcome.status, outcome.published) == ("succeeded", len(GOOD)), outcome
    before = snapshot(engine)
    assert values(before) == {
        ("FR-GOOD-1", "no2", f"2025-09-01T{h}"): v
        for h, v in (("00", 11.5), ("01", 12.5), ("02", 13.5))
    }
    return before


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """One retry after a few milliseconds, not three after seconds; local servers reachable."""
    monkeypatch.setattr(fetch_module, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setenv("HUB_FETCH_RETRIES", "1")
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
    get_settings.cache_clear()


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """A 1 MB fetch cap, as a territory would set it."""
    cap = 1_000_000
    monkeypatch.setenv("HUB_FETCH_MAX_BYTES", str(cap))
    get_settings.cache_clear()
    return cap


# --- an operator's web server -------------------------------------------------------------------


class Web(ThreadingHTTPServer):
    """A local operator server: files from a folder, and two hostile answers."""

    daemon_threads = True

    def __init__(self, folder: Path):
        super().__init__(("127.0.0.1", 0), WebHandler)
        self.folder = folder

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the hub hangs up on an oversized body: a broken pipe is expected

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{path}"


class WebHandler(BaseHTTPRequestHandler):
    server: Web

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/declares-2GiB.csv":  # a Content-Length over the cap, and no body
            self.send_response(200)
            self.send_header("Content-Length", str(2 * 1024**3))
            self.end_headers()
            return
        if self.path == "/endless.csv":  # no Content-Length: the body ends when we hang up
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write((HEADER + "\n").encode())
            line = (GOOD[0] + "\n").encode() * 1000
            for _ in range(2000):  # ~100 MB at most, if nobody hangs up
                self.wfile.write(line)
            return
        path = self.server.folder / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)  # even for an HTML error page: that is the point
        self.send_header(
            "Content-Type", "text/html" if body.startswith(b"<!DOCTYPE") else "text/csv"
        )
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")  # the operator serves locally
    get_settings.cache_clear()
    folder = tmp_path / "www"
    folder.mkdir()
    server = Web(folder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- 1. feeds that cannot be fetched ------------------------------------------------------------


def test_a_missing_file_is_a_fetch_error_and_stores_nothing(engine, tmp_path, published):
    missing = tmp_path / "exports" / "no2-today.csv"
    outcome = harvest(tmp_path, f"file://{missing}")
    # Named relative to the source file's folder: run errors are public, the hub's folders not.
    assert_failed(outcome, r"FetchError: no such file: exports/no2-today\.csv$")
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_an_unreachable_server_is_a_fetch_error_and_stores_nothing(
    engine, tmp_path, published, quick_retries
):
    url = f"http://127.0.0.1:{closed_port()}/no2.csv"
    outcome = harvest(tmp_path, url)
    assert_failed(outcome, rf"FetchError: {re.escape(url)}: ConnectError.*gave up after 2 attempts")
    assert_untouched(engine, published)
    assert_nothing_running(engine)
    assert not list((get_settings().data_dir / "downloads" / DATASET).glob("no2*"))


# --- 2. a wrong encoding ------------------------------------------------------------------------


STATION_OPTIONS = {  # as in pipelines/sources/atmo-occitanie-stations.yaml
    "encoding": "cp1252",
    "delimiter": ",",
    "decimal": ",",
    "columns": {
        "station_id": "Station_numBDQA",
        "name": "Station_nom",
        "operator": "Station_AASQA",
        "national_code": "Station_numBDQA",
        "typology": "Station_Typologie",
        "station_type": {
            "column": "Station_Typologie",
            "map": {
                "trafic": "traffic",
                "urbain": "background",
                "périurbain": "background",
                "industrielle": "industrial",
                "rurale régionale": "background",
            },
        },
        "area_type": {
            "column": "Station_Typologie",
            "map": {
                "trafic": "urban",
                "urbain": "urban",
                "périurbain": "suburban",
                "industrielle": "suburban",
                "rurale régionale": "rural-regional",
            },
        },
        "address": "Station_rue",
        "postcode": "Station_codepost",
        "commune": "Station_ville",
        "country": {"value": "FR"},
        "longitude": "Station_longitude",
        "latitude": "Station_latitude",
        "comment": "Station_commentaire",
    },
}


def station_source(folder: Path, samples: Path, name: str, **options: Any) -> Source:
    return source(
        folder,
        f"file://{samples / STATIONS}",
        dataset="bad-input-stations",
        schema="air-quality-station",
        charter="atmo-occitanie-etalab",
        operator="atmo-occitanie",
        options={**STATION_OPTIONS, **options},
        name=name,
    )


def test_a_cp1252_file_read_as_utf8_fails_naming_the_encoding(engine, tmp_path, samples):
    good = harvest_source(station_source(tmp_path, samples, "good"))
    assert (good.status, good.published) == ("succeeded", 20), good
    before = snapshot(engine, "bad-input-stations")
    assert {(r["station_id"], r["name"]) for r in before["records"]} >= {
        ("08016", "Près d'Arènes"),
        ("08004", "Saint-Denis"),
    }

    outcome = harvest_source(station_source(tmp_path, samples, "bad", encoding="utf-8"))
    assert_failed(
        outcome,
        r"not valid utf-8 text at byte offset \d+ \(bytes [0-9a-f]{2}\).*"
        r"options: {encoding: cp1252}",
    )
    assert STATIONS.split("/")[1] in outcome.message
    run = latest_run(engine, "bad-input-stations")
    assert run.status == "failed" and "not valid utf-8" in run.error
    assert quarantine_notes(engine, run.id) == []
    assert_untouched(engine, before, "bad-input-stations")
    assert_nothing_running(engine)


def test_a_bad_byte_deep_in_a_large_file_stores_none_of_the_rows_before_it(
    engine, tmp_path, published
):
    path = tmp_path / "large.csv"
    rows = [
        f"FR-BULK-{i % 50:02d},Station,no2,{i % 90}.5,µg/m³,PT1H,"
        f"2025-08-{1 + i // 1200:02d}T{(i // 50) % 24:02d}:00:00Z,3.88,43.61,valid"
        for i in range(36_000)
    ]
    rows[5] = rows[5].replace(",valid", ",dubious")  # a row quarantined before the failure
    write_csv(path, GOOD[0].replace("11.5", "99.9"), *rows)  # a key of the good batch
    bad_at = path.stat().st_size + len("FR-BULK-99,N")
    assert bad_at > 2 * MIN_FIRST_BLOCK  # well past the first block of rows the reader parses
    with path.open("ab") as out:
        out.write(
            "FR-BULK-99,Nîmes,no2,1.0,µg/m³,PT1H,2025-09-03T00:00:00Z,4.36,43.83,valid\n".encode(
                "cp1252"
            )
        )

    outcome = harvest(tmp_path, f"file://{path}")
    assert_failed(outcome, rf"not valid utf-8 text at byte offset {bad_at} \(bytes ee\)")
    run = latest_run(engine)
    assert run.status == "failed" and run.error == outcome.message
    assert run.rows_read > 0  # rows before the bad byte were read … and none kept:
    assert quarantine_notes(engine, run.id) == []
    assert_untouched(engine, published)
    assert_nothing_running(engine)


# --- 3. mappings and values that cannot be normalised -------------------------------------------


def test_a_mapping_that_names_an_unknown_column_fails_the_batch_saying_so(
    engine, tmp_path, published
):
    path = write_csv(tmp_path / "renamed.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", options={"columns": {"value": "Valeur"}})
    assert (outcome.status, outcome.read, outcome.quarantined, outcome.published) == (
        "failed",
        1,
        0,
        0,
    ), outcome  # every row invalid: refused whole
    notes = reasons(engine, outcome.run_id)
    assert any(
        "source column 'Valeur' (for field 'value') is not in the file" in n for n in notes
    ), notes
    assert_earlier_records_kept(engine, published, added=0)
    assert_nothing_running(engine)


def test_a_mapping_onto_a_field_the_schema_lacks_is_a_clear_error(engine, tmp_path, published):
    path = write_csv(tmp_path / "renamed.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", options={"columns": {"valeur": "value"}})
    assert_failed(
        outcome,
        r"options\.columns names 'valeur', which is not a field of schema "
        r"'air-quality-observation' \(its fields: station_id, .*value",
    )
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_a_value_that_is_not_a_number_is_quarantined_with_its_reason(engine, tmp_path, published):
    path = write_csv(
        tmp_path / "values.csv",
        GOOD[0].replace("11.5", "douze"),  # the good row's key, a bad value
        GOOD[1].replace("12.5", '"12,5 µg"'),
        *(GOOD[2].replace("T02:", f"T0{hour}:").replace("13.5", "14.5") for hour in (3, 4, 5)),
    )  # new, good rows: 2 of 5 invalid, under 50 %
    outcome = harvest(tmp_path, f"file://{path}")
    assert (outcome.status, outcome.quarantined, outcome.published) == ("partial", 2, 3), outcome
    notes = quarantine_notes(engine, outcome.run_id)
    assert any("'douze' is not a number" in n for n in notes), notes
    assert any("'12,5 µg' is not a number" in n for n in notes), notes
    assert_earlier_records_kept(engine, published, added=3)
    assert values(snapshot(engine))[("FR-GOOD-1", "no2", "2025-09-01T00")] == 11.5
    assert_nothing_running(engine)


def test_a_timestamp_without_a_zone_is_quarantined_not_guessed(engine, tmp_path, published):
    naive = GOOD[0].replace("11.5", "99.9").replace(":00:00Z", ":00:00")
    new = [GOOD[2].replace("T02:", f"T0{hour}:") for hour in (6, 7)]  # under the 50 % threshold
    outcome = harvest(tmp_path, f"file://{write_csv(tmp_path / 'naive.csv', naive, *new)}")
    assert (outcome.status, outcome.quarantined, outcome.published) == ("partial", 1, 2), outcome
    notes = quarantine_notes(engine, outcome.run_id)
    assert any(
        "timestamp '2025-09-01T00:00:00' has no time zone and the source sets no "
        "options.timezone" in n
        for n in notes
    ), notes
    assert_earlier_records_kept(engine, published, added=2)
    assert_nothing_running(engine)


def test_lambert93_coordinates_outside_its_area_of_use_are_quarantined(engine, tmp_path, published):
    # A careless export: WGS84 degrees under a source that declares Lambert-93, and a typo.
    degrees = GOOD[0].replace("11.5", "99.9")
    typo = GOOD[1].replace("12.5", "99.9").replace("3.88,43.61", "770000,62800000")
    inside = [
        GOOD[2].replace("T02:", f"T0{hour}:").replace("3.88,43.61", "770000,6280000")
        for hour in (4, 5, 6)
    ]  # 2 of 5 rows invalid: under the 50 % threshold
    path = write_csv(tmp_path / "l93.csv", degrees, typo, *inside)
    outcome = harvest(tmp_path, f"file://{path}", options={"crs": "EPSG:2154"})
    assert (outcome.status, outcome.quarantined, outcome.published) == ("partial", 2, 3), outcome
    notes = quarantine_notes(engine, outcome.run_id)
    assert any(
        "coordinates x=3.88, y=43.61 lie outside the area of use of EPSG:2154" in n for n in notes
    ), notes
    assert any("x=770000, y=62800000" in n for n in notes), notes
    assert_earlier_records_kept(engine, published, added=3)
    new = [r for r in snapshot(engine)["records"] if _hour(r["observed_at"]) == "2025-09-01T04"]
    assert len(new) == 1 and 3.8 < new[0]["longitude"] < 3.9 and 43.5 < new[0]["latitude"] < 43.7
    assert_nothing_running(engine)


def test_an_unknown_crs_is_a_clear_error(engine, tmp_path, published):
    path = write_csv(tmp_path / "crs.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", options={"crs": "EPSG:999999"})
    assert_failed(outcome, r"unknown CRS 'EPSG:999999': pyproj does not recognise it")
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_an_unknown_schema_is_a_clear_error_listing_the_known_ones(engine, tmp_path, published):
    path = write_csv(tmp_path / "schema.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", schema="air-quality-observations")
    assert outcome.status in ("failed", "refused"), outcome
    assert "unknown schema 'air-quality-observations'" in outcome.message
    assert "known schemas: air-quality-observation, air-quality-station" in outcome.message
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_an_unknown_charter_is_refused_listing_the_known_ones(engine, tmp_path, published):
    path = write_csv(tmp_path / "charter.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", charter="atmo-demo-opne")
    assert_refused(
        engine,
        outcome,
        r"unknown charter 'atmo-demo-opne'; known charters: (\S+, )*atmo-demo-open, ",
    )
    assert_untouched(engine, published)
    assert_nothing_running(engine)


@pytest.fixture
def territory_charters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A territory's own charter folder on HUB_CHARTERS_PATH, searched before the bundled one."""
    folder = tmp_path / "territory-charters"
    folder.mkdir()
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    get_settings.cache_clear()
    return folder


CHARTER = """# written by a territory
id: {id}
version: "1.0"
title: Open air-quality data of the demo observatory, first agreement
producer: atmo-demo
licence:
  id: etalab-2.0
  label: Licence Ouverte / Open Licence 2.0 (Etalab)
  uri: https://www.etalab.gouv.fr/licence-ouverte-open-licence/
access: {access}
purposes: [public-information]
gdpr_sensitive: false
valid_from: "2019-01-01"
valid_until: "{until}"
themes: [air-quality]
"""


def test_an_expired_charter_is_refused(engine, tmp_path, published, territory_charters):
    (territory_charters / "atmo-demo-2019.yaml").write_text(
        CHARTER.format(id="atmo-demo-2019", access="open", until="2019-12-31"), encoding="utf-8"
    )
    path = write_csv(tmp_path / "expired.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", charter="atmo-demo-2019")
    assert_refused(
        engine,
        outcome,
        r"charter 'atmo-demo-2019' version 1\.0 has expired: it was "
        r"in force until 2019-12-31",
    )
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_another_producers_charter_is_refused(engine, tmp_path, published):
    path = write_csv(tmp_path / "borrowed.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", charter="openaq-cc-by")
    assert_refused(
        engine,
        outcome,
        r"charter 'openaq-cc-by' version 1\.0 belongs to producer "
        r"'openaq': 'atmo-demo' cannot publish under it",
    )
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_another_operator_cannot_take_over_a_dataset_id(engine, tmp_path, published):
    # OpenAQ's own charter, but the dataset id belongs to Atmo Demo.
    path = write_csv(tmp_path / "takeover.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", charter="openaq-cc-by", operator="openaq")
    assert_refused(
        engine,
        outcome,
        r"dataset 'bad-input-air' belongs to 'atmo-demo', not "
        r"'openaq'",
    )
    assert_untouched(engine, published)
    assert_nothing_running(engine)


# --- 4. hostile files the fetch layer takes -----------------------------------------------------


def gzip_bomb(path: Path, megabytes: int = 64) -> Path:
    """A CSV header then `megabytes` MiB of zeros: ~1000:1 compressed."""
    zeros = b"\0" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write((HEADER + "\n").encode())
        for _ in range(megabytes):
            out.write(zeros)
    return path


@pytest.mark.parametrize("where", ["file", "http"])
def test_a_gzip_bomb_is_stopped_at_the_cap(engine, tmp_path, published, small_cap, web, where):
    bomb = gzip_bomb(tmp_path / "www" / "no2.csv.gz")
    assert bomb.stat().st_size < small_cap
    url = f"file://{bomb}" if where == "file" else web.url("no2.csv.gz")
    outcome = harvest(tmp_path, url)
    assert_failed(outcome, rf"no2\.csv\.gz decompresses to over {small_cap} bytes")
    downloads = get_settings().data_dir / "downloads" / DATASET
    assert not (downloads / "no2.csv").exists()
    assert [p.name for p in downloads.iterdir() if p.name.startswith(".")] == []  # no temp file
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_a_zip_whose_members_pass_the_cap_is_refused(engine, tmp_path, published, small_cap):
    """HUB_FETCH_MAX_BYTES holds for what an archive expands to, not only for the download."""
    values = random.Random(7).choices(range(1000), k=small_cap // 40)  # compresses ~8×: no bomb
    rows = [GOOD[0].replace("11.5", f"{value}.5") for value in values]
    member = ("\n".join([HEADER, *rows]) + "\n").encode()
    archive = tmp_path / "no2.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("no2.csv", member)
    assert archive.stat().st_size < small_cap < len(member)
    outcome = harvest(tmp_path, f"file://{archive}")
    assert_failed(outcome, "over its size limit")
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_a_broken_gzip_archive_is_a_clear_error(engine, tmp_path, published):
    whole = gzip.compress(("\n".join([HEADER, *GOOD]) + "\n").encode() * 50)
    broken = tmp_path / "no2.csv.gz"
    broken.write_bytes(whole[: len(whole) // 2])
    outcome = harvest(tmp_path, f"file://{broken}")
    assert_failed(outcome, r"no2\.csv\.gz is not a readable gzip file")
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_a_local_file_over_the_real_size_cap_is_refused_before_reading(engine, tmp_path, published):
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as out:  # sparse: no disk used, nothing read
        out.truncate(DEFAULT_CAP + 1)
    outcome = harvest(tmp_path, f"file://{huge}")
    assert_failed(outcome, rf"is {DEFAULT_CAP + 1} bytes, over the {DEFAULT_CAP}-byte limit")
    assert not (get_settings().data_dir / "downloads" / DATASET / "huge.csv").exists()
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_a_download_declaring_more_than_the_real_cap_is_refused(engine, tmp_path, published, web):
    outcome = harvest(tmp_path, web.url("declares-2GiB.csv"))
    assert_failed(outcome, rf"is {2 * 1024**3} bytes, over the {DEFAULT_CAP}-byte limit")
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_an_endless_download_is_cut_at_the_cap(engine, tmp_path, published, web, small_cap):
    outcome = harvest(tmp_path, web.url("endless.csv"))
    assert_failed(outcome, rf"endless\.csv is over the {small_cap}-byte limit")
    downloads = get_settings().data_dir / "downloads" / DATASET
    assert not (downloads / "endless.csv").exists() and not list(downloads.glob(".endless*"))
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_binary_garbage_is_not_read_as_csv(engine, tmp_path, published):
    garbage = tmp_path / "no2.csv"
    garbage.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + os.urandom(20_000))  # a zip, renamed
    outcome = harvest(tmp_path, f"file://{garbage}")
    assert_failed(outcome, r"not a CSV text file \(NUL byte at offset \d+\)")
    assert latest_run(engine).status == "failed"
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_an_html_error_page_served_with_200_fails_saying_why(engine, tmp_path, published, web):
    (Path(web.folder) / "no2.csv").write_text(HTML_PAGE, encoding="utf-8")
    options = {
        "delimiter": ";",
        "decimal": ",",
        "crs": "EPSG:2154",  # the demo feed's mapping
        "columns": {
            "station_id": "code_station",
            "station_name": "nom_station",
            "pollutant": "polluant",
            "value": "valeur",
            "unit": "unite",
            "averaging_period": {"value": "PT1H"},
            "observed_at": "date_fin",
            "longitude": "x_l93",
            "latitude": "y_l93",
        },
    }
    outcome = harvest(tmp_path, web.url("no2.csv"), options=options)
    assert outcome.published == 0 and outcome.updated == 0
    assert outcome.status == "failed" and outcome.read > 0 and outcome.quarantined == 0, outcome
    assert "every row was invalid" in outcome.message
    notes = reasons(engine, outcome.run_id)
    assert len(notes) >= outcome.read
    assert all(
        "is not in the file; its columns are: <!DOCTYPE html>" in n
        for n in notes
        if "source column" in n
    )
    assert sum("source column 'code_station'" in n for n in notes) == outcome.read
    assert_earlier_records_kept(engine, published, added=0)
    assert_nothing_running(engine)


def test_an_html_error_page_instead_of_an_openaq_export_fails_saying_why(
    engine, tmp_path, samples, web
):
    real = harvest(
        tmp_path,
        f"file://{samples}/air/openaq_location_3145071_measurements.csv",
        dataset="bad-input-openaq",
        fmt="openaq-csv",
        charter="openaq-cc-by",
        operator="openaq",
        name="good-openaq",
    )
    assert (real.status, real.published) == ("succeeded", 1000), real
    before = snapshot(engine, "bad-input-openaq")
    (Path(web.folder) / "measurements.csv").write_text(HTML_PAGE, encoding="utf-8")
    outcome = harvest(
        tmp_path,
        web.url("measurements.csv"),
        dataset="bad-input-openaq",
        fmt="openaq-csv",
        charter="openaq-cc-by",
        operator="openaq",
    )
    assert (outcome.published, outcome.updated, outcome.quarantined) == (0, 0, 0)
    assert outcome.status == "failed" and outcome.read > 0, outcome
    notes = reasons(engine, outcome.run_id)
    assert (
        sum(
            "source column 'location_id' (for field 'station_id') is not in the file" in n
            for n in notes
        )
        == outcome.read
    )
    assert snapshot(engine, "bad-input-openaq")["records"] == before["records"]
    assert_nothing_running(engine)


# --- 5. broken schema, charter and source files -------------------------------------------------


def line_of(path: Path, text: str) -> int:
    return next(
        n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line
    )


@pytest.fixture
def territory_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "territory-schemas"
    folder.mkdir()
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(folder))
    get_settings.cache_clear()
    return folder


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"type": "number"', '"type": "numbr"', r"field 'value' type: .*numbr"),
        ('"theme": "air-quality"', '"theme": "air"', r"theme: 'air' is not one of"),
    ],
)
def test_a_schema_file_that_fails_its_profile_fails_the_harvest_with_file_and_line(
    engine, tmp_path, published, territory_schemas, old, new, message
):
    bundled = PROJECT_ROOT / "schemas" / "air-quality-observation.schema.json"
    broken = territory_schemas / bundled.name  # shadows the bundled schema of the same name
    broken.write_text(bundled.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    line = line_of(broken, new)
    with pytest.raises(schemas.SchemaFileError) as raised:
        schemas.load_schema("air-quality-observation")
    assert raised.value.path == broken and raised.value.line == line
    assert re.search(rf"{re.escape(str(broken))}:{line}: {message}", str(raised.value))

    path = write_csv(tmp_path / "schema.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}")
    assert outcome.status in ("failed", "refused"), outcome
    assert f"{broken.name}:{line}:" in outcome.message  # the hub's folders are not public
    assert str(tmp_path) not in outcome.message
    assert_untouched(engine, published)
    assert_nothing_running(engine)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("access: open", "access: opne", r"access: 'opne' is not one of \['open', "),
        (
            'valid_from: "2019-01-01"',
            "valid_from: 2019-13-01",
            r"valid_from: '2019-13-01' is not a "
            r"'date'",
        ),
        (
            "gdpr_sensitive: false",
            "gdpr_sensitve: false",
            r"Additional properties are not allowed "
            r"\('gdpr_sensitve' was unexpected\)",
        ),
    ],
)
def test_a_charter_file_that_fails_its_profile_fails_the_harvest_with_file_and_line(
    engine, tmp_path, published, territory_charters, old, new, message
):
    broken = territory_charters / "atmo-demo-open.yaml"  # shadows the bundled charter
    broken.write_text(
        CHARTER.format(id="atmo-demo-open", access="open", until="2030-12-31").replace(old, new),
        encoding="utf-8",
    )
    located = rf"{re.escape(str(broken))}:{line_of(broken, new)}: {message}"
    with pytest.raises(charters.CharterError) as raised:
        charters.load_charter("atmo-demo-open")
    assert raised.value.path == broken
    assert re.search(located, str(raised.value)), str(raised.value)

    path = write_csv(tmp_path / "charter.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}")
    assert outcome.status in ("failed", "refused"), outcome
    assert f"{broken.name}:{line_of(broken, new)}: " in outcome.message  # no folder of the hub's
    assert str(tmp_path) not in outcome.message
    with Session(engine) as session:
        stored = session.exec(select(HarvestRun).order_by(col(HarvestRun.id).desc())).first()
    assert stored is not None and str(tmp_path) not in stored.error
    assert broken.name in stored.error
    assert_untouched(engine, published)
    assert_nothing_running(engine)


def test_a_source_file_with_a_typo_fails_at_load_with_file_and_line(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(
        """id: typo
title: A typo
operator: {id: atmo-demo, name: Atmo Demo, kind: public}
theme: air-quality
format: csv
url: file:///nowhere.csv
schema: air-quality-observation
chartre: atmo-demo-open
""",
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match=rf"{re.escape(str(path))}:8: unknown key 'chartre'"):
        load_source(path)


def test_hub_validate_reports_a_header_that_does_not_match(tmp_path):
    swapped = ["station_id", "pollutant", "station_name", *FIELDS[3:]]
    path = write_csv(
        tmp_path / "swapped.csv",
        "FR-GOOD-1,no2,Comédie,11.5,µg/m³,PT1H,2025-09-01T00:00:00Z,3.88,43.61,valid",
        header=",".join(swapped),
    )
    result = runner.invoke(
        app, ["validate", str(path), "--schema", "air-quality-observation", "--json"]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    errors = report["tasks"][0]["errors"]
    labels = sorted(
        (e["type"], e["fieldName"], e["label"]) for e in errors if e["type"] == "incorrect-label"
    )
    assert labels == [
        ("incorrect-label", "pollutant", "station_name"),
        ("incorrect-label", "station_name", "pollutant"),
    ]
    # Not guessed at: the cells are read by position, so "Comédie" is checked as a pollutant.
    assert any(
        e["type"] == "constraint-error" and e["fieldName"] == "pollutant" and e["cell"] == "Comédie"
        for e in errors
    )


def test_hub_validate_reports_an_html_page_as_missing_labels(tmp_path):
    page = tmp_path / "page.csv"
    page.write_text(HTML_PAGE, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(page), "--schema", "air-quality-observation"])
    assert result.exit_code == 1
    assert "INVALID" in result.stdout and "missing-label" in result.stdout
    assert "incorrect-label" in result.stdout


def test_hub_validate_names_the_broken_schema_file_and_line(tmp_path):
    bundled = PROJECT_ROOT / "schemas" / "air-quality-observation.schema.json"
    folder = tmp_path / "territoire-montpellier-mediterranee-metropole" / "schemas-partages"
    folder.mkdir(parents=True)  # a real territory's path: longer than a terminal line
    broken = folder / "qualite-air-observation.schema.json"
    broken.write_text(
        bundled.read_text(encoding="utf-8").replace('"type": "number"', '"type": "numbr"', 1),
        encoding="utf-8",
    )
    data = write_csv(tmp_path / "good.csv", *GOOD)
    result = runner.invoke(app, ["validate", str(data), "--schema", str(broken)])
    assert result.exit_code == 2
    assert "numbr" in result.output
    assert f"{broken}:{line_of(broken, 'numbr')}: field 'value'" in result.output


# --- product bugs found here (xfail until fixed) ------------------------------------------------


def test_a_failed_harvest_names_its_recorded_run(engine, tmp_path, published):
    garbage = tmp_path / "no2.csv"
    garbage.write_bytes(b"\x00\x01\x02" * 1000)
    outcome = harvest(tmp_path, f"file://{garbage}")
    assert outcome.status == "failed"
    assert outcome.run_id == latest_run(engine).id


@pytest.mark.parametrize(
    "setting",
    [
        {"options": {"crs": "EPSG:999999"}},
        {"schema": "air-quality-observations"},
        {"options": {"columns": {"valeur": "value"}}},
        {"options": {"encodage": "utf-8"}},
    ],
    ids=["unknown-crs", "unknown-schema", "unknown-field", "unknown-option"],
)
def test_a_misconfigured_source_is_recorded_in_the_run_history(
    engine, tmp_path, published, setting
):
    path = write_csv(tmp_path / "config.csv", GOOD[0].replace("11.5", "99.9"))
    outcome = harvest(tmp_path, f"file://{path}", **setting)
    assert outcome.status in ("failed", "refused")
    run = latest_run(engine)
    assert run.status == outcome.status and run.error and run.error in outcome.message


@pytest.mark.parametrize("content", ["html", "renamed-column"])
def test_a_csv_whose_header_does_not_match_the_schema_is_reported_as_such(
    engine, tmp_path, published, web, content
):
    body = (
        HTML_PAGE
        if content == "html"
        else "\n".join([HEADER.replace(",value,", ",valeur,"), GOOD[0].replace("11.5", "99.9")])
    )
    (Path(web.folder) / "no2.csv").write_text(body, encoding="utf-8")
    outcome = harvest(tmp_path, web.url("no2.csv"))
    assert (outcome.published, outcome.updated) == (0, 0)
    assert_earlier_records_kept(engine, published, added=0)
    said = " ".join([outcome.message, *reasons(engine, outcome.run_id)])
    # (an HTML page's empty lines are truly blank rows: only the header note is required here)
    assert re.search(r"not in the file|header|label", said), said
    assert "value" in said


def test_a_file_with_one_huge_cell_does_not_exhaust_memory(engine, tmp_path, published):
    path = tmp_path / "long.csv"
    huge = GOOD[0].replace("11.5", "x" * (4 << 20))  # one 4 MiB cell, well under the fetch cap
    write_csv(path, huge, GOOD[1].replace("T01:", "T05:"))
    outcome = harvest(tmp_path, f"file://{path}")
    assert "MemoryError" not in outcome.message, outcome.message
    assert outcome.status == "partial" and outcome.quarantined == 1 and outcome.published == 1
    assert_earlier_records_kept(engine, published, added=1)
    assert_nothing_running(engine)


def test_a_failed_run_claims_no_quarantined_rows_it_does_not_keep(engine, tmp_path, published):
    path = tmp_path / "large.csv"
    rows = [
        f"FR-BULK-{i % 50:02d},Station,no2,{i % 90}.5,µg/m³,PT1H,"
        f"2025-08-{1 + i // 1200:02d}T{(i // 50) % 24:02d}:00:00Z,3.88,43.61,dubious"
        for i in range(36_000)
    ]  # every row quarantined (bad quality flag)
    write_csv(path, *rows)
    with path.open("ab") as out:
        out.write(
            "FR-BULK-99,Nîmes,no2,1.0,µg/m³,PT1H,2025-09-03T00:00:00Z,4.36,43.83,valid\n".encode(
                "cp1252"
            )
        )
    outcome = harvest(tmp_path, f"file://{path}")
    assert outcome.status == "failed"
    run = latest_run(engine)
    assert run.rows_quarantined == len(quarantine_notes(engine, run.id)) == 0


def test_the_helpers_see_a_change(engine, tmp_path, published):
    """The checks above can fail: a real change to the good batch is caught by them."""
    fixed = write_csv(tmp_path / "fixed.csv", GOOD[0].replace("11.5", "11.6"))
    outcome = harvest(tmp_path, f"file://{fixed}", name="fixed")
    assert (outcome.status, outcome.updated) == ("succeeded", 1)
    with pytest.raises(AssertionError):
        assert_untouched(engine, published)
    with pytest.raises(AssertionError):
        assert_earlier_records_kept(engine, published, added=0)
