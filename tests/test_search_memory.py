"""The search's in-memory facets and order (hub.searchcache) answer exactly what the same search
done wholly in SQL answers, and stay true as the catalogue changes under them: in this process,
in another one, and across a rolled-back change."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from hub import search
from hub.access import ANONYMOUS, Actor
from hub.db import make_engine
from hub.models import Dataset, Organization, Resource
from hub.search import AnyOf, Equals, Not, Query, Words

T0 = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = ["air", "ozone", "pollen", "energie", "reseau", "flore", "crue", "vent", "chaleur"]
TAGS = ["pollution", "sante", "climat", "eau", "bruit", "trafic", "biodiversite"]
ORGS = ["atmo", "rte", "enedis", "cbn", "sdis"]
FACETS = ("organization", "tags", "groups", "license_id", "res_format", "access", "schema")


def generated(rng: random.Random, count: int) -> list[Dataset]:
    """Datasets with repeated words (so relevance ties), repeated times and missing values."""
    found = []
    for index in range(count):
        words = rng.sample(WORDS, rng.randint(1, 3))
        found.append(
            Dataset(
                id=f"ds{index:03d}",
                title=" ".join(words),
                description=" ".join(rng.choices(WORDS, k=rng.randint(0, 6))),
                keywords=rng.sample(TAGS, rng.randint(0, 3)),
                organization_id=rng.choice(ORGS),
                theme=rng.choice(["air-quality", "energy", "biodiversity", "risk"]),
                schema_name=rng.choice(["air-quality-observation", "energy-mix", "wildfire"]),
                charter_id="open",
                access=rng.choice(["open", "open", "open", "restricted"]),
                licence_id=rng.choice(["etalab-2.0", "ODbL-1.0", None]),
                modified_at=T0 + timedelta(days=rng.randint(0, 5)),
                created_at=T0 - timedelta(days=rng.randint(0, 3)),
            )
        )
    return found


def queries(rng: random.Random) -> list[Query]:
    """Words, conditions, filters beside facets, every sort the memory serves, pages."""
    found = []
    sorts = [
        search.RELEVANCE,
        (("name", False),),
        (("title", True),),
        (("metadata_modified", True),),
        (("metadata_created", False), ("num_tags", True)),
        (("num_resources", False),),
    ]
    for _ in range(60):
        text = " ".join(rng.sample(WORDS, rng.randint(0, 2)))
        where = rng.choice(
            [
                search.Everything(),
                Equals("organization", rng.choice(ORGS)),
                AnyOf((Words(rng.choice(WORDS)), Equals("tags", rng.choice(TAGS)))),
                Not(Equals("groups", "energy")),
                Words(rng.choice(WORDS), "title"),
            ]
        )
        filters = {"tags": [rng.choice(TAGS)]} if rng.random() < 0.3 else {}
        found.append(
            Query(
                text=text,
                where=where,
                filters=filters,
                sort=rng.choice(sorts),
                limit=rng.choice([0, 5, 20, 100]),
                offset=rng.choice([0, 0, 3]),
                facets=FACETS,
                facet_limit=rng.choice([-1, 2, 50]),
                facet_mincount=rng.choice([0, 1, 2]),
                facets_beside_filters=rng.random() < 0.5,
            )
        )
    return found


def in_sql(session: Session, query: Query, actor: Actor = ANONYMOUS) -> search.Found:
    """The same search, every part of it in SQL (the path a sort on record_count takes)."""
    compiler = search._Compiler(session.connection(), actor)
    return search._find_in_sql(compiler, compiler.conditions(query, None), query)


@pytest.fixture(name="catalogue")
def catalogue_fixture(engine):
    rng = random.Random(7)
    with Session(engine) as session:
        for org in ORGS:
            session.add(Organization(id=org, name=org.upper()))
        session.flush()
        datasets = generated(rng, 80)
        session.add_all(datasets)
        session.flush()
        for dataset in datasets[::3]:
            session.add(
                Resource(
                    id=f"{dataset.id}-file",
                    dataset_id=dataset.id,
                    name="file",
                    schema_descriptor={},
                    url="https://example.org/f.zip",
                    format=rng.choice(["ZIP", "CSV"]),
                    kind="file",
                )
            )
        session.commit()
    return engine


def test_memory_answers_as_sql(catalogue):
    with Session(catalogue) as session:
        for query in queries(random.Random(11)):
            assert search.find(session, query) == in_sql(session, query), query


def test_a_change_in_another_process_is_counted(catalogue, database_url):
    with Session(catalogue) as session:
        before = search.find(session, Query(facets=("organization",), limit=0))
    # Another process: its own engine, its own copy; it changes a dataset's organization.
    other = make_engine(database_url)
    with Session(other) as session:
        changed = session.get(Dataset, "ds000")
        assert changed is not None
        moved_from = changed.organization_id
        changed.organization_id = "sdis" if moved_from != "sdis" else "atmo"
        session.commit()
    other.dispose()
    with Session(catalogue) as session:
        query = Query(facets=("organization",), limit=0)
        after = search.find(session, query)
        assert after == in_sql(session, query)
    counts_before, counts_after = (
        dict(before.facets["organization"]),
        dict(after.facets["organization"]),
    )
    assert counts_after[moved_from] == counts_before[moved_from] - 1


def bog(id: str, keyword: str, organization: str) -> Dataset:
    return Dataset(
        id=id,
        title="tourbiere",
        keywords=[keyword],
        organization_id=organization,
        theme="biodiversity",
        schema_name="wildfire",
        charter_id="open",
    )


def committed_then_found(
    writer: Engine, searcher: Engine, dataset: Dataset, query: Query
) -> search.Found:
    """Commit `dataset` through `writer`, then search through `searcher`: its answer, checked
    against the same search read in SQL."""
    with Session(writer) as session:
        session.add(dataset)
        session.commit()
    with Session(searcher) as session:
        found = search.find(session, query)
        assert found == in_sql(session, query)
    return found


def test_a_rolled_back_change_leaves_no_trace(catalogue):
    query = Query(text="tourbiere", facets=("organization", "tags"))
    with Session(catalogue) as session:
        session.add(bog("zz-draft", "draft", "cbn"))
        session.flush()
        seen = search.find(session, query)  # the copy now holds the uncommitted document
        assert seen.ids == ["zz-draft"]
        session.rollback()
    found = committed_then_found(catalogue, catalogue, bog("zz-final", "final", "atmo"), query)
    assert found.ids == ["zz-final"]
    assert found.facets == {"organization": [("atmo", 1)], "tags": [("final", 1)]}


def test_a_sort_on_counts_stays_in_sql_and_follows_grants(catalogue):
    """record_count is computed from the rows: ordered by it only where the caller may see it,
    which the memory does not know, so that search keeps to SQL."""
    query = Query(sort=(("record_count", True),), limit=10, facets=("organization",))
    with Session(catalogue) as session:
        assert search.find(session, query) == in_sql(session, query)


def test_words_narrowed_by_held_filters_answer_as_sql(catalogue):
    """Words ranked by relevance with filters on held fields take one ranked pass and filter in
    memory: the same totals, pages and facets (beside their filters or not) as SQL."""
    rng = random.Random(5)
    with Session(catalogue) as session:
        for _ in range(40):
            filters = {
                "tags": rng.sample(TAGS, rng.randint(1, 2)),
                "organization": [rng.choice(ORGS).upper()],  # values compare folded, as in SQL
                "res_format": [rng.choice(["csv", "ZIP"])],
                "groups": [rng.choice(["air-quality", "energy"])],
            }
            chosen = dict(rng.sample(sorted(filters.items()), rng.randint(1, 3)))
            query = Query(
                text=" ".join(rng.sample(WORDS, rng.randint(1, 2))),
                filters=chosen,
                limit=rng.choice([0, 5, 20]),
                offset=rng.choice([0, 2]),
                facets=FACETS,
                facets_beside_filters=rng.random() < 0.5,
            )
            assert search._words_and_held_filters(query)
            assert search.find(session, query) == in_sql(session, query), query


def test_conditions_on_held_values_answer_as_sql(catalogue):
    """A producer's datasets, a facet chosen without words (CKAN's fq, the UI's filters): every
    document narrowed in memory, the same totals, pages and facets as SQL."""
    rng = random.Random(9)

    def one_of(field: str, values: list[str]) -> search.Condition:
        chosen = rng.sample(values, rng.randint(1, 2))
        if len(chosen) == 1:
            return Equals(field, chosen[0].upper(), pattern=rng.random() < 0.5)
        return AnyOf(tuple(Equals(field, v) for v in chosen))

    held = 0
    with Session(catalogue) as session:
        for _ in range(60):
            where = search.AllOf(
                tuple(
                    rng.sample(
                        [
                            one_of("organization", ORGS),
                            one_of("tags", TAGS),
                            one_of("groups", ["air-quality", "energy", "risk"]),
                            one_of("access", ["open", "restricted"]),
                            Equals("organization", "at*", pattern=True),  # a wildcard: SQL
                            Not(Equals("groups", "energy")),  # a negation: SQL
                        ],
                        rng.randint(1, 2),
                    )
                )
            )
            filters = {}
            if rng.random() < 0.5:
                filters["res_format"] = [rng.choice(["csv", "ZIP"])]
            if rng.random() < 0.3:
                filters["tags"] = rng.sample(TAGS, 2)
            query = Query(
                where=where,
                filters=filters,
                sort=rng.choice([search.RELEVANCE, (("name", False),), (("title", True),)]),
                limit=rng.choice([0, 5, 20]),
                offset=rng.choice([0, 3]),
                facets=rng.choice([FACETS, ("tags", "freshness")]),
                facet_mincount=rng.choice([0, 1]),
                facets_beside_filters=rng.random() < 0.5,
            )
            held += search._held_conditions(query) is not None
            assert search.find(session, query) == in_sql(session, query), query
    assert 20 < held < 60  # both paths were taken
