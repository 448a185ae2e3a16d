"""SQLite's term postings (hub.searchpostings) rank words exactly as FTS5's bm25() does, for
the same documents, through every kind of change to the catalogue: added, changed and removed
datasets, segments merged, changes rolled back, and a store that had no postings yet."""

from __future__ import annotations

import random
import re
import sqlite3
from contextlib import closing

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import Session
from test_search_cache import forget

from hub import (
    search,
    searchcache,
    searchindex,
    searchpostings,
    searchrelevance,
    searchtokens,
    wording,
)
from hub.db import upgrade
from hub.models import Dataset, Organization
from hub.search import Query

VOCABULARY = [
    *("air", "ozone", "pollen", "énergie", "réseau", "flore", "crue", "vent", "chaleur"),
    *("hourly", "hours", "stations", "PM2.5", "pm25", "NO2", "consommation", "électricité"),
]
TAGS = ["pollution", "santé", "climat", "eau", "air"]
WORD_CHARACTER = re.compile(r"[^\W_]")  # as hub.wording reads words


@pytest.fixture(name="sqlite_engine")
def sqlite_engine_fixture(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("term postings rank SQLite's FTS5 hits; PostgreSQL ranks with ts_rank")
    with Session(engine) as session:
        for org in ("atmo", "rte"):
            session.add(Organization(id=org, name=f"{org.upper()} réseau"))
        session.commit()
    return engine


def dataset(rng: random.Random, index: int) -> Dataset:
    """Words repeated within and across parts, so counts, lengths and ties all vary."""
    return Dataset(
        id=f"ds{index:04d}",
        title=" ".join(rng.choices(VOCABULARY, k=rng.randint(1, 4))),
        description=" ".join(rng.choices(VOCABULARY, k=rng.randint(0, 12))),
        keywords=rng.sample(TAGS, rng.randint(0, 3)),
        organization_id=rng.choice(["atmo", "rte"]),
        theme=rng.choice(["air-quality", "energy"]),
        schema_name="air-quality-observation",
        charter_id="open",
    )


def word_queries(rng: random.Random) -> list[tuple[str, str | None]]:
    """One to three words, in any part or in one: synonyms too (`pm2.5` is `pm25`)."""
    found = []
    for _ in range(40):
        text = " ".join(rng.sample(VOCABULARY + TAGS, rng.randint(1, 3)))
        found.append((text, rng.choice([None, None, "title", "keywords", "body"])))
    return found


def by_postings_and_by_fts5(session: Session, text: str, part: str | None):
    """The query's ranked hits through the postings, and through FTS5's bm25()."""
    compiler = search._Compiler(session.connection(), search.ANONYMOUS)
    compiler.words(search.Words(text, part), ranked=True)
    if compiler.posted[0] is None:
        return None
    terms, part = compiler.posted[0]
    weights = [searchindex.WEIGHTS[p] for p in searchindex.PARTS]
    ids, scores = searchrelevance.relevance(session.connection(), terms, part, weights)
    rows = session.connection().execute(compiler.scores()).all()
    fts5 = dict(rows)
    return dict(zip(ids.tolist(), scores.tolist(), strict=True)), fts5


def assert_ranked_as_fts5(session: Session, rng: random.Random) -> int:
    """Every query: the same documents, each with FTS5's very score; the number compared."""
    compared = 0
    for text, part in word_queries(rng):
        both = by_postings_and_by_fts5(session, text, part)
        if both is None:
            continue
        mine, fts5 = both
        assert mine.keys() == fts5.keys(), (text, part)
        assert all(mine[doc] == fts5[doc] for doc in fts5), (text, part)
        compared += len(fts5)
    return compared


def test_postings_rank_as_fts5_through_every_change(sqlite_engine):
    rng = random.Random(5)
    with Session(sqlite_engine) as session:
        session.add_all(dataset(rng, i) for i in range(150))
        session.commit()
        assert assert_ranked_as_fts5(session, rng) > 500
        for round_ in range(2 * searchpostings.MERGE_AT):  # segments appended, then merged
            for changed in rng.sample(range(150), 5):
                stored = session.get(Dataset, f"ds{changed:04d}")
                if stored is not None:
                    fresh = dataset(rng, changed)
                    stored.title, stored.description = fresh.title, fresh.description
                    stored.keywords = fresh.keywords
            gone = session.get(Dataset, f"ds{rng.randrange(150):04d}")
            if gone is not None:
                session.delete(gone)
            session.add(dataset(rng, 1000 + round_))
            session.commit()
        assert assert_ranked_as_fts5(session, rng) > 500
        most = session.connection().execute(
            sa.text("SELECT max(n) FROM (SELECT count(*) AS n FROM searchpostings GROUP BY term)")
        )
        assert most.scalar_one() < searchpostings.MERGE_AT  # merged, never left to grow
        documents = session.connection().execute(sa.text("SELECT count(*) FROM searchdoc"))
        assert searchpostings.documents(session.connection()) == documents.scalar_one()


def test_a_rolled_back_change_leaves_the_postings_as_they_were(sqlite_engine):
    rng = random.Random(8)
    with Session(sqlite_engine) as session:
        session.add_all(dataset(rng, i) for i in range(60))
        session.commit()
        before = session.connection().execute(sa.text("SELECT * FROM searchpostings")).all()
        session.add(dataset(rng, 500))
        changed = session.get(Dataset, "ds0003")
        assert changed is not None
        changed.title = "air air air ozone"
        session.flush()
        assert assert_ranked_as_fts5(session, random.Random(1)) > 0  # inside the change
        session.rollback()
        after = session.connection().execute(sa.text("SELECT * FROM searchpostings")).all()
        assert sorted(after) == sorted(before)
        assert assert_ranked_as_fts5(session, random.Random(1)) > 0


def test_a_store_without_postings_has_them_built_at_upgrade(sqlite_engine):
    rng = random.Random(9)
    with Session(sqlite_engine) as session:
        session.add_all(dataset(rng, i) for i in range(60))
        session.commit()
    query = Query(text="air énergie", limit=60)
    with Session(sqlite_engine) as session:
        expected = search.find(session, query)
    with sqlite_engine.begin() as connection:  # as a store migrated to 0014 and no further
        searchpostings.clear(connection)
        assert searchindex.unposted(connection)
    upgrade(sqlite_engine)
    with sqlite_engine.connect() as connection:
        assert not searchindex.unposted(connection)
    forget(sqlite_engine)
    with Session(sqlite_engine) as session:
        assert assert_ranked_as_fts5(session, random.Random(2)) > 0
        assert search.find(session, query) == expected and expected.total


def test_search_ranks_through_the_postings_as_through_sql(sqlite_engine, monkeypatch):
    """`find` takes the postings for plain words; the whole-SQL path ranks with FTS5: they agree
    on every page and facet, and the postings were used."""
    rng = random.Random(4)
    with Session(sqlite_engine) as session:
        session.add_all(dataset(rng, i) for i in range(120))
        session.commit()
    used = []
    relevance = searchrelevance.relevance
    monkeypatch.setattr(
        searchrelevance, "relevance", lambda *a, **k: used.append(a[1]) or relevance(*a, **k)
    )
    with Session(sqlite_engine) as session:
        for text, _ in word_queries(random.Random(6)):
            query = Query(text=text, limit=20, facets=("tags", "organization"))
            compiler = search._Compiler(session.connection(), search.ANONYMOUS)
            in_sql = search._find_in_sql(compiler, compiler.conditions(query, None), query)
            assert search.find(session, query) == in_sql, text
    assert len(used) > 20


def test_postings_cut_every_character_as_fts5_does():
    """Every code point, between two letters, indexed as the hub indexes text: the tokens the
    postings count are FTS5's own (the Greek final ς folded to σ; Tamil ஔ and Myanmar ဦ, which
    folding leaves as a letter and a spacing mark, cut in two)."""
    indexed = {}
    for point in range(0x110000):
        # The others split words before folding (surrogates, punctuation, marks, spaces).
        if not 0xD800 <= point < 0xE000 and WORD_CHARACTER.match(chr(point)):
            text = wording.index_terms(f"x{chr(point)}x")
            if text not in ("xx", "x x", ""):
                indexed[point] = text
    with closing(sqlite3.connect(":memory:")) as fts:
        fts.execute(f"CREATE VIRTUAL TABLE t USING fts5(a, tokenize = '{searchtokens.TOKENIZER}')")
        fts.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        fts.executemany("INSERT INTO t (rowid, a) VALUES (?, ?)", indexed.items())
        found: dict[int, list[str]] = {}
        for term, doc in fts.execute("SELECT term, doc FROM v ORDER BY doc, offset"):
            found.setdefault(doc, []).append(term)
    searchtokens.tokens(" ".join(indexed.values()))  # every term cut by FTS5 at once
    differ = {p: t for p, t in indexed.items() if searchtokens.tokens(t) != found.get(p, [])}
    assert not differ
    assert len(indexed) > 50_000
    assert sum(searchtokens.tokens(t) != t.split() for t in indexed.values()) > 10  # not moot


@pytest.mark.parametrize(
    ("titles", "text"),
    [
        (["ΟΔΟΣ ΠΑΤΡΩΝ", "ΟΔΟΣ:ΠΑΤΡΩΝ", "air"], "οδος"),  # ς and σ are one FTS5 token
        (["ဦ", "ဥ", "air"], "ဥ"),  # ဦ folds to ဥ and a mark: two tokens
        (["air ஔவையார்", "air ozone", "ozone"], "air"),  # lengths counted in FTS5's tokens
        (["ஔவையார்", "ozone"], "ஔவையார்"),  # a query term FTS5 cuts in two: its phrase
    ],
)
def test_other_scripts_rank_as_fts5(sqlite_engine, titles, text):
    with Session(sqlite_engine) as session:
        for index, title in enumerate(titles):
            fresh = dataset(random.Random(index), index)
            fresh.title = title
            session.add(fresh)
        session.commit()
        query = Query(text=text, limit=20)
        compiler = search._Compiler(session.connection(), search.ANONYMOUS)
        in_sql = search._find_in_sql(compiler, compiler.conditions(query, None), query)
        assert search.find(session, query) == in_sql
        assert in_sql.total > 0
        both = by_postings_and_by_fts5(session, text, None)
        if both is not None:
            assert both[0] == both[1]


def test_words_no_document_has_match_nothing(sqlite_engine):
    with Session(sqlite_engine) as session:
        session.add_all(dataset(random.Random(3), i) for i in range(20))
        session.commit()
    weights = [4.0, 2.0, 1.0]
    with sqlite_engine.connect() as connection:
        for words in ([("zzzz",)], [("zzzz", "yyyy")], [("air",), ("zzzz", "yyyy")]):
            ids, scores = searchrelevance.relevance(connection, words, None, weights)
            assert len(ids) == 0 and len(scores) == 0 and ids.dtype == np.int64
        ids, _ = searchrelevance.relevance(connection, [("air", "zzzz")], None, weights)
        assert len(ids) == len(searchpostings._read(connection, "air")[0]) > 0


def test_a_rebuild_written_in_buckets_ranks_as_fts5(sqlite_engine, monkeypatch):
    """A whole catalogue's postings are gathered in several arrays and written a bucket of
    terms at a time: the same postings as one change gives."""
    rng = random.Random(10)
    with Session(sqlite_engine) as session:
        session.add_all(dataset(rng, i) for i in range(150))
        session.commit()
    monkeypatch.setattr(searchpostings, "_PENDING", 200)
    monkeypatch.setattr(searchpostings, "_BUCKET_ROWS", 100)
    with sqlite_engine.begin() as connection:
        searchindex.rebuild(connection)
        rows = connection.execute(
            sa.text("SELECT count(*), count(DISTINCT term) FROM searchpostings")
        )
        assert len(set(rows.one())) == 1  # one segment per term
    with Session(sqlite_engine) as session:
        assert assert_ranked_as_fts5(session, random.Random(11)) > 500


@pytest.mark.parametrize("way", ["postings", "full text"])
def test_a_change_committed_while_a_search_reads_never_repeats_a_hit(engine, monkeypatch, way):
    """A change committed between the statement that ranks the hits and the one that reads
    them into the process's copy (each statement sees its own snapshot) leaves the changed
    dataset's old document in the hits: it is left out, never shown as another dataset."""
    with Session(engine) as session:
        session.add_all(Organization(id=org, name=org.upper()) for org in ("atmo", "rte"))
        session.commit()
        for index in range(3):
            fresh = dataset(random.Random(index), index)
            fresh.title, fresh.description = "air ozone", ""
            session.add(fresh)
        session.commit()

    def change_committed() -> None:
        with Session(engine) as writer:
            changed = writer.get(Dataset, "ds0000")
            assert changed is not None
            changed.description = "vent"
            writer.commit()

    if way == "postings" and engine.dialect.name == "sqlite":
        read = searchpostings.postings
        monkeypatch.setattr(
            searchpostings, "postings", lambda *a: (read(*a), change_committed())[0]
        )
    else:
        monkeypatch.setattr(search, "_posted", lambda *_: None)
        rows = searchcache.rows
        done: list[bool] = []

        def rows_then_change(connection, statement):
            found = rows(connection, statement)
            if not done:
                done.append(True)
                change_committed()
            return found

        monkeypatch.setattr(searchcache, "rows", rows_then_change)
    with Session(engine) as session:
        found = search.find(session, Query(text="air ozone", limit=10))
    assert len(set(found.ids)) == len(found.ids) == found.total
    assert set(found.ids) <= {"ds0000", "ds0001", "ds0002"}
    assert {"ds0001", "ds0002"} <= set(found.ids)


def test_a_term_whose_documents_all_left_keeps_no_row(sqlite_engine):
    """A term's last document removed by the change that merges its segments leaves nothing
    behind, not an empty row read on every search of it."""
    with sqlite_engine.connect() as connection, connection.begin():
        for doc in range(1, searchpostings.MERGE_AT + 1):
            change = searchpostings.Change()
            if doc > 1:
                change.remove(doc - 1, ["solo", "", ""])
            if doc < searchpostings.MERGE_AT:
                change.add(doc, ["solo", "", ""])
            searchpostings.write(connection, change)
        rows = connection.execute(
            sa.text("SELECT count(*) FROM searchpostings WHERE term = 'solo'")
        )
        assert rows.scalar_one() == 0
        assert len(searchpostings._read(connection, "solo")[0]) == 0


def test_long_terms_of_other_scripts_are_cut_but_not_kept():
    """A query can be one 100 kB word: it is cut as FTS5 cuts it, and not held in memory."""
    long = "ж" * 5_000
    assert searchtokens.tokens(long) == [long]
    assert long not in searchtokens._known
    assert searchtokens.tokens("жар") == ["жар"] and "жар" in searchtokens._known


@pytest.mark.parametrize("seed", range(6))
def test_a_words_documents_are_the_union_of_its_tokens_with_each_ones_places(seed):
    """A word's stem and written form: often the very same documents, sometimes as many
    different ones, sometimes one set inside another."""
    rng = np.random.default_rng(seed)
    base = np.sort(rng.choice(10_000, 300, replace=False)).astype(np.int64)
    other = np.sort(rng.choice(10_000, 300, replace=False)).astype(np.int64)  # as many, others
    having = [base, base.copy(), other, base[::3].copy(), np.zeros(0, np.int64), other.copy()]
    rng.shuffle(having)
    union, places = searchrelevance._union(having)
    assert np.array_equal(union, np.unique(np.concatenate(having)))
    for docs, at in zip(having, places, strict=True):
        assert np.array_equal(union if at is None else union[at], docs)
    alone, same = searchrelevance._union([base, base.copy()])
    assert np.array_equal(alone, base) and same == [None, None]


def test_two_words_meet_on_the_documents_having_both():
    rng = np.random.default_rng(3)
    for size_a, size_b in [(0, 5), (5, 0), (1, 400), (400, 1), (300, 300), (50, 2000)]:
        a = np.sort(rng.choice(3000, size_a, replace=False)).astype(np.int64)
        b = np.sort(rng.choice(3000, size_b, replace=False)).astype(np.int64)
        assert np.array_equal(searchrelevance._common(a, b), np.intersect1d(a, b))
