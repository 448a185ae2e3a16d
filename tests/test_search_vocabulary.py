"""The search's vocabulary: labels matched by their stems, codes written apart, the places and
taxa a dataset's records name, and "did you mean" from the catalogue's own words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from hub import search, searchsuggestions, wording
from hub.access import Actor
from hub.models import Dataset, Organization, Resource
from hub.search import Query

NOW = datetime.now(UTC)
TAXA = ["Quercus ilex", "Quercus", "Fagaceae", "Chêne vert", "Aquila fasciata", "Aigle de Bonelli"]


def dataset(id: str, title: str, **fields) -> Dataset:
    values = {
        "organization_id": "atmo",
        "theme": "air-quality",
        "schema_name": "air-quality-observation",
        "charter_id": "open",
        "access": "open",
        **fields,
    }
    return Dataset(id=id, title=title, **values)


def names(dataset_id: str, found: list[str]) -> Resource:
    return Resource(
        id=f"{dataset_id}-records",
        dataset_id=dataset_id,
        name="records",
        table_name=f"rec_{dataset_id.replace('-', '_')}",
        schema_descriptor={"fields": []},
        details={"names": found},
    )


@pytest.fixture
def catalogue(engine):
    with Session(engine) as session:
        session.add(Organization(id="atmo", name="Atmo Occitanie"))
        session.flush()
        session.add_all(
            [
                dataset(
                    "no2", "Hourly means", description="NO₂ at the stations.", keywords=["no2"]
                ),
                dataset("sites", "Sites sensibles", description="CHU et EHPAD de la métropole."),
                dataset("pm", "Mesures", description="Les PM 10 et les pm 2,5 de la ville."),
                dataset("pm25", "Particules PM2.5"),
                dataset(
                    "floods",
                    "Risque inondation, Montpellier",
                    theme="risk",
                    schema_name="flood-section",
                    keywords=["pollution"],
                ),
                dataset("stations", "Stations Atmo", published_at=NOW),
                dataset("flora", "Inventaire", theme="biodiversity"),
                dataset("hidden-flora", "Inventaire", theme="biodiversity", access="restricted"),
            ]
        )
        session.flush()
        session.add_all(
            [
                names("stations", ["Lattes", "Castelnau-le-Lez", "Montpellier - Prés d'Arènes"]),
                names("flora", TAXA),
                names("hidden-flora", [*TAXA, "Lathyrus sylvestris"]),
            ]
        )
        session.commit()
    return engine


def matching(engine, text: str, actor: Actor | None = None) -> set[str]:
    with Session(engine) as session:
        return set(search.find(session, Query(text, limit=100), actor or Actor()).ids)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dioxydes d'azote", {"no2"}),  # the label `dioxyde d'azote` of `no2`
        ("hôpitaux", {"sites"}),  # `hôpital` → `chu`
        ("maisons de retraite", {"sites"}),  # `maison de retraite` → `ehpad`
        ("écoles", set()),  # a label of its own, found by its stem; no school here
    ],
)
def test_plurals_of_enum_labels_find_their_value(catalogue, text, expected):
    assert matching(catalogue, text) == expected
    assert wording.query_words(text, search.synonyms())[0].synonyms  # the label, not the word


def test_a_code_written_apart_is_the_code(catalogue):
    for spelling in ("PM 10", "pm10", "PM10"):
        assert matching(catalogue, spelling) == {"pm"}, spelling
    for spelling in ("pm 2,5", "PM 2.5", "pm2,5", "PM2.5"):
        assert matching(catalogue, spelling) == {"pm", "pm25"}, spelling
    # longer words and numbers stay apart
    assert wording.query_words("Lattes 2023", {})[0].text == "Lattes".lower()


def test_the_places_and_taxa_of_open_records_are_searched(catalogue):
    assert matching(catalogue, "Lattes") == {"stations"}
    assert matching(catalogue, "Castelnau-le-Lez") == {"stations"}
    assert matching(catalogue, "castelnau") == {"stations"}
    for taxon in ("Quercus", "chêne vert", "chênes verts", "Fagaceae", "Aigle de Bonelli"):
        assert matching(catalogue, taxon) == {"flora"}, taxon
    # what a restricted dataset's rows hold is not told to those who may not read them
    assert matching(catalogue, "Lathyrus") == set()


def suggestion(engine, text: str) -> str | None:
    with Session(engine) as session:
        return searchsuggestions.suggest(session, Query(text), Actor())


def test_a_query_that_finds_nothing_gets_a_correction_from_the_catalogue(catalogue):
    for typo, fixed in [
        ("innondation", "inondation"),
        ("inondaton", "inondation"),
        ("polution", "pollution"),
        ("Montpelier", "montpellier"),
        ("polution Montpelier", "pollution montpellier"),
        ("Quercuss", "quercus"),
    ]:
        assert matching(catalogue, typo) == set(), typo
        assert suggestion(catalogue, typo) == fixed, typo
        assert matching(catalogue, fixed), fixed
    # known words, or a correction that finds nothing too: no suggestion
    assert suggestion(catalogue, "inondation lyon") is None
    assert suggestion(catalogue, "xyzzy") is None
    # the words of rows a caller may not read are never suggested
    assert suggestion(catalogue, "Lathyrrus") is None
