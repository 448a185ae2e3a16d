"""A page's first hits, sorted alone from those whose first sort key is among the best
(hub.searchcache.Documents.order with `stop`, Placed.head), are the head of the whole order:
ties on the first key, missing values and every sort the memory serves included."""

from __future__ import annotations

import random

import numpy as np
import pytest

from hub import searchcache

SORTS = [
    (("score", True), ("metadata_modified", True)),
    (("score", True),),
    (("metadata_modified", True),),
    (("num_tags", False), ("title", True)),
    (("name", False),),
    (("title_string", False),),
    (("metadata_created", True), ("num_resources", False)),
]


def documents(rng: random.Random, count: int) -> searchcache.Documents:
    """Documents with few distinct values (many ties) and some missing ones."""
    copy = searchcache.Documents()
    docs = [(1000 + i, f"dataset-{rng.randrange(10**6):06d}-{i}") for i in range(count)]
    fields = []
    for doc_id, _ in docs:
        fields.append((doc_id, "title", rng.choice(["Air", "air", "Eau", "Énergie", "b"]), None))
        for key in searchcache.NUMBER_KEYS:
            if rng.random() < 0.9:
                fields.append((doc_id, key, "", float(rng.randrange(6))))
    copy.add(docs, fields)
    return copy


@pytest.mark.parametrize("seed", range(6))
def test_the_head_is_the_whole_orders_head(seed):
    rng = random.Random(seed)
    copy = documents(rng, rng.choice([200, 1000, 3000]))
    hits = np.array(sorted(rng.sample(range(len(copy.ids)), len(copy.ids) // 2)), np.int64)
    scores = np.array([rng.choice([0.5, 1.0, 1.5, 2.25]) for _ in hits], np.float64)
    for sort in SORTS:
        for ranked in (scores, None):  # None: no relevance (values chosen, no words)
            whole = copy.order(hits, ranked, sort)
            assert sorted(whole.tolist()) == hits.tolist()
            for stop in (1, 3, 10, 37, len(hits) // 5, len(hits)):
                head = copy.order(hits, ranked, sort, stop)
                assert head.tolist() == whole[:stop].tolist(), (sort, stop)


def test_kept_heads_serve_later_pages_as_the_whole_order(seed=7):
    rng = random.Random(seed)
    copy = documents(rng, 4000)
    hits = np.arange(len(copy.ids), dtype=np.int64)
    scores = np.array([rng.choice([1.0, 2.0, 3.0]) for _ in hits], np.float64)
    for sort in SORTS:
        placed = searchcache.Placed(copy, hits, scores)
        whole = copy.order(hits, scores, sort)
        for stop in (10, 20, 100, 150, 30, 900, 1200, 4000):
            assert placed.head(sort, stop).tolist() == whole[:stop].tolist(), (sort, stop)
