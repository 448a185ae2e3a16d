"""Darwin Core terms of an IPT archive: the sensitivity and description terms the schema
carries are published; the columns it lacks are named in the run's report, never dropped unsaid."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from hub import catalogue
from pipelines.flows import harvest_source
from pipelines.sources import load_source
from tests.iptarchives import ipt_source, ipt_zip, occurrence

BUNDLED = Path(__file__).parents[2] / "pipelines" / "sources"
EAGLE = occurrence(
    6,
    scientificName="Aquila fasciata Vieillot, 1822",
    decimalLatitude="43.70",
    decimalLongitude="3.70",
    coordinateUncertaintyInMeters="7071",
    dataGeneralizations="Coordonnées dégradées à la maille 10 km (SINP, niveau 2)",
    informationWithheld="Localisation précise du site de nidification retenue",
    sex="female",
    lifeStage="adult",
    occurrenceRemarks="Couple en parade",
    year="2019",
    establishmentMeans="native",
    eventRemarks="matin",
)


def stored_rows(engine: Engine, dataset_id: str) -> dict[str, dict[str, object]]:
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset_id))
    with engine.connect() as connection:
        return {
            r["occurrenceID"]: dict(r)
            for r in connection.execute(sa.select(layout.table)).mappings()
        }


def test_sensitivity_terms_are_published_and_unmapped_terms_reported(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = ipt_zip(tmp_path / "onem.zip", [occurrence(1), EAGLE])
    outcome = harvest_source(ipt_source(archive, monkeypatch))
    assert (outcome.status, outcome.published) == ("succeeded", 2)
    eagle = stored_rows(engine, "onem-inventaire")["onem-006"]
    assert eagle["dataGeneralizations"] == EAGLE["dataGeneralizations"]
    assert eagle["informationWithheld"] == EAGLE["informationWithheld"]
    assert (eagle["sex"], eagle["lifeStage"], eagle["occurrenceRemarks"]) == (
        "female", "adult", "Couple en parade",
    )  # fmt: skip
    with Session(engine) as session:
        run = catalogue.runs_of(session, "onem-inventaire", limit=1)[0]
    warnings = run.report["tasks"][0]["warnings"]
    # year made eventDate: it is no column left out; the two terms the schema lacks are named
    assert [w for w in warnings if "fill no field" in w] == [
        "2 column(s) of the feed fill no field of schema 'biodiversity-occurrence' 2.1.0 "
        "and were not published: establishmentMeans, eventRemarks"
    ]


def test_a_csv_source_names_its_columns_no_field_takes(engine: Engine) -> None:
    source = load_source(BUNDLED / "tela-botanica-montpellier-inventory.yaml")
    outcome = harvest_source(source)
    assert outcome.status in ("succeeded", "partial")
    with Session(engine) as session:
        run = catalogue.runs_of(session, source.id, limit=1)[0]
    (note,) = [w for w in run.report["tasks"][0]["warnings"] if "fill no field" in w]
    unmapped = note.partition("not published: ")[2].split(", ")
    assert {"Nom retenu", "Notes", "Altitude", "ext:apparence"} <= set(unmapped)
    # the columns its mapping reads are not among them
    assert not {"Espèce", "Famille", "Date", "Latitude", "Lieu-dit"} & set(unmapped)
