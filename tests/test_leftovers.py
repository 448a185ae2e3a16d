"""A personal feed's download left by a harvest that died goes as soon as the hub notices: when
its run is recovered, or at the next start; a folder a live harvest holds is never touched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session
from test_faults import dead_pid

from hub import runs
from hub.models import HarvestRun, utcnow
from pipelines.orchestration import prepare_store

PERSONAL = "demo-grid-load-curves"  # bundled source, under the personal charter grid-demo-…
OPEN = "demo-atmo-montpellier-no2"


def left(hub_env: Path, source_id: str, name: str = "feed.csv") -> Path:
    folder = hub_env / "downloads" / source_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("meter_number,kwh\n30002512345678,0.4\n", encoding="utf-8")
    return path


def dead_run(engine: Engine, source_id: str, charter_id: str) -> None:
    with Session(engine) as session:
        session.add(
            HarvestRun(
                dataset_id=source_id,
                source_id=source_id,
                charter_id=charter_id,
                host=runs.socket.gethostname(),
                pid=dead_pid(),
                started_at=utcnow(),
            )
        )
        session.commit()


def test_a_recovered_run_s_personal_download_is_deleted_at_once(
    engine: Engine, hub_env: Path
) -> None:
    personal = left(hub_env, "curves-elsewhere")  # no source file: the run's charter says
    opened = left(hub_env, "air-elsewhere")
    dead_run(engine, "curves-elsewhere", "grid-demo-load-curves")
    dead_run(engine, "air-elsewhere", "atmo-demo-open")
    assert runs.recover_stale_runs(engine) == 2
    assert not personal.exists()
    assert opened.exists()  # an open feed's leftover goes after a day, as before


def test_at_the_next_start_personal_leftovers_go_but_not_a_live_harvest_s(
    engine: Engine, hub_env: Path
) -> None:
    dead = left(hub_env, PERSONAL)  # its harvest died before it opened a run
    opened = left(hub_env, OPEN)
    held_file = left(hub_env, "curves-held")  # another process harvests into this one now
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; f = os.open(sys.argv[1], os.O_RDONLY); "
            "fcntl.flock(f, fcntl.LOCK_SH); print('held', flush=True); sys.stdin.read()",
            str(held_file.parent),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        prepare_store()  # what `hub harvest` does first
        assert not dead.exists()
        assert opened.exists()
        assert held_file.exists()
    finally:
        holder.communicate("")
    prepare_store()  # its process is gone: nothing holds it now
    assert not held_file.exists()


def test_hub_serve_s_start_deletes_personal_leftovers(engine: Engine, hub_env: Path) -> None:
    from hub.app import create_app

    dead = left(hub_env, PERSONAL, "grid-demo-load-curves.csv")
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
    assert not dead.exists()
