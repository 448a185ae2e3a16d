"""Facet counts over a search's hits (hub.searchcache.Documents.counts) read each hit's values
from the copy's per-document grouping: they must equal a plain count over every entry, for
fields with one value per document and with several, documents with none, copies grown over
many additions (a field gaining its first document with two values midway) and every hit set."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from hub import searchcache


def grown(rng: random.Random, batches: int) -> tuple[searchcache.Documents, dict[int, dict]]:
    """A copy grown in `batches` additions, and what each position holds per field."""
    copy = searchcache.Documents()
    held: dict[int, dict[str, list[str]]] = {}
    for batch in range(batches):
        docs = [(rng.randrange(1, 2**62), f"dataset-{batch}-{i}") for i in range(rng.randrange(40))]
        fields = []
        for doc_id, _ in docs:
            values: dict[str, list[str]] = {"organization": [], "tags": []}
            if rng.random() < 0.9:  # one organization, or none
                values["organization"] = [f"org-{rng.randrange(7)}"]
            # Tags: none, one, or (from the third addition on) several, repeats of one included.
            many = rng.randrange(5) if batch >= 2 else rng.randrange(2)
            values["tags"] = [f"tag-{rng.randrange(12)}" for _ in range(many)]
            fields += [(doc_id, f, v, None) for f, vs in values.items() for v in vs]
            held[len(held)] = values
        rng.shuffle(fields)  # rows come in no order of document
        copy.add(docs, fields)
    return copy, held


@pytest.mark.parametrize("seed", range(8))
def test_counts_over_hits_equal_a_count_of_every_entry(seed):
    rng = random.Random(seed)
    copy, held = grown(rng, rng.randrange(1, 8))
    assert len(copy.ids) == len(held)
    assert copy.facets["organization"].grouped[2]  # never two organizations
    for facet in copy.facets.values():  # held in 32-bit integers: half the bytes to gather
        starts, by_position, _, direct = facet.grouped
        assert starts.dtype == by_position.dtype == direct.dtype == np.int32
    for _ in range(20):
        share = rng.choice([0.0, 0.05, 0.5, 1.0])
        hits = np.array(sorted(p for p in held if rng.random() < share), np.int64)
        for name in ("organization", "tags"):
            counts = copy.counts(name, hits)
            facet = copy.facets[name]
            assert len(counts) == len(facet.values)
            expected = Counter(v for p in hits.tolist() for v in held[p][name])
            assert {facet.values[c]: int(n) for c, n in enumerate(counts) if n} == expected


def test_a_field_with_several_values_is_counted_per_document():
    copy = searchcache.Documents()
    copy.add([(5, "a"), (9, "b")], [(5, "tags", "x", None), (9, "tags", "x", None)])
    assert copy.facets["tags"].grouped[2]
    copy.add([(3, "c")], [(3, "tags", "y", None), (3, "tags", "x", None)])
    assert not copy.facets["tags"].grouped[2]
    facet = copy.facets["tags"]
    counts = copy.counts("tags", np.array([0, 2], np.int64))
    assert {facet.values[c]: int(n) for c, n in enumerate(counts)} == {"x": 2, "y": 1}
    assert copy.counts("tags", np.zeros(0, np.int64)).tolist() == [0, 0]
