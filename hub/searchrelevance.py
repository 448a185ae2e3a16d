"""FTS5's bm25 computed from the term postings, for SQLite's word searches.

SQLite's bm25() (fts5_aux.c) scores each phrase of the query: its idf from the number of
documents having it (in the part it is sought in), its frequency the weighted count of its
instances in the document, against the document's length in tokens and the index's average. For
a query whose every word is a choice of single tokens, the postings (`hub.searchpostings`) hold
all of that, so `relevance` gives the same hits and, computed in the same order of operations,
the same scores to the bit (tests/test_search_postings.py holds it to FTS5's own), over arrays
instead of one function call per hit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sqlalchemy import Connection

from hub import searchpostings
from hub.searchpostings import PARTS

K1, B = 1.2, 0.75  # FTS5's bm25 constants (fts5_aux.c)
_LENGTH = len(PARTS)  # the column of a posting's counts that holds the document's length


def relevance(
    connection: Connection,
    words: Sequence[Sequence[str]],
    part: str | None,
    weights: Sequence[float],
) -> tuple[np.ndarray, np.ndarray]:
    """The documents having every word (a word: any of its tokens), in one part or in any, and
    the bm25 FTS5 gives each for that query with these part weights (each token a phrase, in
    the query's order)."""
    terms = [term for word in words for term in word]
    documents, tokens, found = searchpostings.postings(connection, terms)
    column = PARTS.index(part) if part else None
    phrases = []  # each term's documents and counts, in the query's order
    unions = []  # each word's documents, and where each of its terms' documents sit among them
    for word in words:
        having = []
        for term in word:
            docs, counts = found[term]
            if column is not None:
                keep = counts[:, column] > 0
                docs, counts = docs[keep], counts[keep]
            phrases.append((docs, counts))
            having.append(docs)
        unions.append(_union(having))
    matched = unions[0][0] if unions else np.zeros(0, np.int64)
    for either, _ in unions[1:]:
        matched = _common(matched, either)
    if not len(matched) or not documents:
        return np.zeros(0, np.int64), np.zeros(0)
    places = [p for either, at in unions for p in _places(either, at, matched)]
    frequencies, length = _aligned(phrases, places, len(matched), column, weights)
    average = tokens / documents
    score = np.zeros(len(matched))
    for (docs, _), frequency in zip(phrases, frequencies, strict=True):
        hits = len(docs)
        idf = math.log((documents - hits + 0.5) / (hits + 0.5))
        idf = idf if idf > 0.0 else 1e-6
        score += idf * (
            (frequency * (K1 + 1.0)) / (frequency + K1 * (1 - B + B * length / average))
        )
    return matched, score


def _union(having: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """The documents having any of these tokens (each array ascending), ascending, and where
    each array's documents sit among them (None: the array is the union itself).

    A word's stem and its written form often have the very same documents: those are merged
    once. One stable sort of the distinct arrays end to end merges their ascending runs and
    tells each document its place, where a binary search per array would seek every hit
    again."""
    twin = [_first_equal(having, index) for index in range(len(having))]
    distinct = [docs for index, docs in enumerate(having) if twin[index] == index]
    if len(distinct) == 1:
        return distinct[0], [None] * len(having)
    every = np.concatenate(distinct)
    order = np.argsort(every, kind="stable")
    ranked = every[order]
    first = np.empty(len(ranked), bool)
    first[:1] = True
    np.not_equal(ranked[1:], ranked[:-1], out=first[1:])
    place = np.empty(len(every), np.int64)
    place[order] = np.cumsum(first) - 1
    ends = np.cumsum([len(docs) for docs in distinct])
    placed = dict(zip(sorted(set(twin)), np.split(place, ends[:-1]), strict=True))
    return ranked[first], [placed[t] for t in twin]


def _first_equal(having: list[np.ndarray], index: int) -> int:
    """The first of the arrays holding the same documents as `having[index]`."""
    docs = having[index]
    return next(
        i
        for i, other in enumerate(having[: index + 1])
        if len(other) == len(docs) and np.array_equal(other, docs)
    )


def _common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The documents in both (each ascending, without repeats), ascending: the smaller sought
    in the larger, where np.intersect1d sorts both together again."""
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    if not len(small) or not len(large):
        return small[:0]
    at = np.minimum(np.searchsorted(large, small), len(large) - 1)
    return small[large[at] == small]


def _places(
    either: np.ndarray, at: list[np.ndarray | None], matched: np.ndarray
) -> list[np.ndarray | None]:
    """Where each term's documents sit among the matched documents (-1: not matched), from
    where they sit among their word's (`either`, a superset of `matched`)."""
    if len(either) == len(matched):
        return at
    among = np.full(len(either), -1, np.int64)
    among[np.searchsorted(either, matched)] = np.arange(len(matched))  # each one is there
    return [among if a is None else among[a] for a in at]


def _aligned(
    phrases: list[tuple[np.ndarray, np.ndarray]],
    places: list[np.ndarray | None],
    matched: int,
    column: int | None,
    weights: Sequence[float],
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each phrase's weighted frequency in each matched document (0 where absent), and the
    documents' lengths."""
    weight = np.array(weights, np.float64)
    # One slot past the matched documents: a phrase's unmatched documents (place -1) are
    # written there and dropped, rather than picked out of its counts first.
    length = np.zeros(matched + 1)
    frequencies = []
    for (_, counts), at in zip(phrases, places, strict=True):
        if column is not None:
            weighted = counts[:, column] * weight[column]
        else:  # the parts' counts weighted and summed, column by column: 3× a matmul's speed
            weighted = counts[:, 0] * weight[0]
            for part in range(1, _LENGTH):
                weighted += counts[:, part] * weight[part]
        if at is None:  # the phrase's documents are the matched ones, in the same order
            frequencies.append(weighted)
            length[:matched] = counts[:, _LENGTH]
        else:
            spread = np.zeros(matched + 1)
            spread[at] = weighted
            frequencies.append(spread[:matched])
            length[at] = counts[:, _LENGTH]
    return frequencies, length[:matched]
