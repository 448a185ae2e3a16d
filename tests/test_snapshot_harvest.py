"""Snapshot sources (pipelines.snapshots): an IPT archive is the whole dataset, so the records a
new version drops are withdrawn at its harvest, through hub.withdrawal, unless the batch was not
stored whole or the archive lacks too much of the dataset to be trusted."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import catalogue
from hub.models import Event
from pipelines.flows import harvest_source
from tests.iptarchives import ipt_source, ipt_zip, occurrence

DATASET = "onem-inventaire"
V1 = [occurrence(n) for n in range(1, 11)]


def stored_ids(engine: Engine) -> set[str]:
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, DATASET))
    with engine.connect() as connection:
        return {r[0] for r in connection.execute(sa.select(layout.table.c.occurrenceID))}


def harvest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows, **options):  # type: ignore[no-untyped-def]
    return harvest_source(ipt_source(ipt_zip(tmp_path / "onem.zip", rows), monkeypatch, **options))


def test_records_dropped_from_a_new_archive_are_withdrawn(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert harvest(tmp_path, monkeypatch, V1).published == 10
    # v2: onem-005 withdrawn upstream as sensitive, onem-006 blurred to its grid cell
    v2 = [r for r in V1 if r["occurrenceID"] != "onem-005"]
    v2[4] = {**v2[4], "decimalLatitude": "43.65", "coordinateUncertaintyInMeters": "7071"}
    outcome = harvest(tmp_path, monkeypatch, v2)
    assert (outcome.status, outcome.updated, outcome.withdrawn) == ("succeeded", 1, 1)
    assert "1 rows withdrawn (rows the source no longer holds)" in outcome.message
    assert "onem-005" not in stored_ids(engine) and len(stored_ids(engine)) == 9
    with Session(engine) as session:
        dataset = catalogue.get(session, DATASET)
        assert dataset.record_count == 9
        latest = catalogue.runs_of(session, DATASET, limit=1)[0]
        assert latest.status == "succeeded" and latest.error.startswith("withdrawal: 1 rows")
        kinds = session.exec(select(Event).where(Event.kind == "dataset")).all()
    assert kinds[-1].payload["withdrawn"] == 1
    # the same archive again withdraws nothing more, and makes no withdrawal run
    again = harvest(tmp_path, monkeypatch, v2)
    assert (again.withdrawn, again.skipped) == (0, 9)


def test_a_partial_batch_or_a_source_not_a_snapshot_withdraws_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harvest(tmp_path, monkeypatch, V1)
    # one row quarantined: the archive is not all stored, so nothing may be taken for gone
    broken = [*V1[:8], {**V1[8], "basisOfRecord": "Rumour"}]
    outcome = harvest(tmp_path, monkeypatch, broken)
    assert (outcome.status, outcome.withdrawn) == ("partial", 0)
    assert len(stored_ids(engine)) == 10
    outcome = harvest(tmp_path, monkeypatch, V1[:8], snapshot=False)
    assert (outcome.status, outcome.withdrawn) == ("succeeded", 0)
    assert len(stored_ids(engine)) == 10


def test_an_emptied_or_truncated_archive_is_refused_its_withdrawal(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harvest(tmp_path, monkeypatch, V1)
    for rows in ([], V1[:3]):
        outcome = harvest(tmp_path, monkeypatch, rows)
        assert outcome.withdrawn == 0
        assert "refused: the source lacks" in outcome.message
        assert len(stored_ids(engine)) == 10
    with Session(engine) as session:
        latest = catalogue.runs_of(session, DATASET, limit=1)[0]
    assert latest.status == "refused"
    assert (
        "lacks 7 of the 10 rows stored (70%, over its max_withdrawn_share of 50%)" in latest.error
    )
    # the operator confirms: the source really dropped them
    outcome = harvest(tmp_path, monkeypatch, V1[:3], max_withdrawn_share=0.9)
    assert outcome.withdrawn == 7 and len(stored_ids(engine)) == 3
