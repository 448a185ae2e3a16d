"""The one search: stemmed words and synonyms, facets, area and dates, sorts, kept in step with the
catalogue, and blind to what a caller may not read — on SQLite (FTS5) and PostgreSQL alike."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from hub import search, searchindex, wording
from hub.access import Actor
from hub.models import Dataset, Organization, Resource
from hub.search import AllOf, AnyOf, Between, Equals, Not, Query, Words

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def dataset(id: str, title: str, **fields) -> Dataset:
    values = {
        "organization_id": "atmo",
        "theme": "air-quality",
        "schema_name": "air-quality-observation",
        "charter_id": "atmo-open",
        "access": "open",
        "licence_id": "etalab-2.0",
        "licence_title": "Licence Ouverte 2.0",
        "modified_at": T0,
        "created_at": T0,
        **fields,
    }
    return Dataset(id=id, title=title, **values)


@pytest.fixture
def catalogue(engine):
    """Five datasets of three organizations, with resources and extents."""
    with Session(engine) as session:
        session.add(Organization(id="atmo", name="Atmo Occitanie"))
        session.add(Organization(id="rte", name="Réseau de transport d'électricité"))
        session.add(Organization(id="enedis", name="Enedis", kind="private"))
        session.flush()
        session.add_all(
            [
                dataset(
                    "atmo-no2-hourly",
                    "Dioxyde d'azote, moyennes horaires",
                    description="Hourly means of NO₂ at Montpellier's stations.",
                    keywords=["pollution", "no2"],
                    bbox=[3.8, 43.5, 4.0, 43.7],
                    time_min=T0,
                    time_max=T0 + timedelta(days=30),
                    record_count=720,
                    modified_at=T0 + timedelta(days=3),
                ),
                dataset(
                    "atmo-pm25",
                    "Particules fines PM2.5",
                    description="Daily PM2,5 concentrations measured in Toulouse.",
                    keywords=["pollution", "particules"],
                    bbox=[1.3, 43.5, 1.5, 43.7],
                    time_min=T0 + timedelta(days=60),
                    time_max=T0 + timedelta(days=90),
                    record_count=90,
                    modified_at=T0 + timedelta(days=1),
                ),
                dataset(
                    "rte-eco2mix",
                    "Production d'électricité par filière",
                    description="Énergie produite chaque quart d'heure en France.",
                    organization_id="rte",
                    theme="energy",
                    schema_name="energy-mix",
                    keywords=["énergie", "électricité"],
                    licence_id="ODbL-1.0",
                    licence_title="ODbL",
                    bbox=[-5.0, 42.0, 8.0, 51.0],
                    modified_at=T0 + timedelta(days=2),
                ),
                dataset(
                    "enedis-load-curves",
                    "Household load curves",
                    description="Minute energy readings of consenting households.",
                    organization_id="enedis",
                    theme="energy",
                    schema_name="energy-consumption",
                    charter_id="enedis-personal",
                    access="personal",
                    keywords=["energy", "households"],
                    bbox=[2.28, 48.77, 2.30, 48.78],
                    time_min=T0,
                    time_max=T0 + timedelta(days=7),
                    record_count=10_000,
                    modified_at=T0 + timedelta(days=4),
                ),
                dataset("atmo-stations", "Stations de mesure", keywords=["stations"]),
            ]
        )
        session.flush()
        session.add(
            Resource(
                id="r-no2",
                dataset_id="atmo-no2-hourly",
                name="records",
                table_name="records_no2",
                schema_descriptor={"fields": [{"name": "averaging_period", "title": "Period"}]},
            )
        )
        session.add(
            Resource(
                id="r-grid",
                dataset_id="rte-eco2mix",
                name="grid",
                kind="grid",
                format="NetCDF",
                schema_descriptor={},
            )
        )
        session.commit()
    return engine


def ids(engine, query: Query, actor: Actor | None = None) -> list[str]:
    with Session(engine) as session:
        found = search.find(session, query, actor or Actor())
        assert found.total >= len(found.ids)
        return found.ids


def matching(engine, text: str) -> set[str]:
    return set(ids(engine, Query(text, limit=100)))


def test_words_are_stemmed_in_english_and_french(catalogue):
    assert matching(catalogue, "hourly") == {"atmo-no2-hourly"}
    assert matching(catalogue, "hour") == {"atmo-no2-hourly"}
    assert matching(catalogue, "household") == {"enedis-load-curves"}
    assert matching(catalogue, "énergie") == {"rte-eco2mix", "enedis-load-curves"}
    assert matching(catalogue, "ENERGIE") == matching(catalogue, "énergie")
    assert matching(catalogue, "particule") == {"atmo-pm25"}
    assert matching(catalogue, "station") == {"atmo-stations", "atmo-no2-hourly"}


def test_every_word_must_match(catalogue):
    assert matching(catalogue, "pollution toulouse") == {"atmo-pm25"}
    assert matching(catalogue, "pollution lyon") == set()
    assert matching(catalogue, "") == {
        "atmo-no2-hourly",
        "atmo-pm25",
        "rte-eco2mix",
        "enedis-load-curves",
        "atmo-stations",
    }


def test_codes_are_one_word_however_written(catalogue):
    for spelling in ("pm25", "pm2.5", "PM2,5", "PM₂.₅"):
        assert matching(catalogue, spelling) == {"atmo-pm25"}, spelling
    assert matching(catalogue, "no2") == matching(catalogue, "NO₂") == {"atmo-no2-hourly"}


def test_enum_labels_are_synonyms_of_their_code(catalogue):
    assert matching(catalogue, "nitrogen dioxide") == {"atmo-no2-hourly"}
    assert matching(catalogue, "dioxyde d'azote") == {"atmo-no2-hourly"}
    assert matching(catalogue, "particules fines PM2,5") == {"atmo-pm25"}
    assert matching(catalogue, "fine particles PM2.5") == {"atmo-pm25"}


@pytest.mark.parametrize(
    "text", ["énergie", "énergie active", "dioxyde d'azote", "no2", "particules fines", "pm2.5"]
)
def test_each_term_is_scored_once_and_matches_as_every_synonym_would(catalogue, text):
    """A synonym holding one of the word's own terms (`énergie active` for `énergie`) matches
    nothing more: it is left out, and each term is named once, so the store scores it once.
    What matches is what every way of the word, written out in full, matches."""
    with Session(catalogue) as session:
        session.add(dataset("active", "Puissance active", description="Énergie active"))
        session.add(dataset("energy", "Energy", description="Consommation d'énergie"))
        session.add(dataset("nitrogen", "Nitrogen dioxide near roads"))  # no `no2` in it
        session.commit()
    sqlite = catalogue.dialect.name == "sqlite"
    syntax = search.FTS5 if sqlite else search.TSQUERY
    words = wording.query_words(text, search.synonyms())
    expression = search.match_expression(words, None, syntax)
    quoted = re.findall(r"[\"'](\w+)[\"']", expression)
    assert len(quoted) == len(set(quoted)), expression

    def any_of(stems: tuple[str, ...]) -> str:
        return "(" + syntax.either.join(syntax.term.format(stem=s, part="") for s in stems) + ")"

    every_way = syntax.both.join(
        "(" + syntax.either.join(
            [any_of(w.stems)] * bool(w.stems)
            + ["(" + syntax.both.join(any_of(p) for p in n) + ")" for n in w.synonyms]
        ) + ")"
        for w in words
    )  # fmt: skip

    def hits(match: str) -> set[str]:
        if sqlite:
            statement = sa.text(
                "SELECT d.id FROM searchdoc d JOIN searchfts f ON f.rowid = d.id "
                "WHERE searchfts MATCH :m"
            )
        else:
            statement = sa.text(
                "SELECT id FROM searchdoc WHERE document @@ to_tsquery('simple', :m)"
            )
        with catalogue.connect() as connection:
            return {str(row[0]) for row in connection.execute(statement, {"m": match})}

    assert hits(expression) == hits(every_way) != set(), (expression, every_way)


def test_organization_and_schema_fields_are_searched(catalogue):
    assert matching(catalogue, "occitanie") == {"atmo-no2-hourly", "atmo-pm25", "atmo-stations"}
    assert matching(catalogue, "averaging") == {"atmo-no2-hourly"}  # a field of its schema


def test_title_words_rank_first(catalogue):
    # "particules" is in atmo-pm25's title and keywords, in no other dataset.
    with Session(catalogue) as session:
        session.add(dataset("atmo-notes", "Notes", description="Particules et autres"))
        session.commit()
    assert ids(catalogue, Query("particules")) == ["atmo-pm25", "atmo-notes"]


def test_facets_are_counted_over_the_matching_datasets(catalogue):
    with Session(catalogue) as session:
        found = search.find(
            session, Query("", facets=("theme", "organization", "license_id", "res_format", "tags"))
        )
    assert found.total == 5
    assert found.facets["theme"] == [("air-quality", 3), ("energy", 2)]
    assert found.facets["organization"] == [("atmo", 3), ("enedis", 1), ("rte", 1)]
    assert found.facets["license_id"] == [("etalab-2.0", 4), ("ODbL-1.0", 1)]
    assert found.facets["res_format"] == [("CSV", 1), ("NetCDF", 1)]
    assert found.facets["tags"][0] == ("pollution", 2)


def test_a_facet_beside_its_filter_counts_the_other_values(catalogue):
    query = Query(filters={"theme": ["energy"]}, facets=("theme", "organization"))
    with Session(catalogue) as session:
        narrow = search.find(session, query)
        beside = search.find(
            session,
            Query(
                filters={"theme": ["energy"]},
                facets=("theme", "organization"),
                facets_beside_filters=True,
            ),
        )
    assert narrow.total == beside.total == 2
    assert narrow.facets["theme"] == [("energy", 2)]
    assert beside.facets["theme"] == [("air-quality", 3), ("energy", 2)]
    assert beside.facets["organization"] == narrow.facets["organization"]


def test_filters_take_any_of_their_values_and_all_filters(catalogue):
    assert set(ids(catalogue, Query(filters={"organization": ["rte", "enedis"]}))) == {
        "rte-eco2mix",
        "enedis-load-curves",
    }
    both = Query(filters={"organization": ["rte", "enedis"], "access": ["personal"]})
    assert ids(catalogue, both) == ["enedis-load-curves"]


def test_area_finds_datasets_whose_extent_intersects_it(catalogue):
    montpellier = (3.85, 43.55, 3.9, 43.65)
    assert set(ids(catalogue, Query(bbox=montpellier))) == {"atmo-no2-hourly", "rte-eco2mix"}
    assert ids(catalogue, Query(bbox=(100.0, 10.0, 101.0, 11.0))) == []


def test_dates_filter_on_modification_and_time_coverage(catalogue):
    since = Query(updated_since=T0 + timedelta(days=2))
    assert set(ids(catalogue, since)) == {"atmo-no2-hourly", "rte-eco2mix", "enedis-load-curves"}
    march = Query(covers_from=T0 + timedelta(days=70), covers_until=T0 + timedelta(days=80))
    assert ids(catalogue, march) == ["atmo-pm25"]
    assert ids(catalogue, Query(covers_until=T0 - timedelta(days=1))) == []


def test_what_is_computed_from_personal_rows_is_not_searchable(catalogue):
    """An attacker may not learn where or when a household's data lies, nor how much of it."""
    sceaux = (2.285, 48.775, 2.29, 48.776)
    week = Query(covers_from=T0 + timedelta(days=1), covers_until=T0 + timedelta(days=2))
    many = Query(where=Between("record_count", 5000.0, None))
    for query in (Query(bbox=sceaux), week, many):
        assert "enedis-load-curves" not in ids(catalogue, query)
    big_first = Query(sort=(("record_count", True),))
    assert ids(catalogue, big_first)[0] == "atmo-no2-hourly"
    with Session(catalogue) as session:
        facet = search.find(session, Query(facets=("record_count",))).facets["record_count"]
    assert ("10000", 1) not in facet
    operator = Actor("op", "operator", frozenset({"enedis"}))
    assert "enedis-load-curves" in ids(catalogue, Query(bbox=sceaux), operator)
    assert "enedis-load-curves" in ids(catalogue, many, operator)
    # Declared metadata stays public.
    assert ids(catalogue, Query("household")) == ["enedis-load-curves"]


def test_sorts_and_pages(catalogue):
    by_name = Query(sort=(("name", False),), limit=2)
    assert ids(catalogue, by_name) == ["atmo-no2-hourly", "atmo-pm25"]
    assert ids(catalogue, Query(sort=(("name", False),), limit=2, offset=4)) == ["rte-eco2mix"]
    newest = ids(catalogue, Query(sort=search.sort_of("-modified"), limit=3))
    assert newest == ["enedis-load-curves", "atmo-no2-hourly", "rte-eco2mix"]
    assert ids(catalogue, Query(sort=search.sort_of("title"), limit=1)) == ["atmo-no2-hourly"]
    with pytest.raises(search.BadQuery, match="cannot sort on 'colour'"):
        search.sort_of("colour")


def test_conditions_combine_like_a_query_language(catalogue):
    either = AnyOf((Equals("organization", "rte"), Words("household")))
    assert set(ids(catalogue, Query(where=either))) == {"rte-eco2mix", "enedis-load-curves"}
    air_but_no2 = AllOf((Equals("theme", "air-quality"), Not(Words("no2"))))
    assert set(ids(catalogue, Query(where=air_but_no2))) == {"atmo-pm25", "atmo-stations"}
    assert ids(catalogue, Query(where=Words("particules", part="title"))) == ["atmo-pm25"]
    assert ids(catalogue, Query(where=Words("montpellier", part="title"))) == []
    pattern = Equals("id", "atmo-*", pattern=True)
    assert len(ids(catalogue, Query(where=pattern))) == 3
    literal = Equals("id", "atmo_no2%", pattern=True)  # SQL's wildcards are plain characters
    assert ids(catalogue, Query(where=literal)) == []
    recent = Between("metadata_modified", "2025-01-03T12:00:00Z", None)
    assert set(ids(catalogue, Query(where=recent))) == {"atmo-no2-hourly", "enedis-load-curves"}


def test_the_index_follows_every_change_to_the_catalogue(catalogue):
    with Session(catalogue) as session:
        renamed = session.get(Dataset, "atmo-stations")
        assert renamed is not None
        renamed.title = "Réseau de capteurs"
        session.add(renamed)
        organization = session.get(Organization, "rte")
        assert organization is not None
        organization.name = "Gestionnaire du réseau"
        session.add(organization)
        gone = session.get(Dataset, "atmo-pm25")
        session.delete(gone)
        session.commit()
    assert matching(catalogue, "capteurs") == {"atmo-stations"}
    assert matching(catalogue, "mesure") == set()
    assert matching(catalogue, "gestionnaire") == {"rte-eco2mix"}
    assert matching(catalogue, "pm25") == set()
    with catalogue.connect() as connection:
        left = connection.execute(
            sa.select(sa.func.count()).where(searchindex.searchfield.c.dataset_id == "atmo-pm25")
        ).scalar_one()
    assert left == 0


def test_a_rolled_back_change_leaves_the_index_as_it_was(catalogue):
    with Session(catalogue) as session:
        changed = session.get(Dataset, "atmo-stations")
        assert changed is not None
        changed.title = "Capteurs"
        session.add(changed)
        session.flush()
        session.rollback()
    assert matching(catalogue, "capteurs") == set()
    assert matching(catalogue, "stations") == {"atmo-stations", "atmo-no2-hourly"}


def test_a_rebuild_gives_the_same_index(catalogue):
    before = {text: matching(catalogue, text) for text in ("pollution", "énergie", "pm2.5")}
    with catalogue.begin() as connection:
        searchindex.rebuild(connection)
    assert {text: matching(catalogue, text) for text in before} == before


@pytest.mark.parametrize(
    "text",
    [
        '"',
        "'",
        "(",
        ")",
        "*",
        "NEAR(a b)",
        "a OR",
        "title:",
        "^",
        ":",
        "-",
        "\\",
        "日本語",
        "x" * 500,
    ],
)
def test_any_text_is_searched_without_error(catalogue, text):
    with Session(catalogue) as session:
        search.find(session, Query(text))


def test_a_catalogue_from_before_the_search_index_is_indexed_on_upgrade(database_url):
    from alembic import command
    from alembic.config import Config

    from hub.db import MIGRATIONS, make_engine, upgrade

    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        organization = sa.table(  # as 0006 had it: today's model has columns it had not
            "organization", *map(sa.column, ("id", "name", "kind", "description", "created_at"))
        )
        connection.execute(
            sa.insert(organization).values(
                id="atmo", name="Atmo", kind="public", description="", created_at=T0
            )
        )
        row = dataset("old-no2", "Dioxyde d'azote").model_dump()
        held = {column["name"] for column in sa.inspect(connection).get_columns("dataset")}
        old = {name: value for name, value in row.items() if name in held}  # as 0006 had them
        connection.execute(sa.insert(searchindex.DATASETS).values(**old))
    upgrade(engine)
    assert ids(engine, Query("nitrogen dioxide")) == ["old-no2"]
    upgrade(engine)  # once indexed, an upgrade leaves the index alone
    assert ids(engine, Query("azote")) == ["old-no2"]
    engine.dispose()
