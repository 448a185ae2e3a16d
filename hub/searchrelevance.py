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
    matched: np.ndarray | None = None
    for word in words:
        having = []
        for term in word:
            docs, counts = found[term]
            if column is not None:
                keep = counts[:, column] > 0
                docs, counts = docs[keep], counts[keep]
            phrases.append((docs, counts))
            having.append(docs)
        either = _union(having)
        matched = either if matched is None else np.intersect1d(matched, either, assume_unique=True)
    if matched is None or not len(matched) or not documents:
        return np.zeros(0, np.int64), np.zeros(0)
    frequencies, length = _aligned(phrases, matched, column, np.array(weights, np.float64))
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


def _aligned(
    phrases: list[tuple[np.ndarray, np.ndarray]],
    matched: np.ndarray,
    column: int | None,
    weight: np.ndarray,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each phrase's weighted frequency in each matched document (0 where absent), and the
    documents' lengths."""
    length = np.zeros(len(matched))
    frequencies = []
    for docs, counts in phrases:
        if docs is matched:  # one word of one token: every hit has it, in the same order
            rows, present = counts, None
        elif len(docs):
            at = np.minimum(np.searchsorted(docs, matched), len(docs) - 1)
            rows, present = counts[at], docs[at] == matched
        else:
            rows = np.zeros((len(matched), counts.shape[1]), counts.dtype)
            present = np.zeros(len(matched), bool)
        if column is not None:
            frequency = rows[:, column] * weight[column]
        else:
            frequency = rows[:, :_LENGTH] @ weight
        if present is None:
            length = rows[:, _LENGTH].astype(np.float64)
        else:
            frequency[~present] = 0.0
            length[present] = rows[present, _LENGTH]
        frequencies.append(frequency)
    return frequencies, length


def _union(having: list[np.ndarray]) -> np.ndarray:
    """The documents having any of these tokens (each array ascending), ascending."""
    if len(having) == 1:
        return having[0]
    # A stable sort merges the ascending runs instead of sorting them anew.
    every = np.sort(np.concatenate([np.zeros(0, np.int64), *having]), kind="stable")
    if not len(every):
        return every
    return every[np.concatenate(([True], every[1:] != every[:-1]))]
