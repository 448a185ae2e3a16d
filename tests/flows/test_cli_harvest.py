"""`hub harvest` and `hub demo --no-serve` through the real flow."""

from __future__ import annotations

import pytest
from sourcefiles import OPENAQ_SAMPLE, openaq_source_file
from sqlmodel import Session, select
from typer.testing import CliRunner

from hub.cli import app
from hub.models import Dataset, HarvestRun

pytestmark = pytest.mark.flows
runner = CliRunner()


def openaq_source(folder, samples, source_id: str, operator: str):
    """A territory's own source file over the real OpenAQ sample, under OpenAQ's charter."""
    url = f"file://{samples}/{OPENAQ_SAMPLE}"
    title = f"PM2.5 Toronto, harvested by {operator}"
    return openaq_source_file(folder, source_id, url, title=title, operator=operator)


def test_harvest_a_source_file_by_path_prints_a_summary(engine, tmp_path, samples):
    source = openaq_source(tmp_path, samples, "my-toronto", "openaq")
    result = runner.invoke(app, ["harvest", str(source)])
    assert result.exit_code == 0, result.output
    assert "my-toronto" in result.output and "1,000" in result.output


def test_a_refused_source_exits_1_and_says_why(engine, tmp_path, samples):
    source = openaq_source(tmp_path, samples, "intruder", "intruder")
    result = runner.invoke(app, ["harvest", str(source)])
    assert result.exit_code == 1
    assert "refused" in result.output and "intruder" in result.output
    with Session(engine) as session:
        assert session.exec(select(Dataset)).all() == []
        assert [r.status for r in session.exec(select(HarvestRun))] == ["refused"]


def test_demo_without_serving_harvests_every_enabled_bundled_source(engine):
    result = runner.invoke(
        app, ["demo", "--no-serve", "--households", "12", "--household-days", "14"]
    )
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        ids = {d.id for d in session.exec(select(Dataset))}
    assert {
        "demo-atmo-montpellier-no2",
        "demo-atmo-montpellier-pm",
        "openaq-toronto-pm25",
        "sensor-community-aberdeen",
    } <= ids


def test_demo_skips_sample_based_sources_cleanly_when_the_samples_are_absent(
    engine, tmp_path, monkeypatch
):
    from hub.config import get_settings

    monkeypatch.setenv("HUB_SAMPLES_DIR", str(tmp_path / "nowhere"))
    get_settings.cache_clear()
    result = runner.invoke(
        app, ["demo", "--no-serve", "--households", "12", "--household-days", "14"]
    )
    assert result.exit_code == 0, result.output
    assert "Skipped" in result.output and "openaq-toronto-pm25" in result.output
    assert "failed" not in result.output
    with Session(engine) as session:
        ids = {d.id for d in session.exec(select(Dataset))}
    assert "demo-atmo-montpellier-no2" in ids and "openaq-toronto-pm25" not in ids
