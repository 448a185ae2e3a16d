"""The `hub` command as a user types it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.cli import app
from hub.config import get_settings

runner = CliRunner()
HEADER = (
    "station_id,station_name,pollutant,value,unit,averaging_period,observed_at,"
    "longitude,latitude,quality_flag\n"
)
GOOD = "FR01,Gare,no2,21.5,µg/m³,PT1H,2025-09-01T00:00:00Z,3.88,43.61,valid\n"


@pytest.fixture
def good_csv(tmp_path):
    path = tmp_path / "good.csv"
    path.write_text(HEADER + GOOD, encoding="utf-8")
    return path


@pytest.fixture
def bad_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER + GOOD + GOOD.replace("21.5", "lots").replace("00:00:00", "01:00:00"),
        encoding="utf-8",
    )
    return path


def test_validate_a_valid_file_exits_0(good_csv):
    result = runner.invoke(app, ["validate", str(good_csv), "--schema", "air-quality-observation"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output.lower()


def test_validate_an_invalid_file_exits_1_and_names_row_field_and_error(bad_csv):
    result = runner.invoke(app, ["validate", str(bad_csv), "--schema", "air-quality-observation"])
    assert result.exit_code == 1
    assert "type-error" in result.output and "value" in result.output and "3" in result.output


def test_validate_json_is_frictionless_report_form(bad_csv):
    result = runner.invoke(
        app, ["validate", str(bad_csv), "--schema", "air-quality-observation", "--json"]
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    (error,) = report["tasks"][0]["errors"]
    assert (report["valid"], error["type"], error["rowNumber"], error["fieldName"]) == (
        False,
        "type-error",
        3,
        "value",
    )


def test_validate_against_an_outside_schema_file(samples):
    folder = samples / "schemas" / "etalab_schema-irve" / "statique"
    result = runner.invoke(
        app,
        [
            "validate",
            str(folder / "exemple-valide-statique.csv"),
            "--schema",
            str(folder / "schema-statique.json"),
        ],
    )
    assert result.exit_code == 0, result.output


def test_validate_with_an_unknown_schema_lists_the_known_ones(good_csv):
    result = runner.invoke(app, ["validate", str(good_csv), "--schema", "nope"])
    assert result.exit_code == 2
    assert "air-quality-observation" in result.output


def test_validate_with_a_charter_in_force(good_csv):
    ok = runner.invoke(
        app,
        [
            "validate",
            str(good_csv),
            "--schema",
            "air-quality-observation",
            "--charter",
            "atmo-demo-open",
        ],
    )
    assert ok.exit_code == 0, ok.output
    unknown = runner.invoke(
        app, ["validate", str(good_csv), "--schema", "air-quality-observation", "--charter", "nope"]
    )
    assert unknown.exit_code == 2 and "atmo-demo-open" in unknown.output


def test_validate_a_file_in_the_wrong_encoding_is_a_clear_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + GOOD.replace("Gare", "Comédie")).encode("cp1252"))
    result = runner.invoke(app, ["validate", str(path), "--schema", "air-quality-observation"])
    assert result.exit_code == 1  # reported as frictionless does: an encoding-error
    assert "encoding-error" in result.output and "cp1252" in result.output
    fixed = runner.invoke(
        app, ["validate", str(path), "--schema", "air-quality-observation", "--encoding", "cp1252"]
    )
    assert fixed.exit_code == 0, fixed.output


def test_sources_lists_the_bundled_sources():
    result = runner.invoke(app, ["sources"])
    assert result.exit_code == 0
    assert "openaq-toronto-pm25" in result.output and "demo-atmo-montpellier-no2" in result.output


def test_a_broken_source_file_is_named_and_the_others_listed_and_harvested(
    engine, tmp_path, monkeypatch
):
    broken = tmp_path / "typo.yaml"
    broken.write_text("id: typo\nformat: geojsn\n", encoding="utf-8")
    monkeypatch.setenv("HUB_SOURCES_PATH", str(tmp_path))
    get_settings.cache_clear()
    listed = runner.invoke(app, ["sources"])
    assert listed.exit_code == 1 and "Traceback" not in listed.output
    assert "openaq-toronto-pm25" in listed.output
    assert "left out" in listed.output and "typo.yaml" in listed.output
    harvested = runner.invoke(app, ["harvest", "atmo-occitanie-stations"])
    assert harvested.exit_code == 0, harvested.output
    assert "typo" not in harvested.output


def test_sources_names_a_file_whose_charter_is_unknown(tmp_path, monkeypatch):
    bundled = Path(__file__).parents[1] / "pipelines" / "sources" / "openaq-toronto-pm25.yaml"
    text = bundled.read_text(encoding="utf-8").replace("id: openaq-toronto-pm25", "id: typo")
    charter = next(line for line in text.splitlines() if line.startswith("charter:"))
    (tmp_path / "typo.yaml").write_text(text.replace(charter, "charter: no-such-charter"))
    line = text.splitlines().index(charter) + 1
    monkeypatch.setenv("HUB_SOURCES_PATH", str(tmp_path))
    get_settings.cache_clear()
    listed = runner.invoke(app, ["sources"])
    assert listed.exit_code == 1, listed.output
    assert f"typo.yaml:{line}: unknown charter 'no-such-charter'" in listed.output
    assert "left out" in listed.output and "openaq-toronto-pm25" in listed.output


def test_db_upgrade_creates_the_catalogue(engine):
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    import sqlalchemy as sa

    with engine.connect() as connection:
        assert {"dataset", "harvestrun", "quarantinedrow"} <= set(
            sa.inspect(connection).get_table_names()
        )


def test_validate_with_a_charter_that_does_not_cover_the_schema(good_csv):
    result = runner.invoke(
        app,
        [
            "validate",
            str(good_csv),
            "--schema",
            "air-quality-observation",
            "--charter",
            "rte-eco2mix-etalab",
        ],
    )
    assert result.exit_code == 1 and "does not cover" in result.output


def test_harvest_of_an_unknown_source_fails_it_in_process_and_names_the_known_ones(engine):
    result = runner.invoke(app, ["harvest", "no-such-source", "atmo-occitanie-stations"])
    assert result.exit_code == 1, result.output
    assert "orchestration: in-process (no Prefect server running)" in result.output
    assert "no-such-source: no source with id 'no-such-source' (known: " in result.output
    assert "openaq-toronto-pm25" in result.output  # among the known ones it lists
    rows = [line.split()[1:4] for line in result.output.splitlines() if line.startswith("│ ")]
    assert rows == [
        ["no-such-source", "│", "failed"],
        ["atmo-occitanie-stations", "│", "succeeded"],
    ]


def test_an_unusable_setting_is_named_plainly_before_any_work(monkeypatch):
    monkeypatch.setenv("HUB_FETCH_RETRIES", "three")
    monkeypatch.setenv("HUB_PREFECT_PORT", "70000")
    get_settings.cache_clear()
    result = runner.invoke(app, ["sources"])
    assert result.exit_code == 2
    assert "HUB_FETCH_RETRIES input should be a valid integer" in result.output
    assert "got 'three'" in result.output
    assert "HUB_PREFECT_PORT input should be less than or equal to 65535" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("switch", ["1", "true", "yes", "10.0.0.0/33"])
def test_fetch_allow_private_takes_hosts_and_networks_not_a_switch(monkeypatch, switch):
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", f"feeds.internal {switch}")
    get_settings.cache_clear()
    result = runner.invoke(app, ["sources"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "HUB_FETCH_ALLOW_PRIVATE" in result.output and "not a switch" in result.output


def test_fetch_allow_private_takes_names_addresses_and_networks(monkeypatch):
    monkeypatch.setenv(
        "HUB_FETCH_ALLOW_PRIVATE", "feeds.internal, localhost 127.0.0.1 ::1 10.0.0.0/8"
    )
    get_settings.cache_clear()
    assert get_settings().fetch_allow_private == [
        "feeds.internal",
        "localhost",
        "127.0.0.1",
        "::1",
        "10.0.0.0/8",
    ]


def test_validate_as_a_source_in_the_wrong_encoding_is_a_clear_error(tmp_path, samples):
    """The cp1252 station list checked through a source file that forgot `encoding`."""
    bundled = Path(__file__).resolve().parents[1] / "pipelines/sources/atmo-occitanie-stations.yaml"
    source = tmp_path / "stations.yaml"
    source.write_text(
        bundled.read_text(encoding="utf-8").replace("  encoding: cp1252\n", ""), encoding="utf-8"
    )
    result = runner.invoke(
        app, ["validate", str(samples / "air/AirLR_LR_StationAir.csv"), "--source", str(source)]
    )
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_a_prefect_server_lost_mid_harvest_leaves_the_summary_of_the_hubs_runs(engine, monkeypatch):
    """`hub serve` died while its Prefect server ran the harvest: the data was published and
    the hub's runs say so; Prefect's client then failed. One warning, the summary, exit 0."""
    import httpx

    from pipelines import orchestration

    def published_then_lost(refs, chosen, tally):
        assert chosen.api_url  # through the server
        for ref in refs:
            tally.record(ref, {"source": ref, "status": "succeeded", "read": 5,
                               "published": 5, "updated": 0, "quarantined": 0,
                               "skipped": 0, "message": ""})  # fmt: skip
        raise httpx.ConnectError("[Errno 111] Connection refused")

    lost = orchestration.Orchestration("http://127.0.0.1:9/api", "hub serve")
    monkeypatch.setattr(orchestration, "choose_orchestration", lambda _: lost)
    monkeypatch.setattr(orchestration, "run_harvests", published_then_lost)
    result = runner.invoke(app, ["harvest", "atmo-occitanie-stations"])
    assert result.exit_code == 0, result.output
    assert "the Prefect server stopped answering (ConnectError" in result.output
    assert "Harvest summary" in result.output and "succeeded" in result.output
    assert "Traceback" not in result.output


def test_a_read_only_data_folder_is_a_settings_error(monkeypatch, tmp_path):
    folder = tmp_path / "var"
    folder.mkdir()
    real_access = os.access
    # A read-only mount refuses even root, which a chmod does not: stand in for one.
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != folder and real_access(p, mode))
    monkeypatch.setenv("HUB_DATA_DIR", str(folder))
    get_settings.cache_clear()
    for command in (["token", "list"], ["sources"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert f"HUB_DATA_DIR {folder} is read-only" in result.output
        assert "Traceback" not in result.output


def test_validate_as_a_source_whose_feed_its_harvest_may_not_read_is_refused(
    tmp_path, good_csv, monkeypatch
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    source = tmp_path / "sources" / "s.yaml"
    source.parent.mkdir()
    source.write_text(
        "id: outside\ntitle: Outside\noperator: {id: atmo-demo, name: Atmo Demo, kind: public}\n"
        f"theme: air-quality\nformat: csv\nurl: file://{outside}/feed.csv\n"
        "schema: air-quality-observation\ncharter: atmo-demo-open\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["validate", str(good_csv), "--source", str(source)])
    assert result.exit_code == 2, result.output
    assert "local feeds are read only under" in result.output
    monkeypatch.setenv("HUB_FILE_ROOTS", str(outside))
    get_settings.cache_clear()
    result = runner.invoke(app, ["validate", str(good_csv), "--source", str(source)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", [["token", "list"], ["db", "upgrade"]])
def test_a_database_that_cannot_be_reached_is_one_line_without_its_password(monkeypatch, command):
    from hub.db import reset_engines

    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://postgres:pw-S3cret@127.0.0.1:1/x")
    get_settings.cache_clear()
    reset_engines()
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(
        "error: HUB_DATABASE_URL postgresql+psycopg://postgres:***@127.0.0.1:1/x"
    )
    assert "pw-S3cret" not in result.output and "Traceback" not in result.output


def test_audit_verify_of_an_empty_log_says_so_once_without_the_password(engine, monkeypatch):
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    (line,) = result.stdout.strip().splitlines()
    assert line.startswith("access log is empty in ") and "access log the" not in line
    if engine.url.password:
        assert engine.url.password not in result.output


# --- charters read beside their schemas -------------------------------------------------------

BUNDLED_CHARTER = Path(__file__).parents[1] / "charters" / "atmo-demo-open.yaml"


def write_charter(folder: Path, charter_id: str, themes: str, schemas: str) -> None:
    """A copy of the open demo charter under another id, themes and schema list."""
    lines = []
    for line in BUNDLED_CHARTER.read_text(encoding="utf-8").splitlines():
        if line.startswith("id:"):
            line = f"id: {charter_id}"
        elif line.startswith("themes:"):
            line = f"themes: [{themes}]"
        elif line.startswith("schemas:"):
            line = f"schemas: [{schemas}]"
        lines.append(line)
    (folder / f"{charter_id}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def contradicting_charters(tmp_path, monkeypatch):
    folder = tmp_path / "charters"
    folder.mkdir()
    write_charter(folder, "bad-theme", "risk", "air-quality-observation, emergency-shelterr")
    write_charter(folder, "open-personal", "energy", "energy-consumption")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    get_settings.cache_clear()


def test_charters_check_finds_what_a_charter_contradicts_in_its_schemas(contradicting_charters):
    result = runner.invoke(app, ["charters", "check", "bad-theme", "open-personal"])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "lists schema 'emergency-shelterr', which no schema folder holds" in output
    assert "lists schema 'air-quality-observation', of theme 'air-quality'" in output
    assert "'energy-consumption' holds personal data" in output and "shares it as 'open'" in output


def test_charters_check_passes_the_bundled_charters():
    result = runner.invoke(app, ["charters", "check"])
    assert result.exit_code == 0, result.output
    assert "no problem" in result.output


def test_validate_with_a_charter_applies_the_gates_personal_data_rules(
    contradicting_charters, tmp_path
):
    readings = tmp_path / "readings.csv"
    readings.write_text("subject_key\n", encoding="utf-8")
    arguments = ["--schema", "energy-consumption", "--charter", "open-personal"]
    result = runner.invoke(app, ["validate", str(readings), *arguments])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "a harvest would be refused" in output and "holds personal data" in output


def test_sources_names_a_source_whose_schema_file_is_broken(tmp_path, monkeypatch):
    folder = tmp_path / "schemas"
    folder.mkdir()
    (folder / "emergency-shelter.schema.json").write_text('{"name": ', encoding="utf-8")
    monkeypatch.setenv("HUB_SCHEMAS_PATH", str(folder))
    get_settings.cache_clear()
    listed = runner.invoke(app, ["sources"])
    assert listed.exit_code == 1, listed.output
    output = " ".join(listed.output.split())
    assert (
        "source montpellier-emergency-shelters-csv: schema emergency-shelter cannot be used"
        in output
    )
    assert "not valid JSON" in output


@pytest.mark.parametrize(
    "command",
    [["serve", "--port", "1"], ["harvest", "atmo-occitanie-stations"], ["demo", "--no-serve"]],
)
def test_a_database_down_stops_serve_harvest_and_demo_with_one_line_before_any_work(
    monkeypatch, command
):
    """A replica restarted during an outage must not look as if it serves, nor start Prefect."""
    from hub.db import reset_engines
    from pipelines import demo, orchestration, orchestrator

    def no_work(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("work started although the store cannot be used")

    monkeypatch.setattr(orchestrator, "beside", no_work)
    monkeypatch.setattr(orchestration, "choose_orchestration", no_work)
    monkeypatch.setattr(demo, "generate", no_work)
    monkeypatch.setenv("HUB_DATABASE_URL", "postgresql://postgres:pw-S3cret@127.0.0.1:1/x")
    get_settings.cache_clear()
    reset_engines()
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: HUB_DATABASE_URL postgresql+psycopg://postgres:***@")
    assert "pw-S3cret" not in result.output
