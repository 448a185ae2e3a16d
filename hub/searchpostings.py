"""Each term's postings, so that SQLite ranks a common word's hits without FTS5's bm25().

FTS5 finds a common word's 20 000 hits in a few milliseconds, but its bm25() then reads every
hit's positions, one function call per row: 30-40 ms more at 100 000 datasets (bench/README.md).
The postings hold, for each token of `searchfts` (as FTS5's tokenizer cuts it:
`hub.searchtokens`), the documents having it, with its count in each weighted part and the
document's length in tokens: `hub.searchrelevance` computes FTS5's bm25 from them.

They live in `searchpostings` (migration 0015, SQLite only: PostgreSQL ranks with ts_rank), one
row per term and segment. A change appends one segment to each term it touches: the documents it
added, and the ids of those it removed (`gone`; document ids are random 62-bit numbers never
handed out twice by `hub.searchindex`, so a removed one does not come back). A term with
MERGE_AT segments has them merged into one, so a change costs what it touches and a read stays
a few rows. `searchlength` holds the document and
token counts FTS5's average document length is made of. All of it changes in the transaction
that changes `searchfts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection

from hub import searchtokens

PARTS = ("title", "keywords", "body")  # the columns of searchfts, weighted by hub.searchindex
MERGE_AT = 8  # segments of one term merged into one when a change would make this many
_DOCS = np.dtype("<i8")
_COUNTS = np.dtype("<u4")  # each row: the term's count in each part, then the document length
_WIDTH = len(PARTS) + 1
_CHUNK = 500  # terms per IN list
_PENDING = 600_000  # numbers gathered in a list before they go into an array
_BUCKET_ROWS = 500_000  # about the rows sorted at once when a change writes (at most twice)

metadata = sa.MetaData()
searchpostings = sa.Table(
    "searchpostings",
    metadata,
    # Rows appended in rowid order and found through the term's index: a new segment never
    # lands among the pages of a term's megabyte-long postings.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("term", sa.Text, nullable=False, index=True),
    sa.Column("docs", sa.LargeBinary, nullable=False),
    sa.Column("counts", sa.LargeBinary, nullable=False),
    sa.Column("gone", sa.LargeBinary, nullable=False),
)
searchlength = sa.Table(
    "searchlength",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("documents", sa.BigInteger, nullable=False),
    sa.Column("tokens", sa.BigInteger, nullable=False),
)


class Change:
    """Documents added to and removed from the index by one change, gathered before writing:
    a whole catalogue's postings are millions of rows, held as narrow arrays (28 bytes a row)."""

    def __init__(self) -> None:
        self.terms: dict[str, int] = {}
        self.documents = 0
        self.tokens = 0
        self.rows = 0
        self._added: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # term, doc, counts
        self._adding: list[int] = []  # term, doc, counts in each part, length; flattened
        self._removing: list[int] = []  # term, doc; flattened

    def add(self, doc: int, parts: Sequence[str]) -> None:
        """A document of the index, by its id and its parts' terms (space-separated)."""
        counted, length = _counted(parts)
        for term, counts in counted.items():
            self._adding += (self._term(term), doc, *counts, length)
        self.documents += 1
        self.tokens += length
        self.rows += len(counted)
        if len(self._adding) > _PENDING:
            self._pack()

    def remove(self, doc: int, parts: Sequence[str]) -> None:
        """A document leaving the index, with the parts it was added with."""
        counted, length = _counted(parts)
        self._removing += (n for term in counted for n in (self._term(term), doc))
        self.documents -= 1
        self.tokens -= length

    def added(self, bucket: int, buckets: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rows added for the terms numbered `bucket` modulo `buckets`: their terms,
        documents and counts, sorted by term then document."""
        self._pack()
        parts = [(t[m], d[m], c[m]) for t, d, c in self._added for m in [t % buckets == bucket]]
        terms = np.concatenate([np.zeros(0, np.int32), *(t for t, _, _ in parts)])
        docs = np.concatenate([np.zeros(0, np.int64), *(d for _, d, _ in parts)])
        counts = np.concatenate([np.zeros((0, _WIDTH), _COUNTS), *(c for _, _, c in parts)])
        order = np.lexsort((docs, terms))
        return terms[order], docs[order], counts[order]

    def removed(self) -> np.ndarray:
        """Rows of term and document, sorted by term then document."""
        rows = np.array(self._removing, np.int64).reshape(-1, 2)
        return rows[np.lexsort((rows[:, 1], rows[:, 0]))]

    def _pack(self) -> None:
        if self._adding:
            rows = np.array(self._adding, np.int64).reshape(-1, 2 + _WIDTH)
            self._added.append(
                (rows[:, 0].astype(np.int32), rows[:, 1].copy(), rows[:, 2:].astype(_COUNTS))
            )
            self._adding = []

    def _term(self, term: str) -> int:
        return self.terms.setdefault(term, len(self.terms))


def _counted(parts: Sequence[str]) -> tuple[dict[str, list[int]], int]:
    """Each token's count in each part, and the document's length in tokens, as FTS5 counts
    them."""
    counted: dict[str, list[int]] = {}
    length = 0
    for index, text in enumerate(parts):
        terms = searchtokens.tokens(text)
        length += len(terms)
        for term in terms:
            counts = counted.get(term)
            if counts is None:
                counts = counted[term] = [0] * len(PARTS)
            counts[index] += 1
    return counted, length


def write(connection: Connection, change: Change) -> None:
    """Append the change to the postings of every term it touches (merging a term's segments
    when it has MERGE_AT), and to the index's document and token counts."""
    if change.documents or change.tokens:
        connection.execute(
            searchlength.update()
            .where(searchlength.c.id == 1)
            .values(
                documents=searchlength.c.documents + change.documents,
                tokens=searchlength.c.tokens + change.tokens,
            )
        )
    if not change.terms:
        return
    names = list(change.terms)
    removed = change.removed()
    gone_at = _starts(removed[:, 0], len(names))
    segments = _segments(connection, names)
    # Terms in buckets, so a whole catalogue's rows are sorted and copied a part at a time.
    buckets = max(1, change.rows // _BUCKET_ROWS)
    for bucket in range(buckets):
        wanted = np.arange(bucket, len(names), buckets)
        terms, docs, counts = change.added(bucket, buckets)
        starts = np.searchsorted(terms, wanted)
        ends = np.searchsorted(terms, wanted, side="right")
        rows, merged = [], []
        for index, start, end in zip(wanted.tolist(), starts.tolist(), ends.tolist(), strict=True):
            term = names[index]
            new_docs, new_counts = docs[start:end], counts[start:end]
            gone = removed[gone_at[index] : gone_at[index + 1], 1]
            if segments.get(term, 0) + 1 >= MERGE_AT:
                merged.append(term)
                new_docs, new_counts = _merged(_read(connection, term), new_docs, new_counts, gone)
                gone = gone[:0]
            if len(new_docs) or len(gone):  # a merged term whose documents all left: no row
                rows.append(_row(term, new_docs, new_counts, gone))
        for start in range(0, len(merged), _CHUNK):
            chunk = merged[start : start + _CHUNK]
            connection.execute(searchpostings.delete().where(searchpostings.c.term.in_(chunk)))
        for start in range(0, len(rows), 5_000):
            connection.execute(searchpostings.insert(), rows[start : start + 5_000])


def clear(connection: Connection) -> None:
    """Forget every posting (the whole index is being written again)."""
    connection.execute(searchpostings.delete())
    connection.execute(searchlength.update().values(documents=0, tokens=0))


def documents(connection: Connection) -> int:
    """The number of documents the postings hold."""
    statement = sa.select(searchlength.c.documents).where(searchlength.c.id == 1)
    return int(connection.execute(statement).scalar_one_or_none() or 0)


def build(connection: Connection) -> None:
    """Postings for every document of the index (a store from before they were kept)."""
    clear(connection)
    change = Change()
    statement = sa.text("SELECT id, title, keywords, body FROM searchdoc")
    for doc, *parts in connection.execute(statement):
        change.add(doc, parts)
    write(connection, change)


def postings(
    connection: Connection, terms: Sequence[str]
) -> tuple[int, int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The index's document and token counts, and these terms' documents and counts, read in
    one statement: one snapshot of the store, so a change committed meanwhile is seen whole or
    not at all."""
    statement = sa.text(
        "SELECT l.documents, l.tokens, p.term, p.docs, p.counts, p.gone FROM searchlength AS l "
        "LEFT JOIN searchpostings AS p ON p.term IN :terms WHERE l.id = 1"
    ).bindparams(sa.bindparam("terms", expanding=True))
    rows = connection.execute(statement, {"terms": list(dict.fromkeys(terms))}).all()
    segments: dict[str, list[Any]] = {term: [] for term in terms}
    for row in rows:
        if row.term is not None:
            segments[row.term].append(row)
    documents, tokens = (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
    return documents, tokens, {term: _assembled(found) for term, found in segments.items()}


def _read(connection: Connection, term: str) -> tuple[np.ndarray, np.ndarray]:
    """A term's documents and counts (for a change merging its segments)."""
    statement = sa.select(searchpostings.c.docs, searchpostings.c.counts, searchpostings.c.gone)
    return _assembled(connection.execute(statement.where(searchpostings.c.term == term)).all())


def _assembled(segments: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """A term's documents (ascending) and counts: its segments put together, its removed
    documents left out."""
    if not segments:
        return np.zeros(0, np.int64), np.zeros((0, _WIDTH), _COUNTS)
    docs = [np.frombuffer(s.docs, _DOCS) for s in segments]
    counts = [np.frombuffer(s.counts, _COUNTS).reshape(-1, _WIDTH) for s in segments]
    gone = [np.frombuffer(s.gone, _DOCS) for s in segments if s.gone]
    if len(segments) == 1 and not gone:  # the stored arrays as they are, read-only
        return docs[0], counts[0]
    all_docs, all_counts = np.concatenate(docs), np.concatenate(counts)
    if gone:
        keep = ~np.isin(all_docs, np.concatenate(gone))
        all_docs, all_counts = all_docs[keep], all_counts[keep]
    if len(segments) > 1:
        order = np.argsort(all_docs, kind="stable")
        all_docs, all_counts = all_docs[order], all_counts[order]
    return all_docs, all_counts


def _merged(
    old: tuple[np.ndarray, np.ndarray], docs: np.ndarray, counts: np.ndarray, gone: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A term's postings as one segment: what it had, less what is gone, with what is new."""
    all_docs = np.concatenate([old[0], docs])
    all_counts = np.concatenate([old[1], counts])
    keep = ~np.isin(all_docs, gone)
    order = np.argsort(all_docs[keep], kind="stable")
    return all_docs[keep][order], all_counts[keep][order]


def _row(term: str, docs: np.ndarray, counts: np.ndarray, gone: np.ndarray) -> dict[str, object]:
    return {
        "term": term,
        "docs": docs.astype(_DOCS).tobytes(),
        "counts": counts.astype(_COUNTS).tobytes(),
        "gone": gone.astype(_DOCS).tobytes(),
    }


def _starts(terms: np.ndarray, count: int) -> np.ndarray:
    """Where each term's rows start in rows sorted by term, and the end."""
    return np.searchsorted(terms, np.arange(count + 1))


def _segments(connection: Connection, terms: Iterable[str]) -> dict[str, int]:
    """How many segments each of these terms has."""
    listed = list(terms)
    found: dict[str, int] = {}
    for start in range(0, len(listed), _CHUNK):
        statement = (
            sa.select(searchpostings.c.term, sa.func.count())
            .where(searchpostings.c.term.in_(listed[start : start + _CHUNK]))
            .group_by(searchpostings.c.term)
        )
        found.update({term: int(n) for term, n in connection.execute(statement)})
    return found
