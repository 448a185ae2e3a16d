"""SQLite's term postings (hub.searchpostings) rank words exactly as FTS5's bm25() does, for
the same documents, through every kind of change to the catalogue: added, changed and removed
datasets, segments merged, changes rolled back, and a store that had no postings yet."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing

import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import Session
from test_search_cache import forget

from hub import search, searchindex, searchpostings, wording
from hub.db import upgrade
from hub.models import Dataset, Organization
from hub.search import Query

VOCABULARY = [
    *("air", "ozone", "pollen", "énergie", "réseau", "flore", "crue", "vent", "chaleur"),
    *("hourly", "hours", "stations", "PM2.5", "pm25", "NO2", "consommation", "électricité"),
]
TAGS = ["pollution", "santé", "climat", "eau", "air"]


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
    ids, scores = searchpostings.scores(session.connection(), terms, part, weights)
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
    scores = searchpostings.scores
    monkeypatch.setattr(
        searchpostings, "scores", lambda *a, **k: used.append(a[1]) or scores(*a, **k)
    )
    with Session(sqlite_engine) as session:
        for text, _ in word_queries(random.Random(6)):
            query = Query(text=text, limit=20, facets=("tags", "organization"))
            compiler = search._Compiler(session.connection(), search.ANONYMOUS)
            in_sql = search._find_in_sql(compiler, compiler.conditions(query, None), query)
            assert search.find(session, query) == in_sql, text
    assert len(used) > 20


def test_fts5_splits_indexed_terms_where_the_postings_do():
    """Any text's indexed terms are split by FTS5's tokenizer at the spaces alone, as
    `searchpostings` splits them: letters of many scripts, digits, fractions, ligatures,
    combining accents, marks, symbols."""
    rng = random.Random(12)
    alphabet = (
        "aàâäçéèêëîïôöùûüÿœæß AZ 09 ½ ¼ ² ₂ ﬁ ﬀ İı ǅ Ωω ДЖж αβ ℃ № ™ µ "
        "हिन्दी ক্ষ ไทย 日本語 한국어 عربي עברית e\u0301 a\u0308 \u200d \u00a0 - _ . , ' ’ ⁄"
    )
    texts = ["".join(rng.choices(alphabet, k=rng.randint(1, 60))) for _ in range(2000)]
    with closing(sqlite3.connect(":memory:")) as fts:
        fts.execute(
            "CREATE VIRTUAL TABLE t USING fts5(a, b, c, tokenize = 'unicode61 remove_diacritics 0')"
        )
        fts.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        expected: dict[int, dict[str, list[int]]] = {}
        for row, start in enumerate(range(0, len(texts) - 3, 3), start=1):
            parts = [wording.index_terms(t) for t in texts[start : start + 3]]
            fts.execute("INSERT INTO t (rowid, a, b, c) VALUES (?, ?, ?, ?)", (row, *parts))
            expected[row] = searchpostings._counted(parts)[0]
        found: dict[int, dict[str, list[int]]] = {}
        for term, doc, column, _offset in fts.execute("SELECT term, doc, col, offset FROM v"):
            counts = found.setdefault(doc, {}).setdefault(term, [0, 0, 0])
            counts[["a", "b", "c"].index(column)] += 1
    assert {d: c for d, c in expected.items() if c} == found


def test_words_no_document_has_match_nothing(sqlite_engine):
    with Session(sqlite_engine) as session:
        session.add_all(dataset(random.Random(3), i) for i in range(20))
        session.commit()
    weights = [4.0, 2.0, 1.0]
    with sqlite_engine.connect() as connection:
        for words in ([("zzzz",)], [("zzzz", "yyyy")], [("air",), ("zzzz", "yyyy")]):
            ids, scores = searchpostings.scores(connection, words, None, weights)
            assert len(ids) == 0 and len(scores) == 0 and ids.dtype == np.int64
        ids, _ = searchpostings.scores(connection, [("air", "zzzz")], None, weights)
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
