"""The demo private operator "Telecom Demo" and the demo crisis (pipelines.demo.telecom)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, shape
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import crises, tokens
from hub.app import create_app
from hub.models import AccessEvent, as_utc
from pipelines.demo import DEFAULT_SEED, generate, telecom
from pipelines.orchestration import harvest_ref

NOW = datetime(2026, 12, 3, 6, 17, tzinfo=UTC)
AREA = shape(telecom.CRISIS_AREA)


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter=";"))


def inside(row: dict[str, str]) -> bool:
    return bool(AREA.contains(Point(float(row["longitude"]), float(row["latitude"]))))


def test_outages_are_deterministic_per_seed(tmp_path: Path) -> None:
    first = telecom.write_outages(tmp_path / "a.csv", NOW, 7, seed=7)
    again = telecom.write_outages(tmp_path / "b.csv", NOW, 7, seed=7)
    other = telecom.write_outages(tmp_path / "c.csv", NOW, 7, seed=8)
    assert first.read_bytes() == again.read_bytes() != other.read_bytes()


def test_a_later_run_keeps_the_same_everyday_incidents(tmp_path: Path) -> None:
    earlier = {o.reference: o for o in telecom.outages(NOW, 7, DEFAULT_SEED)}
    later = {o.reference: o for o in telecom.outages(NOW + timedelta(hours=20), 7, DEFAULT_SEED)}
    kept = [ref for ref in earlier if not ref.endswith(("-M", "-F", "-I"))]  # not the flood's
    assert kept and all(later[ref].start == earlier[ref].start for ref in kept if ref in later)
    # The same day, the flood's outages keep their references: a second run updates them.
    flood = {r for r in earlier if r not in kept}
    assert flood and flood <= {
        o.reference for o in telecom.outages(NOW + timedelta(hours=2), 7, DEFAULT_SEED)
    }
    # What was ongoing has had time to be restored; nothing restored comes back.
    assert all(later[r].end is not None for r in kept if r in later and earlier[r].end is not None)


def test_outages_span_the_week_inside_and_outside_the_crisis_area(tmp_path: Path) -> None:
    rows = rows_of(telecom.write_outages(tmp_path / "o.csv", NOW, 7, DEFAULT_SEED))
    assert len({r["reference_incident"] for r in rows}) == len(rows) >= 10
    assert {r["service"] for r in rows} == {"mobile", "fixe", "internet"}
    starts = [datetime.fromisoformat(r["debut"]) for r in rows]
    assert min(starts) < NOW - timedelta(days=5) and max(starts) <= NOW
    ongoing = [r for r in rows if r["etat"] == "en cours"]
    assert ongoing and all(r["fin"] == "" for r in ongoing)
    assert all(r["fin"] > r["debut"] for r in rows if r["fin"])
    # The flood: ongoing outages inside the area, flooded or without power.
    assert any(inside(r) and r["etat"] == "en cours" and r["cause"] == "inondation" for r in rows)
    assert any(not inside(r) for r in rows)
    assert all(int(r["clients_impactes"]) > 0 for r in rows)


def test_vulnerable_sites_name_their_serving_element(tmp_path: Path) -> None:
    rows = rows_of(telecom.write_sites(tmp_path / "s.csv"))
    assert {r["element_reseau"] for r in rows} <= set(telecom.BY_CODE)
    assert any(inside(r) for r in rows) and any(not inside(r) for r in rows)
    assert {"hôpital", "ehpad", "centre de dialyse", "école"} <= {r["categorie"] for r in rows}


@pytest.mark.parametrize("source", ["demo-telecom-outages", "demo-telecom-vulnerable-sites"])
def test_the_telecom_sources_harvest_without_quarantine(
    engine: Engine, hub_env: Path, source: str
) -> None:
    written = generate(hub_env / "demo", now=NOW)
    outcome = harvest_ref(source)
    assert outcome.status == "succeeded", outcome.message
    assert outcome.quarantined == 0 and outcome.published == len(
        rows_of(written[-2 if "outages" in source else -1])
    )


def test_the_demo_crisis_is_declared_once(engine: Engine) -> None:
    crisis, declared = telecom.declare_crisis(engine)
    again, declared_again = telecom.declare_crisis(engine)
    assert declared and not declared_again and again.id == crisis.id
    assert [c.id for c in crises.active(engine) if c.name == telecom.CRISIS_NAME] == [crisis.id]
    assert crisis.cells == [telecom.CRISIS_CELL]
    assert as_utc(crisis.starts_at) < as_utc(crisis.ends_at) - timedelta(days=2)
    crises.close(engine, crisis.id, by="test")
    after, declared_after = telecom.declare_crisis(engine)
    assert declared_after and after.id != crisis.id


def test_the_crisis_cell_reads_the_outages_inside_the_area_while_the_crisis_lasts(
    engine: Engine, hub_env: Path
) -> None:
    now = datetime.now(UTC)
    generate(hub_env / "demo", now=now)
    for source in ("demo-telecom-outages", "demo-telecom-vulnerable-sites"):
        assert harvest_ref(source).status == "succeeded"
    crisis, _ = telecom.declare_crisis(engine)
    with Session(engine) as session:
        token = tokens.issue(session, "crisis-cell", [telecom.CRISIS_CELL], "test cell").token
    cell = {"Authorization": f"Bearer {token}"}
    url = "/api/v1/datasets/demo-telecom-outages/records?limit=500"
    expected = {
        o.reference
        for o in telecom.outages(now, 7, DEFAULT_SEED)
        if o.element.flood_prone and o.start >= as_utc(crisis.starts_at)
    }
    with TestClient(create_app()) as client:
        assert client.get(url).status_code in (401, 403)
        read = client.get(url, headers=cell)
        assert read.status_code == 200, read.text
        assert {r["outage_id"] for r in read.json()["records"]} == expected != set()
        crises.close(engine, crisis.id, by="test")
        assert client.get(url, headers=cell).status_code == 403


def test_hub_demo_says_how_to_follow_the_crisis_and_reuses_its_cell_token(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.cli import _say_crisis

    _say_crisis("http://127.0.0.1:8000")
    first = capsys.readouterr().err
    _say_crisis("http://127.0.0.1:8000")
    second = capsys.readouterr().err
    token = first.split("export CELL=")[1].split()[0]
    assert f"export CELL={token}" in second and "declared now" in first and "active" in second
    assert f"feeds/stream?bbox={telecom.CRISIS_BBOX}" in first
    assert "datasets/demo-telecom-outages/records" in first
    with Session(engine) as session:
        actor = tokens.check(session, token)
    assert (actor.role, actor.organizations) == ("crisis-cell", frozenset({telecom.CRISIS_CELL}))
    assert len([c for c in crises.active(engine) if c.name == telecom.CRISIS_NAME]) == 1
    # whoever audits the cell's reads finds where its token came from, issued once
    with Session(engine) as session:
        issued = session.exec(
            select(AccessEvent).where(AccessEvent.scope == "token", AccessEvent.route == "hub demo")
        ).all()
    assert [(e.producer, e.reason.split()[:4]) for e in issued] == [
        (telecom.CRISIS_CELL, ["issued", "crisis-cell", "token", actor.id])
    ]
