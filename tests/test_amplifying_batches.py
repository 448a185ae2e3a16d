"""Batches that amplify: a feed that is mostly invalid, or whose quarantine passes its cap, is
refused whole — no row published, none quarantined — and its run keeps the counts and its first
errors; a feed of which every row is invalid fails even when a source allows it to be.

Harvested through the real path: a source file over a local CSV (gzipped where it says so),
`pipelines.harvesting.harvest_source(load_source(path))`. The CLI's exit codes are in
tests/flows/test_amplifying_harvest.py.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api.support import air_batch, bearer, client_for, frame_of, write_closed_charters
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from hub import catalogue
from hub.catalogue import REJECTED_ERROR_CAP, BatchRejected, publish
from hub.config import get_settings
from hub.models import Dataset, HarvestRun, QuarantinedRow
from pipelines.harvesting import Outcome, harvest_source
from pipelines.sources import SourceError, load_source

DATASET = "amplifying-air"
HEADER = (
    "station_id,station_name,pollutant,value,unit,averaging_period,observed_at,longitude,"
    "latitude,quality_flag"
)
START = datetime(2025, 1, 1, tzinfo=UTC)


def row(i: int, *, bad: bool = False, station: str = "FR-AMP-1") -> str:
    """The i-th hourly NO2 observation; a bad one has a value that is no number."""
    moment = (START + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
    value = "high" if bad else f"{10 + i % 50}.5"
    return f"{station},Amplified,no2,{value},µg/m³,PT1H,{moment},3.88,43.61,valid"


def write_feed(path: Path, lines: list[str]) -> Path:
    """A CSV feed (gzipped when the name ends in .gz) with the schema's header."""
    text = "\n".join([HEADER, *lines]) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def source_file(
    folder: Path, data: Path, options: dict[str, Any] | None = None, name: str = "feed"
) -> Path:
    """A harvest source file over `data`, beside it (an allowed root)."""
    path = folder / f"{name}.yaml"
    extra = f"options: {json.dumps(options)}\n" if options is not None else ""
    path.write_text(
        f"""
id: {DATASET}
title: Amplifying air quality
operator: {{id: atmo-demo, name: Atmo Demo, kind: public}}
theme: air-quality
format: csv
url: file://{data}
schema: air-quality-observation
charter: atmo-demo-open
{extra}""",
        encoding="utf-8",
    )
    return path


def harvest(
    folder: Path,
    lines: list[str],
    options: dict[str, Any] | None = None,
    name: str = "feed",
    suffix: str = ".csv",
) -> Outcome:
    data = write_feed(folder / f"{name}{suffix}", lines)
    return harvest_source(load_source(source_file(folder, data, options, name)))


def run_of(engine: Engine, outcome: Outcome) -> HarvestRun:
    with Session(engine) as session:
        run = session.get(HarvestRun, outcome.run_id)
    assert run is not None
    return run


def quarantined_count(engine: Engine, run_id: int | None) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(QuarantinedRow).where(QuarantinedRow.run_id == run_id)
        ).one()


def record_count(engine: Engine) -> int:
    with Session(engine) as session:
        if session.get(Dataset, DATASET) is None:
            return 0
        table = catalogue.resource_of(session, DATASET).table_name
    with engine.connect() as connection:
        return connection.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()


def assert_refused_whole(engine: Engine, outcome: Outcome, records_before: int) -> HarvestRun:
    """Failed, nothing of the batch kept, the counts and first errors in the run."""
    assert outcome.status == "failed", outcome
    assert (outcome.published, outcome.updated, outcome.quarantined) == (0, 0, 0), outcome
    run = run_of(engine, outcome)
    assert run.status == "failed" and run.error == outcome.message and run.finished_at
    assert "refused whole" in run.error
    assert (run.rows_published, run.rows_quarantined) == (0, 0) and run.rows_read == outcome.read
    assert quarantined_count(engine, run.id) == 0
    assert record_count(engine) == records_before
    task = run.report["tasks"][0]
    assert run.report["valid"] is False and task["stats"]["rows"] == run.rows_read
    assert 0 < len(task["errors"]) <= min(REJECTED_ERROR_CAP, task["stats"]["errors"])
    assert task["warnings"][0] == run.error  # the report says why no row of it is kept
    return run


@pytest.fixture
def earlier(engine: Engine, tmp_path: Path) -> int:
    """A first good batch of the dataset: 48 records the bad batches must leave alone."""
    outcome = harvest(tmp_path, [row(i) for i in range(48)], name="good")
    assert (outcome.status, outcome.published) == ("succeeded", 48), outcome
    return 48


def test_a_gzip_of_identical_invalid_rows_stops_at_the_cap_and_keeps_nothing(
    engine, tmp_path, earlier
):
    outcome = harvest(tmp_path, [row(0, bad=True)] * 200_000, name="flood", suffix=".csv.gz")
    run = assert_refused_whole(engine, outcome, earlier)
    # It stopped reading soon after passing the default cap: the rest could not save it.
    assert 100_000 < run.rows_read < 200_000
    assert f"stopped after {run.rows_read:,} rows read, {run.rows_read:,} of them invalid" in (
        run.error
    )
    assert "quarantine cap of 100,000 rows (quarantine_cap)" in run.error
    assert len(run.report["tasks"][0]["errors"]) == REJECTED_ERROR_CAP


def test_a_batch_over_the_invalid_share_is_refused_whole(engine, tmp_path, earlier):
    # 600 bad rows among 1 000; the 400 good ones are new hours, and must not be published.
    lines = [row(100 + i, bad=i % 5 < 3) for i in range(1_000)]
    outcome = harvest(tmp_path, lines)
    run = assert_refused_whole(engine, outcome, earlier)
    assert run.rows_read == 1_000
    assert run.error.startswith(
        "too many invalid rows: 600 of 1,000 rows read were invalid "
        "(60%), over the 50% threshold (max_invalid_share)"
    )
    task = run.report["tasks"][0]
    assert len(task["errors"]) == REJECTED_ERROR_CAP and task["stats"]["errors"] >= 600
    assert task["errors"][0]["rowNumber"] == 2
    assert "'high' is not a number" in task["errors"][0]["message"]


@pytest.mark.parametrize("bad", [499, 500])
def test_a_batch_at_or_just_under_the_threshold_publishes_and_quarantines(
    engine, tmp_path, earlier, bad
):
    lines = [row(100 + i, bad=i < bad) for i in range(1_000)]
    outcome = harvest(tmp_path, lines)
    assert (outcome.status, outcome.published, outcome.quarantined) == (
        "partial",
        1_000 - bad,
        bad,
    ), outcome
    assert quarantined_count(engine, outcome.run_id) == bad
    assert record_count(engine) == earlier + 1_000 - bad
    assert not outcome.message


def test_every_row_invalid_fails_even_when_the_source_allows_it_and_keeps_its_quarantine(
    engine, tmp_path, earlier
):
    lines = [row(100 + i, bad=True) for i in range(30)]
    outcome = harvest(tmp_path, lines, options={"max_invalid_share": 1})
    assert (outcome.status, outcome.read, outcome.quarantined, outcome.published) == (
        "failed",
        30,
        30,
        0,
    ), outcome
    assert outcome.message.startswith("every row was invalid: 30 rows read, all quarantined")
    run = run_of(engine, outcome)
    assert (run.status, run.error) == ("failed", outcome.message)
    # The operator reads why, row by row, in the quarantine.
    assert quarantined_count(engine, run.id) == 30
    assert record_count(engine) == earlier


def test_a_source_sets_its_own_share_threshold(engine, tmp_path, earlier):
    lines = [row(100 + i, bad=i % 4 == 0) for i in range(1_000)]  # 25 % invalid
    assert harvest(tmp_path, lines).status == "partial"  # under the hub's 50 %
    strict = harvest(
        tmp_path,
        [row(2_000 + i, bad=i % 4 == 0) for i in range(1_000)],
        options={"max_invalid_share": 0.2, "quarantine_cap": 5000},
        name="strict",
    )
    run = assert_refused_whole(engine, strict, earlier + 750)
    assert "250 of 1,000 rows read were invalid (25%), over the 20% threshold" in run.error


def test_a_source_sets_its_own_quarantine_cap(engine, tmp_path, earlier):
    # 5 001 bad rows among 30 001 (17 %): under the share threshold, over the cap.
    lines = [row(100 + i, bad=i % 6 == 0) for i in range(30_000)] + [row(40_000, bad=True)]
    outcome = harvest(tmp_path, lines, options={"max_invalid_share": 0.2, "quarantine_cap": 5000})
    run = assert_refused_whole(engine, outcome, earlier)
    assert "5,001 of them invalid" in run.error
    assert "past the quarantine cap of 5,000 rows (quarantine_cap)" in run.error
    just = harvest(tmp_path, lines[:-1], options={"quarantine_cap": 5000}, name="just")
    assert (just.status, just.quarantined) == ("partial", 5_000), just


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"max_invalid_share": 1.5}, "max_invalid_share must be a share"),
        ({"max_invalid_share": "half"}, "max_invalid_share must be a share"),
        ({"max_invalid_share": True}, "max_invalid_share must be a share"),
        ({"quarantine_cap": -1}, "quarantine_cap must be a whole number"),
        ({"quarantine_cap": 2.5}, "quarantine_cap must be a whole number"),
        ({"quarantine_cap": "many"}, "quarantine_cap must be a whole number"),
    ],
)
def test_bad_limits_in_a_source_file_are_refused_saying_which(tmp_path, options, said):
    path = source_file(tmp_path, write_feed(tmp_path / "feed.csv", [row(0)]), options)
    with pytest.raises(SourceError, match=said):
        load_source(path)


def test_the_limits_are_options_the_readers_accept(engine, tmp_path):
    outcome = harvest(
        tmp_path,
        [row(i) for i in range(10)],
        options={"delimiter": ",", "max_invalid_share": 0.2, "quarantine_cap": 5000},
    )
    assert (outcome.status, outcome.published) == ("succeeded", 10), outcome


def test_a_refused_batch_shows_its_first_errors_to_readers_and_no_count_to_others(
    engine, tmp_path, monkeypatch
):
    write_closed_charters(tmp_path / "charters")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path / "charters"))
    get_settings.cache_clear()
    good = [dict(zip(HEADER.split(","), row(i).split(","), strict=True)) for i in range(10)]
    bad = [{**r, "value": "high"} for r in good]
    for dataset_id, charter in (
        ("refused-open", "atmo-demo-open"),
        ("refused-closed", "atmo-demo-restricted"),
    ):
        publish(air_batch(dataset_id, charter, "Refused", frame_of(good[:4])), engine=engine)
        with pytest.raises(BatchRejected):
            publish(
                air_batch(dataset_id, charter, "Refused", frame_of(bad[:7] + good[7:])),
                engine=engine,
            )
    with client_for(engine) as client:
        runs = client.get("/api/v1/datasets/refused-open/runs").json()["runs"]
        assert [r["status"] for r in runs] == ["failed", "succeeded"]
        assert runs[0]["error"].startswith("too many invalid rows: 7 of 10 rows read")
        report = client.get("/api/v1/datasets/refused-open/validation").json()
        assert report["tasks"][0]["warnings"][0] == runs[0]["error"]
        assert len(report["tasks"][0]["errors"]) >= 7 and report["tasks"][0]["stats"]["rows"] == 10
        quarantined = client.get("/api/v1/datasets/refused-open/quarantine").json()
        assert (quarantined["run"], quarantined["count"], quarantined["rows"]) == (
            runs[0]["id"],
            0,
            [],
        )
        # Those who may not read the rows learn that the batch failed, not how many rows it had.
        closed = client.get(
            "/api/v1/datasets/refused-closed/runs", headers=bearer(engine, "agency", "another-org")
        ).json()["runs"]
        assert closed[0]["status"] == "failed"
        assert (
            closed[0]["error"] == "too many invalid rows (details withheld under the "
            "dataset's charter)"
        )
        assert not any(ch.isdigit() for ch in closed[0]["error"])
