"""pipelines.checking: a file checked exactly as its harvest would publish it, nothing stored."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import Session, select

from hub.catalogue import PublishRefused
from hub.models import Dataset, HarvestRun
from pipelines.checking import check_file
from pipelines.harvesting import harvest_source
from pipelines.sources import resolve_source

OPENAQ = "air/openaq_location_3145071_measurements.csv"
GBIF = "biodiversity/gbif-results_0000006-130717145108713.zip"


def test_a_mapped_feed_validates_as_it_harvests(engine, samples: Path) -> None:
    report = check_file(samples / OPENAQ, resolve_source("openaq-toronto-pm25"))
    task = report["tasks"][0]
    assert report["valid"] is True and task["stats"]["rows"] == 1000
    assert task["stats"]["errors"] == 0
    with Session(engine) as session:  # a check publishes nothing and records no run
        assert session.exec(select(Dataset)).all() == []
        assert session.exec(select(HarvestRun)).all() == []


def test_an_archive_reports_the_rows_its_harvest_would_quarantine(engine, samples: Path) -> None:
    bundled = resolve_source("gbif-chelonodon-fluviatilis")
    # A mapping mistake: the locality (a place, no date) read as the date of each specimen.
    columns = {**bundled.options["columns"], "eventDate": "locality"}
    source = replace(
        bundled, options={**bundled.options, "columns": columns, "max_invalid_share": 1}
    )
    report = check_file(samples / GBIF, source)
    task = report["tasks"][0]
    assert report["valid"] is False and task["stats"]["rows"] == 158
    assert task["stats"]["errors"] == 107  # the specimens that have a locality
    assert {e["fieldName"] for e in task["errors"]} == {"eventDate"}
    outcome = harvest_source(source)
    assert (outcome.read, outcome.quarantined) == (158, 107)  # the same rows, the same count


def test_a_file_of_another_shape_is_reported_row_by_row(engine, samples: Path) -> None:
    source = resolve_source("openaq-toronto-pm25")
    report = check_file(samples / "air" / "2018-12-25_sds011_sensor_15092.csv", source)
    assert report["valid"] is False and report["tasks"][0]["stats"]["errors"] > 0


def test_an_expired_charter_is_refused_as_the_gate_refuses_it(
    engine, samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    charter = (Path("charters") / "openaq-cc-by.yaml").read_text(encoding="utf-8")
    expired = tmp_path / "openaq-cc-by.yaml"
    lines = [line for line in charter.splitlines() if not line.startswith("valid_until")]
    expired.write_text("\n".join(lines) + "\nvalid_until: 2020-01-01\n", encoding="utf-8")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path))
    from hub.config import get_settings

    get_settings.cache_clear()
    with pytest.raises(PublishRefused, match="expired"):
        check_file(samples / OPENAQ, resolve_source("openaq-toronto-pm25"))


def test_the_command_checks_a_file_as_its_source_reads_it(samples: Path, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    source = Path("pipelines/sources/openaq-toronto-pm25.yaml").resolve()
    hub = Path(sys.executable).parent / "hub"
    done = subprocess.run(
        [str(hub), "validate", str(samples / OPENAQ), "--source", str(source), "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["valid"] is True and report["tasks"][0]["stats"]["rows"] == 1000
    both = subprocess.run(
        [str(hub), "validate", str(samples / OPENAQ), "--source", str(source), "--schema", "x"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert both.returncode == 2 and "exactly one of --schema and --source" in both.stderr
