"""A harvest killed mid-batch (SIGKILL: OOM killer, a lost node) leaves no trace but a failed run.

A child process harvests a few hundred thousand generated rows into a dataset that already
holds a first good batch. Its progress callback (called after each stored chunk) reports the
rows read and then holds the batch's transaction open, so the child can never finish on its
own: the kill lands either as soon as the run shows as "running" in the harvestrun table
(somewhere in reading, validating or writing), or once a first chunk is written but not
committed. The parent kills the child with SIGKILL, and checks that
`recover_stale_runs` fails the run with a clear reason, that the earlier records are exactly
as they were, and that the next harvest of the dataset works (no lock left behind).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import catalogue
from hub.config import PROJECT_ROOT
from hub.models import Dataset, HarvestRun, Organization, QuarantinedRow
from hub.runs import recover_stale_runs
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source

DATASET = "interrupted-air"
BIG_ROWS = 300_000
FIRST_ROWS = 40
FIRST_VALUE = "777.7"  # a value the generator never writes (it draws 0 … 120)
CLEAN_ROW = re.compile(
    r"FR\d{5},Station \d+,(pm25|pm10|no2|o3|so2),\d+\.\d,µg/m³,PT1H,"
    r"2023-0[1-2]-[0-2]\dT[01]\d:00:00Z,-?\d+\.\d+,\d+\.\d+,(valid|unverified)"
)
DEADLINE = 240.0  # seconds: only a guard against a hung child, never an assertion on speed

CHILD = r"""
import os, sys, time
sys.path.insert(0, sys.argv[2])
from pipelines.harvesting import harvest_source
from pipelines.sources import load_source

def hold(rows):
    # Rows were stored in the open transaction: say so, then keep it open until killed.
    print(f"stored {rows}", flush=True)
    time.sleep(3600)

outcome = harvest_source(load_source(sys.argv[1]), progress=hold)
print(f"finished {outcome.status} {outcome.message}", flush=True)
"""


def generate(path: Path, rows: int) -> None:
    """Write `rows` air-quality observations with bench/airdata.py's generator (~1 % bad)."""
    spec = importlib.util.spec_from_file_location(
        "bench_airdata", PROJECT_ROOT / "bench" / "airdata.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(path, rows)


def source_file(folder: Path, name: str, data: Path) -> Path:
    """A `csv` source for the dataset: the generated files already have the schema's header."""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"""
id: {DATASET}
title: Generated hourly air quality ({name})
operator: {{id: atmo-demo, name: Atmo Demo, kind: public}}
theme: air-quality
format: csv
url: file://{data}
schema: air-quality-observation
charter: atmo-demo-open
""",
        encoding="utf-8",
    )
    return path


def first_batch(big: Path, path: Path) -> dict[tuple[str, str, str], float]:
    """The first valid rows of the big file with another value: what the dataset holds first.

    Their keys are in the big file too, so a committed (even partly committed) big batch
    would overwrite these values.
    """
    header, *lines = big.read_text(encoding="utf-8").splitlines()[: FIRST_ROWS * 3]
    kept: dict[tuple[str, str, str], list[str]] = {}
    for line in lines:  # skip the generator's planted errors: this batch must be all good
        if CLEAN_ROW.fullmatch(line):
            cells = line.split(",")
            kept.setdefault((cells[0], cells[2], cells[6]), cells[:3] + [FIRST_VALUE] + cells[4:])
    rows = list(kept.values())[:FIRST_ROWS]
    assert len(rows) == FIRST_ROWS
    path.write_text("\n".join([header, *(",".join(c) for c in rows)]) + "\n", encoding="utf-8")
    return {(c[0], c[2], c[6]): float(c[3]) for c in rows}


def stored(engine: Engine) -> dict[tuple[str, str, str], float]:
    """Every record of the dataset, keyed by (station, pollutant, time) -> value."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, DATASET))
    table = layout.table
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                table.c[layout.columns["station_id"]],
                table.c[layout.columns["pollutant"]],
                table.c[layout.columns["observed_at"]],
                table.c[layout.columns["value"]],
            )
        ).all()
    return {(s, p, _utc_text(t)): v for s, p, t, v in rows}


def _utc_text(moment: datetime | str) -> str:
    """A stored instant (naive UTC on SQLite, aware on PostgreSQL) as the file writes it."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_of(engine: Engine, run_id: int) -> HarvestRun:
    with Session(engine) as session:
        run = session.get(HarvestRun, run_id)
        assert run is not None
        return run


@pytest.fixture
def child_env(engine: Engine) -> dict[str, str]:
    """The child's environment: the test's database and data folder, nothing else changed."""
    from hub.config import get_settings

    settings = get_settings()
    env = dict(os.environ)
    env["HUB_DATABASE_URL"] = settings.effective_database_url
    env["HUB_DATA_DIR"] = str(settings.data_dir)
    return env


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    """Child processes started by the test; any still alive at the end is killed (by pid)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def wait_for_line(process: subprocess.Popen[str], prefix: str) -> str:
    """The child's first stdout line starting with `prefix` (fails if the child ends first)."""
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(prefix) or line.startswith("finished"):
                found.append(line.strip())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(DEADLINE)
    assert found, f"the child never printed {prefix!r} (exit code {process.poll()})"
    assert found[0].startswith(prefix), f"the harvest was not interrupted: {found[0]}"
    return found[0]


def wait_for_running_run(engine: Engine, pid: int) -> HarvestRun:
    """Poll the harvestrun table until the child's run shows as running."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        with Session(engine) as session:
            run = session.exec(
                select(HarvestRun).where(HarvestRun.dataset_id == DATASET, HarvestRun.pid == pid)
            ).first()
        if run is not None:
            assert run.status == "running", f"the child's run ended on its own: {run.status}"
            return run
        time.sleep(0.05)
    raise AssertionError("the child's run never appeared in the harvestrun table")


@pytest.mark.parametrize("moment", ["after-a-chunk-is-written", "as-soon-as-it-runs"])
def test_a_harvest_killed_mid_batch_is_failed_and_changes_nothing(
    engine: Engine,
    tmp_path: Path,
    child_env: dict[str, str],
    children: list[subprocess.Popen[str]],
    moment: str,
) -> None:
    big = tmp_path / "big.csv"
    generate(big, BIG_ROWS)
    expected = first_batch(big, tmp_path / "first.csv")
    first = harvest_source(load_source(source_file(tmp_path, "first", tmp_path / "first.csv")))
    assert (first.status, first.published) == ("succeeded", FIRST_ROWS), first
    with Session(engine) as session:
        count_before = session.get(Dataset, DATASET).record_count
    assert stored(engine) == expected and count_before == FIRST_ROWS

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(source_file(tmp_path, "big", big)), str(PROJECT_ROOT)],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    children.append(child)
    run = wait_for_running_run(engine, child.pid)
    if moment == "after-a-chunk-is-written":  # else: wherever it is (reading, validating …)
        progress = wait_for_line(child, "stored ")  # written, not committed
        assert int(progress.split()[1]) > 0
        assert run_of(engine, run.id).status == "running"

    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert run_of(engine, run.id).status == "running"  # what a dead process leaves behind

    assert recover_stale_runs(engine) == 1
    killed = run_of(engine, run.id)
    assert killed.status == "failed"
    assert "ended before the run finished" in killed.error
    assert killed.finished_at is not None
    assert run_of(engine, first.run_id).status == "succeeded"

    assert stored(engine) == expected  # same keys, same values: nothing of the big batch
    with Session(engine) as session:
        assert session.get(Dataset, DATASET).record_count == count_before
        assert (
            session.exec(select(QuarantinedRow).where(QuarantinedRow.run_id == run.id)).all() == []
        )
        assert session.exec(select(HarvestRun).where(HarvestRun.status == "running")).all() == []

    # Nothing is left locked: the dataset harvests again, and finds its rows already known.
    again = harvest_source(load_source(source_file(tmp_path, "again", tmp_path / "first.csv")))
    assert (again.status, again.published, again.skipped) == ("succeeded", 0, FIRST_ROWS), again
    assert stored(engine) == expected


def test_a_run_whose_pid_was_reused_by_a_later_process_is_still_recovered(
    engine: Engine, children: list[subprocess.Popen[str]]
) -> None:
    from datetime import timedelta

    from hub.models import utcnow
    from hub.runs import STALE_AFTER

    # The harvester died long ago; its pid now belongs to an unrelated process started since.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], text=True)
    children.append(stranger)
    with Session(engine, expire_on_commit=False) as session:
        run = HarvestRun(
            dataset_id=DATASET,
            source_id=DATASET,
            host=socket.gethostname(),
            pid=stranger.pid,
            started_at=utcnow() - STALE_AFTER - timedelta(hours=1),
        )
        session.add(run)
        session.commit()
    assert recover_stale_runs(engine) == 1
    recovered = run_of(engine, run.id)
    assert recovered.status == "failed" and "ended before the run finished" in recovered.error


CLI_CHILD = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from pipelines import orchestration

# "between chunks": each chunk takes a second, and the stop must come at the next one (the
# fallback is put out of reach); "stuck": a chunk never ends, and the fallback must stop it.
BETWEEN = os.environ["STOP_MODE"] == "between chunks"
if BETWEEN:
    orchestration.GRACE_SECONDS = 3600

def holding(self, ref):
    def hold(rows):
        # A chunk is stored in the open transaction: say so, then keep it open a while
        # (short sleeps: a stop may land between them, as it does between a harvest's chunks).
        print(f"stored {ref}", flush=True)
        until = time.monotonic() + 1
        while not BETWEEN or time.monotonic() < until:
            time.sleep(0.05)
    return hold

orchestration.Tally.progress_of = holding
from hub.cli import app
app(["harvest", *sys.argv[2:]], prog_name="hub")
"""


@pytest.mark.parametrize("mode", ["between chunks", "stuck"])
def test_ctrl_c_stops_a_harvest_of_several_sources_and_says_what_ended(
    engine: Engine,
    tmp_path: Path,
    child_env: dict[str, str],
    children: list[subprocess.Popen[str]],
    mode: str,
) -> None:
    """Its sources run in threads: Ctrl-C stops those in flight (their runs failed, nothing
    kept), prints the summary, and exits 130, wherever the kernel delivered the signal."""
    big = tmp_path / "big.csv"
    generate(big, 20_000)
    with Session(engine) as session:  # a known operator: both sources start at once, in threads
        session.add(Organization(id="atmo-demo", name="Atmo Demo"))
        session.commit()
    ids = ["stopped-a", "stopped-b"]
    for source_id in ids:
        path = source_file(tmp_path, source_id, big)
        path.write_text(path.read_text(encoding="utf-8").replace(DATASET, source_id))
    child = subprocess.Popen(
        [sys.executable, "-c", CLI_CHILD, str(PROJECT_ROOT)]
        + [str(tmp_path / f"{source_id}.yaml") for source_id in ids],
        env={**child_env, "HUB_HARVEST_CONCURRENCY": "2", "STOP_MODE": mode},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children.append(child)
    wait_for_line(child, "stored ")  # one holds its batch open; the other reads or waits for it
    os.kill(child.pid, signal.SIGINT)
    summary, errors = child.communicate(timeout=DEADLINE)
    assert child.returncode == 130, errors
    assert "Harvest summary" in summary and "stopped-a" in summary and "stopped-b" in summary
    assert "Stopped: 2 source(s) above ended" in errors and "Traceback" not in errors, errors
    with Session(engine) as session:
        runs = session.exec(select(HarvestRun).where(col(HarvestRun.dataset_id).in_(ids))).all()
        assert runs and all(r.status == "failed" and r.error == "interrupted" for r in runs)
        assert all((d := session.get(Dataset, i)) is None or d.record_count == 0 for i in ids)
