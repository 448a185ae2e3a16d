"""The ranked hits each process keeps (hub.searchcache.ranked) answer exactly what the same search
read afresh answers, and are never used once the index has changed: by another engine, by
another process, inside the searcher's own transaction, or by a change rolled back."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import Session
from test_search_memory import (  # its `catalogue`: 80 generated datasets
    FACETS,
    ORGS,
    TAGS,
    WORDS,
    bog,
    catalogue_fixture,  # noqa: F401 - the fixture
    committed_then_found,
    in_sql,
    queries,
)

from hub import search, searchcache, searchindex
from hub.db import make_engine
from hub.models import Dataset
from hub.search import Query


def kept(engine: sa.Engine) -> searchcache._Results:
    return searchcache._held_for(engine).results


def forget(engine: sa.Engine) -> None:
    """This process's kept hits and `*:*` dropped: the next search reads them afresh."""
    held = searchcache._held_for(engine)
    held.results = searchcache._Results()
    held.whole = None


def word_queries(rng: random.Random) -> list[Query]:
    """Words alone and words with held filters (a facet click), ranked, pages and facets."""
    found = []
    for _ in range(40):
        filters = {}
        if rng.random() < 0.5:
            filters = {"tags": rng.sample(TAGS, rng.randint(1, 2))}
            if rng.random() < 0.5:
                filters["organization"] = [rng.choice(ORGS)]
        found.append(
            Query(
                text=" ".join(rng.sample(WORDS, rng.randint(1, 2))),
                filters=filters,
                limit=rng.choice([0, 5, 20, 100]),
                offset=rng.choice([0, 0, 4]),
                facets=rng.choice([FACETS, ("tags", "freshness", "schema_version")]),
                facet_limit=rng.choice([-1, 3]),
                facets_beside_filters=rng.random() < 0.5,
            )
        )
    return found


def test_kept_hits_answer_as_read_afresh_and_as_sql(catalogue):
    every = word_queries(random.Random(3)) + queries(random.Random(13))
    with Session(catalogue) as session:
        fresh = []
        for query in every:
            forget(catalogue)
            fresh.append(search.find(session, query))
        assert len(kept(catalogue).entries) > 0
        for query, first in zip(every, fresh, strict=True):
            again = search.find(session, query)  # kept hits, kept orders and counts
            assert again == first, query
            assert again == in_sql(session, query), query
        # In another order, so the kept orders and counts were computed by other queries.
        for query, first in zip(every[::-1], fresh[::-1], strict=True):
            assert search.find(session, query) == first, query


def test_words_are_kept_under_the_generation_they_were_read_at(catalogue):
    with Session(catalogue) as session:
        generation = searchindex.generation(session.connection())
        search.find(session, Query(text="ozone"))
        keys = list(kept(catalogue).entries)
        assert [key[0] for key in keys] == [generation]
        search.find(session, Query(text="ozone", limit=3))  # the same words: no second entry
        assert list(kept(catalogue).entries) == keys


def test_a_change_in_another_engine_is_seen(catalogue, database_url):
    query = Query(text="tourbiere", facets=("organization", "tags"))
    with Session(catalogue) as session:
        assert search.find(session, query).total == 0
    other = make_engine(database_url)
    try:
        found = committed_then_found(other, catalogue, bog("zz-bog", "peat", "cbn"), query)
        assert found.ids == ["zz-bog"]
        with Session(other) as session:
            changed = session.get(Dataset, "zz-bog")
            assert changed is not None
            changed.title = "lande"
            session.commit()
        with Session(catalogue) as session:
            assert search.find(session, query).total == 0
            assert search.find(session, Query(text="lande")).ids == ["zz-bog"]
    finally:
        other.dispose()


def test_a_change_in_another_process_is_seen(catalogue, database_url):
    query = Query(text="ozone", facets=("organization",))
    with Session(catalogue) as session:
        before = search.find(session, query)
    script = textwrap.dedent(
        """
        import sys
        from sqlmodel import Session
        from hub.db import make_engine
        from hub.models import Dataset
        engine = make_engine(sys.argv[1])
        with Session(engine) as session:
            session.add(Dataset(id="zz-ozone", title="ozone ozone ozone", organization_id="rte",
                                theme="energy", schema_name="energy-mix", charter_id="open"))
            session.commit()
        engine.dispose()
        """
    )
    environment = {**os.environ, "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-c", script, database_url], check=True, env=environment)
    with Session(catalogue) as session:
        after = search.find(session, query)
        assert after.total == before.total + 1
        assert after.ids[0] == "zz-ozone"  # the title's three ozones rank it first
        assert after == in_sql(session, query)


def test_a_rolled_back_change_leaves_no_kept_hits(catalogue):
    query = Query(text="tourbiere", facets=("organization", "tags"))
    with Session(catalogue) as session:
        assert search.find(session, query).total == 0  # kept at the committed generation
        session.add(bog("zz-draft", "draft", "cbn"))
        session.flush()
        seen = search.find(session, query)  # the transaction's own generation: its draft
        assert seen.ids == ["zz-draft"]
        assert seen == in_sql(session, query)
        session.rollback()
    with Session(catalogue) as session:
        assert search.find(session, query).total == 0  # the committed generation's hits again
        assert search.find(session, Query(text="tourbiere", limit=1)).total == 0
    found = committed_then_found(catalogue, catalogue, bog("zz-final", "final", "atmo"), query)
    assert found.ids == ["zz-final"]
    assert found.facets == {"organization": [("atmo", 1)], "tags": [("final", 1)]}


def test_every_flush_names_a_new_generation_and_a_rollback_restores_it(catalogue):
    with Session(catalogue) as session:
        committed = searchindex.generation(session.connection())
        session.add(bog("zz-one", "one", "cbn"))
        session.flush()
        first = searchindex.generation(session.connection())
        session.add(bog("zz-two", "two", "cbn"))
        session.flush()
        second = searchindex.generation(session.connection())
        assert len({committed, first, second}) == 3
        session.rollback()
        assert searchindex.generation(session.connection()) == committed
    with catalogue.begin() as connection:
        searchindex.rebuild(connection)
        rebuilt = searchindex.generation(connection)
    assert rebuilt not in (committed, first, second)


def test_hits_read_while_a_change_commits_are_not_kept(catalogue, database_url):
    other = make_engine(database_url)
    try:
        with catalogue.connect() as connection:

            def read() -> tuple[np.ndarray, np.ndarray]:
                with Session(other) as session:  # commits between the two generation reads
                    session.add(bog("zz-meanwhile", "late", "cbn"))
                    session.commit()
                return np.array([1], np.int64), np.array([1.0])

            searchcache.ranked(connection, "(tourbiere)", read)
            assert not kept(catalogue).entries
            searchcache.ranked(connection, "(tourbiere)", read_nothing)
            assert len(kept(catalogue).entries) == 1  # nothing committed meanwhile: kept
    finally:
        other.dispose()


def read_nothing() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, np.int64), np.empty(0)


def test_kept_hits_stay_within_their_bound(catalogue, monkeypatch):
    with Session(catalogue) as session:
        search.find(session, Query(text="air"))
        one = next(iter(kept(catalogue).entries.values())).size
        forget(catalogue)
        monkeypatch.setattr(searchcache, "RESULTS_BYTES", one * 3)
        texts = [f"{a} {b}" for a in WORDS for b in WORDS if a < b] + WORDS
        for text in texts:
            query = Query(text=text, facets=FACETS)
            found = search.find(session, query)
            assert found == in_sql(session, query)
            results = kept(catalogue)
            assert results.size == sum(e.size for e in results.entries.values())
            assert results.size <= searchcache.RESULTS_BYTES
        assert 0 < len(kept(catalogue).entries) < len(texts)
        for text in texts:  # what was dropped is read again, and answers the same
            query = Query(text=text, facets=FACETS)
            assert search.find(session, query) == in_sql(session, query)


def test_kept_hits_follow_a_copy_read_anew(catalogue):
    """When the process reads its copy afresh, kept hits are placed in the new copy."""
    query = Query(text="air", filters={"tags": [TAGS[0]]}, facets=FACETS, limit=20)
    with Session(catalogue) as session:
        first = search.find(session, query)
        entry = next(iter(kept(catalogue).entries.values()))
        old = entry.held(session.connection()).copy
        searchcache._held_for(catalogue).documents = searchcache.Documents()  # as if never read
        again = search.find(session, query)
        assert entry.held(session.connection()).copy is not old
        assert again == first == in_sql(session, query)


def test_writers_in_open_transactions_do_not_wait_for_each_other(catalogue, database_url):
    """A batch holds its transaction open while it stores rows: another publication changing
    the index meanwhile must not queue behind it for the generation (PostgreSQL; SQLite has one
    writer at a time anyway). Each commit then names a generation no search read before."""
    if catalogue.dialect.name != "postgresql":
        pytest.skip("concurrent writers are PostgreSQL's")
    query = Query(text="tourbiere")
    with Session(catalogue) as session:
        assert search.find(session, query).total == 0
        before = searchindex.generation(session.connection())
    other = make_engine(database_url)
    try:
        with Session(catalogue) as long_batch, Session(other) as quick:
            long_batch.add(bog("zz-long", "long", "cbn"))
            long_batch.flush()  # its generation row stays locked until it commits
            quick.execute(sa.text("SET LOCAL lock_timeout = '3s'"))  # a wait fails, not hangs
            quick.add(bog("zz-quick", "quick", "cbn"))
            quick.commit()
            with Session(catalogue) as reader:
                middle = searchindex.generation(reader.connection())
                assert search.find(reader, query).ids == ["zz-quick"]
            long_batch.commit()
        with Session(catalogue) as reader:
            after = searchindex.generation(reader.connection())
            assert sorted(search.find(reader, query).ids) == ["zz-long", "zz-quick"]
        assert len({before, middle, after}) == 3
    finally:
        other.dispose()
