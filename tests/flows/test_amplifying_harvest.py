"""`hub harvest` on batches that amplify or publish nothing: the exit code says so."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from hub.cli import app
from hub.models import HarvestRun, QuarantinedRow

pytestmark = pytest.mark.flows
runner = CliRunner()

HEADER = (
    "station_id,station_name,pollutant,value,unit,averaging_period,observed_at,longitude,"
    "latitude,quality_flag"
)


def line(hour: int, value: str = "12.5") -> str:
    return (
        f"FR-AMP-1,Amplified,no2,{value},µg/m³,PT1H,2025-01-{1 + hour // 24:02d}T"
        f"{hour % 24:02d}:00:00Z,3.88,43.61,valid"
    )


def source(folder: Path, source_id: str, data: Path, options: dict[str, Any] | None = None) -> Path:
    path = folder / f"{source_id}.yaml"
    extra = f"options: {json.dumps(options)}\n" if options else ""
    path.write_text(
        f"""
id: {source_id}
title: Amplifying {source_id}
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


def feed(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def quarantined(engine, run_id: int) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(QuarantinedRow).where(QuarantinedRow.run_id == run_id)
        ).one()


def runs_of(engine, source_id: str) -> list[HarvestRun]:
    with Session(engine) as session:
        return list(session.exec(select(HarvestRun).where(HarvestRun.dataset_id == source_id)))


def test_a_flood_of_identical_invalid_rows_fails_fast_keeps_nothing_and_exits_1(engine, tmp_path):
    # The reported case, scaled down: 2 million identical rows in a 308 kB gzip, here 200 000.
    data = tmp_path / "flood.csv.gz"
    with gzip.open(data, "wt", encoding="utf-8") as out:
        out.write(HEADER + "\n" + (line(0, "high") + "\n") * 200_000)
    result = runner.invoke(app, ["harvest", str(source(tmp_path, "flood", data))])
    assert result.exit_code == 1, result.output
    assert "failed" in result.output and "quarantine_cap" in result.output
    (run,) = runs_of(engine, "flood")
    assert run.status == "failed" and quarantined(engine, run.id or 0) == 0
    assert run.rows_read < 200_000 and (run.rows_published, run.rows_quarantined) == (0, 0)
    assert f"{run.rows_read:,} of them invalid" in run.error
    assert "quarantine cap of 100,000 rows" in run.error and run.report is not None


def test_a_mostly_invalid_batch_exits_1_naming_the_threshold(engine, tmp_path):
    data = feed(tmp_path / "mostly.csv", [line(h, "high" if h % 3 else "1.5") for h in range(300)])
    result = runner.invoke(app, ["harvest", str(source(tmp_path, "mostly", data))])
    assert result.exit_code == 1, result.output
    assert "200 of 300 rows read were invalid" in result.output
    assert "max_invalid_share" in result.output


def test_every_row_invalid_exits_1_and_the_other_sources_still_harvest(engine, tmp_path):
    good = source(tmp_path, "good", feed(tmp_path / "good.csv", [line(h) for h in range(24)]))
    allowed = source(
        tmp_path,
        "all-bad",
        feed(tmp_path / "bad.csv", [line(h, "x") for h in range(24)]),
        {"max_invalid_share": 1},
    )
    result = runner.invoke(app, ["harvest", str(good), str(allowed)])
    assert result.exit_code == 1, result.output
    assert "every row was invalid" in result.output
    (bad,) = runs_of(engine, "all-bad")
    assert (bad.status, bad.rows_quarantined, bad.rows_published) == ("failed", 24, 0)
    assert quarantined(engine, bad.id or 0) == 24  # kept: the operator reads why
    assert [r.status for r in runs_of(engine, "good")] == ["succeeded"]


def test_a_batch_under_the_threshold_still_exits_0(engine, tmp_path):
    data = feed(tmp_path / "some.csv", [line(h, "x" if h % 3 == 0 else "1.5") for h in range(300)])
    result = runner.invoke(app, ["harvest", str(source(tmp_path, "some", data))])
    assert result.exit_code == 0, result.output
    assert "partial" in result.output
