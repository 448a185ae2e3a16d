"""One hub harvests another through its CKAN API: hub A, a real `uvicorn` process on its own
store, is filled through its CKAN writes; this test's hub (B) harvests it with the `ckan` reader,
and the two catalogues agree afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ckanapi
import pytest
from flows.processes import child_env, end, free_port, wait_for
from sqlmodel import Session, select

from hub.config import get_settings
from hub.models import Dataset, Resource
from pipelines.harvesting import harvest_source
from pipelines.sources import Operator, Source

CHARTER = """id: hub-a-open
version: "1.0"
title: Hub A's catalogue, republished
producer: hub-a
licence:
  id: etalab-2.0
  label: Licence Ouverte 2.0
  uri: https://www.etalab.gouv.fr/licence-ouverte-open-licence
access: open
purposes: [federation]
gdpr_sensitive: false
mandatory_mention: "Source: hub A"
valid_from: "2026-01-01"
valid_until: "2030-12-31"
themes: [air-quality]
"""


def hub_command(env: dict[str, str], *args: str) -> str:
    scripts = Path(sys.executable).parent
    done = subprocess.run(
        [str(scripts / "hub"), *args], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def hub_a(tmp_path: Path):
    """Hub A under uvicorn on its own SQLite store, and tokens of its admin and operator."""
    env = child_env(HUB_DATA_DIR=str(tmp_path / "hub-a"))
    env.pop("HUB_DATABASE_URL", None)
    env.pop("HUB_TEST_DATABASE_URL", None)
    hub_command(env, "db", "upgrade")
    admin = hub_command(env, "token", "create", "--role", "admin").splitlines()[0]
    operator = hub_command(
        env, "token", "create", "--role", "operator", "--org", "atmo-demo"
    ).splitlines()[0]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "hub.app:create_app", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), 120, "hub A")
        yield url, admin, operator
    finally:
        end(server)


def _answers(url: str) -> bool:
    try:
        return bool(ckanapi.RemoteCKAN(url).action.status_show())
    except Exception:  # noqa: BLE001 — not up yet
        return False


def test_a_hub_harvests_another_through_its_ckan_api(hub_a, engine, tmp_path, monkeypatch):
    url, admin_token, operator_token = hub_a
    ckanapi.RemoteCKAN(url, apikey=admin_token).action.organization_create(
        name="atmo-demo", title="Atmo Démo"
    )
    operator = ckanapi.RemoteCKAN(url, apikey=operator_token)
    for n in range(3):
        operator.action.package_create(
            name=f"air-{n}",
            title=f"Qualité de l'air {n}",
            notes=f"Station {n} de Rennes.",
            owner_org="atmo-demo",
            groups=[{"name": "air-quality"}],
            tags=[{"name": "no2"}, {"name": f"station-{n}"}],
            extras=[{"key": "charter", "value": "atmo-demo-open"}],
            resources=[
                {"name": f"Fiche {n}", "url": f"https://example.org/{n}.pdf", "format": "PDF"}
            ],
        )
    charters = tmp_path / "charters"
    charters.mkdir()
    (charters / "hub-a-open.yaml").write_text(CHARTER, encoding="utf-8")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(charters))
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")
    get_settings.cache_clear()
    source = Source(
        id="hub-a",
        title="Hub A",
        operator=Operator("hub-a", "Hub A"),
        theme="air-quality",
        format="ckan",
        url=url,
        schema="",
        charter="hub-a-open",
        options={"rows": 2},
    )
    outcome = harvest_source(source)
    assert outcome.status == "succeeded", outcome

    theirs = {
        p["name"]: p for p in ckanapi.RemoteCKAN(url).action.package_search(rows=100)["results"]
    }
    with Session(engine) as session:
        ours = {d.id: d for d in session.exec(select(Dataset)).all()}
        files = {
            r.dataset_id: r
            for r in session.exec(select(Resource).where(Resource.kind == "file")).all()
        }
    assert set(ours) == {f"hub-a--{name}" for name in theirs}
    for name, package in theirs.items():
        copy = ours[f"hub-a--{name}"]
        assert (copy.title, copy.description) == (package["title"], package["notes"])
        assert sorted(copy.keywords) == sorted(t["name"] for t in package["tags"])
        assert files[copy.id].url == package["resources"][0]["url"]
        assert copy.charter_id == "hub-a-open"  # B's charter with hub A, not A's with Atmo
