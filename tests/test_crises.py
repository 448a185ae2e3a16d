"""Declaring, closing and listing crises (hub.crises and `hub crisis`): malformed declarations
are refused with their reason and store nothing; declarations and closes are feed events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from crisisdata import AREA_A, AREA_B, CELL_A, CELL_B, HOLE, SQUARE, TRIANGLE, reference
from typer.testing import CliRunner

from hub import crises, events
from hub.cli import app

runner = CliRunner()
START = datetime(2026, 12, 1, tzinfo=UTC)
END = datetime(2026, 12, 8, tzinfo=UTC)


def declare(engine, area=AREA_A, start=START, end=END, cells=(CELL_A,), name="Flood", at=None):
    """Declared at its start unless `at` says when (the window is judged from then)."""
    return crises.declare(
        engine,
        name=name,
        area=area,
        start=start,
        end=end,
        cells=list(cells),
        by="t-admin",
        at=at or start,
    )


def crisis_events(engine) -> list[dict]:
    with engine.connect() as connection:
        return [e.data for e in events.after(connection, 0) if e.kind == "crisis"]


def test_a_declared_crisis_is_stored_listed_and_announced(engine):
    crisis = declare(engine, name="Crue de la Garonne – décembre")
    assert crisis.id.startswith("crue-de-la-garonne-decembre-") and len(crisis.id) <= 64
    assert crisis.bbox == [1.0, 43.0, 3.5, 44.0]
    assert crisis.cells == [CELL_A] and crisis.declared_by == "t-admin"
    assert [c.id for c in crises.listing(engine)] == [crisis.id]
    assert crises.get(engine, crisis.id).area == AREA_A
    (announced,) = crisis_events(engine)
    assert announced["status"] == "declared" and announced["id"] == crisis.id
    assert (
        announced["from"] == "2026-12-01T00:00:00Z" and announced["until"] == "2026-12-08T00:00:00Z"
    )
    assert announced["cells"] == [CELL_A] and announced["area"] == AREA_A
    assert announced["theme"] == "risk" and announced["bbox"] == [1.0, 43.0, 3.5, 44.0]


def test_a_feature_or_a_collection_of_one_feature_is_taken_as_its_geometry(engine):
    feature = {"type": "Feature", "properties": {"name": "B"}, "geometry": AREA_B}
    collection = {"type": "FeatureCollection", "features": [feature]}
    assert declare(engine, area=feature).area == AREA_B
    assert declare(engine, area=collection).area == AREA_B


def test_active_crises_are_those_declared_not_closed_and_within_their_window(engine):
    crisis = declare(engine)
    assert crises.active(engine, START - timedelta(seconds=1)) == []
    assert [c.id for c in crises.active(engine, START)] == [crisis.id]
    assert crises.active(engine, END) == []
    assert crises.status(crisis, START - timedelta(days=1)) == "scheduled"
    assert crises.status(crisis, START) == "active"
    assert crises.status(crisis, END) == "ended"
    crises.close(engine, crisis.id, by="t-admin")
    assert crises.active(engine, START) == []


def test_closing_is_announced_once_and_an_unknown_or_closed_crisis_is_an_error(engine):
    crisis = declare(engine)
    closed = crises.close(engine, crisis.id, by="t-admin")
    assert closed.closed_at is not None and closed.closed_by == "t-admin"
    assert crises.as_json(closed)["status"] == "closed"
    with pytest.raises(crises.CrisisClosed, match="closed already"):
        crises.close(engine, crisis.id, by="t-admin")
    with pytest.raises(crises.UnknownCrisis):
        crises.close(engine, "no-such-crisis", by="t-admin")
    with pytest.raises(crises.UnknownCrisis):
        crises.get(engine, "no-such-crisis")
    assert [e["status"] for e in crisis_events(engine)] == ["declared", "closed"]


BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
OPEN_RING = {"type": "Polygon", "coordinates": [TRIANGLE[:-1] + [[1.5, 43.5]]]}
OUT_OF_BOUNDS = {"type": "Polygon", "coordinates": [[[179, 0], [181, 0], [180, 1], [179, 0]]]}
HOLE_OUTSIDE = {"type": "Polygon", "coordinates": [SQUARE, HOLE]}


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"area": {"type": "Point", "coordinates": [1, 43]}}, "Polygon or MultiPolygon"),
        ({"area": {"type": "FeatureCollection", "features": []}}, "at least one feature"),
        ({"area": {"type": "Feature", "geometry": None}}, "no geometry"),
        ({"area": {"type": "Polygon", "coordinates": [[[1, 43], [2, 43], [1, 43]]]}}, "at least 4"),
        ({"area": OPEN_RING}, "not closed"),
        ({"area": OUT_OF_BOUNDS}, "outside WGS84"),
        (
            {"area": {"type": "Polygon", "coordinates": [[[1, 43], ["x", 43], [2, 44], [1, 43]]]}},
            "position",
        ),
        ({"area": BOWTIE}, "not a valid polygon"),
        ({"area": HOLE_OUTSIDE}, "not a valid polygon"),
        ({"area": {"type": "MultiPolygon", "coordinates": []}}, "non-empty"),
        ({"area": "POLYGON((1 43, 2 43, 1 44, 1 43))"}, "GeoJSON object"),
        ({"end": START}, "end after it starts"),
        ({"end": START - timedelta(hours=1)}, "end after it starts"),
        ({"at": END}, "window ended at 2026-12-08T00:00:00Z, before this declaration"),
        (
            {"at": START + timedelta(days=32), "end": START + timedelta(days=60)},
            "at most 31 days before its declaration",
        ),
        ({"start": datetime(1, 1, 1, tzinfo=UTC), "at": START}, "at most 31 days before"),
        ({"end": datetime(9999, 12, 31, tzinfo=UTC)}, "at most 366"),
        ({"cells": []}, "at least one cell"),
        ({"cells": ["  "]}, "at least one cell"),
        ({"cells": ["has space"]}, "not an organization id"),
        ({"name": "   "}, "needs a name"),
        ({"name": "x" * 201}, "longer than 200"),
        ({"name": "a\x00b"}, "control characters"),
    ],
)
def test_a_malformed_declaration_is_refused_with_its_reason_and_stores_nothing(
    engine, changes, said
):
    with pytest.raises(crises.CrisisRefused, match=said):
        declare(engine, **changes)
    assert crises.listing(engine) == [] and crisis_events(engine) == []


def write_area(tmp_path, area) -> str:
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps(area) if not isinstance(area, str) else area, encoding="utf-8")
    return str(path)


CLI_FROM = reference() - timedelta(days=1)
CLI_UNTIL = CLI_FROM + timedelta(days=7)


def cli_declare(tmp_path, area=AREA_A, *extra: str):
    return runner.invoke(
        app,
        [
            "crisis",
            "declare",
            "--name",
            "Flood of the Garonne",
            "--area",
            write_area(tmp_path, area),
            "--from",
            CLI_FROM.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--until",
            CLI_UNTIL.strftime("%Y-%m-%dT%H:%M:%S+01:00"),  # its wall clock, an hour ahead
            *extra,
        ],
    )


def test_the_cli_declares_lists_and_closes_a_crisis(engine, tmp_path):
    made = cli_declare(tmp_path, AREA_A, "--cells", CELL_A, CELL_B, "--cells", "c,d")
    assert made.exit_code == 0, made.output
    crisis_id = made.stdout.splitlines()[0]
    for cell in (CELL_A, CELL_B, "c", "d"):  # no token names them yet
        assert f"no organization and no crisis-cell token is named '{cell}'" in made.output
    crisis = crises.get(engine, crisis_id)
    assert crisis.cells == sorted([CELL_A, CELL_B, "c", "d"]) and crisis.declared_by == "cli"
    assert crisis.ends_at.replace(tzinfo=UTC) == CLI_UNTIL - timedelta(hours=1)
    listed = runner.invoke(app, ["crisis", "list"])
    assert listed.exit_code == 0 and crisis_id in listed.stdout and "Flood of the" in listed.stdout
    closed = runner.invoke(app, ["crisis", "close", crisis_id])
    assert closed.exit_code == 0, closed.output
    assert crises.get(engine, crisis_id).closed_by == "cli"
    again = runner.invoke(app, ["crisis", "close", crisis_id])
    assert again.exit_code == 1 and "closed already" in again.output
    unknown = runner.invoke(app, ["crisis", "close", "nope"])
    assert unknown.exit_code == 1 and "no crisis 'nope'" in unknown.output


@pytest.mark.parametrize(
    ("area", "extra", "said"),
    [
        (BOWTIE, ("--cells", CELL_A), "not a valid polygon"),
        ("{not json", ("--cells", CELL_A), "no GeoJSON to read"),
        (AREA_A, ("--cells", " "), "at least one cell"),
        (
            {"type": "Polygon", "coordinates": [[[1, 43], [200, 43], [1, 44], [1, 43]]]},
            ("--cells", CELL_A),
            "outside WGS84",
        ),
    ],
)
def test_the_cli_refuses_bad_input_with_exit_2_and_stores_nothing(
    engine, tmp_path, area, extra, said
):
    refused = cli_declare(tmp_path, area, *extra)
    assert refused.exit_code == 2 and said in " ".join(refused.output.split())
    assert crises.listing(engine) == []


def test_the_cli_refuses_a_bad_time_or_a_missing_file(engine, tmp_path):
    bad_time = runner.invoke(
        app,
        [
            "crisis", "declare", "--name", "X", "--area", write_area(tmp_path, AREA_A),
            "--from", "tomorrow", "--until", "2026-12-08", "--cells", CELL_A,
        ],
    )  # fmt: skip
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.output
    missing = runner.invoke(
        app,
        [
            "crisis", "declare", "--name", "X", "--area", str(tmp_path / "none.geojson"),
            "--from", "2026-12-01", "--until", "2026-12-08", "--cells", CELL_A,
        ],
    )  # fmt: skip
    assert missing.exit_code == 2 and "no GeoJSON to read" in missing.output
    assert crises.listing(engine) == []


def test_zones_are_gathered_only_for_crisis_cells_reading_crisis_datasets(engine):
    from hub.access import Actor
    from hub.models import Dataset

    now = reference()
    declare(engine, start=now - timedelta(hours=1), end=now + timedelta(hours=1))
    crisis_data = Dataset(
        id="d", title="d", organization_id="o", theme="risk", schema_name="s", access="crisis",
        charter_id="c",
    )  # fmt: skip
    mine = Actor(id="t", role="crisis-cell", organizations=frozenset({CELL_A}))
    (zone,) = crises.zones(engine, crisis_data, mine)
    assert zone.cells == {CELL_A} and zone.bbox == (1.0, 43.0, 3.5, 44.0)
    assert crises.zones(engine, crisis_data.model_copy(update={"access": "restricted"}), mine) == ()
    assert (
        crises.zones(
            engine, crisis_data, Actor(id="a", role="agency", organizations=frozenset({CELL_A}))
        )
        == ()
    )
    assert (
        crises.zones(
            engine,
            crisis_data,
            Actor(id="t", role="crisis-cell", organizations=frozenset({CELL_B})),
        )
        == ()
    )
