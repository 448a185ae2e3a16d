"""The facet values and sort keys of every search document, held in each process's memory.

A search finds its matching documents in SQL (FTS5 or a tsquery, filters, area). Counting facets
and ordering the hits there costs a GROUP BY per facet over the index: hundreds of milliseconds
for a common word at 100 000 datasets. Here they are counted and ordered with numpy over columns
read once from `hub.searchindex`'s tables.

This copy cannot go stale. A document row is written once: any change to its dataset deletes it
and writes a new row under a new id (`hub.searchindex.refresh`), so what the copy holds for an id
stays true for as long as the id exists. The hits come from SQL in the caller's own transaction;
ids the copy does not hold yet (written since, by any process) are read then, in that same
transaction, so the copy only ever grows with rows the caller can see. Ids whose rows are gone
are never hit again; the copy is read anew once they outnumber the live ones.

Beside the copy, each process keeps the ranked hits of the word expressions searched lately
(document ids and relevance, with their order and facet counts once computed), as Solr's
queryResultCache does: finding and scoring 20 000 hits costs FTS5's bm25 tens of milliseconds.
They are kept under the index's generation (`hub.searchindex.generation`), a random number every
change to the index replaces in its own transaction: a search reads the generation (the
exclusive or of `searchstate`'s 16 rows) in its transaction and uses only hits read at that
generation. A change committed by any process names another generation; so does a change of
the searcher's own uncommitted transaction, whose hits are then kept under a generation that,
if it rolls back, no search ever reads again. Hits are kept only when the generation read
before and after reading them is the same (nothing committed in between), and `RESULTS_BYTES`
bounds them, the least recently used dropped first. `*:*` is kept the same way.

What a search's answer is built from besides the hits changes only with the index too: a
dataset's package dict, a licence's title, an organization's name (each change to a dataset, its
resources or its organization rewrites their search rows and names a new generation). `Derived`
keeps them the same way, under the generation, so that a repeated search reads no catalogue row.

A page needs only its first hits in order: they are sorted from the hits whose first sort key is
among the best (`Documents.order` with a stop), not all 20 000 of a common word.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from hub.searchindex import generation, searchdoc, searchfield
from hub.wording import fold

# Fields counted here (the facets the UI, the REST API and CKAN ask for); others are counted in
# SQL. None is computed from a dataset's rows, so none needs a caller's grant.
FACET_FIELDS = (
    "organization",
    "owner_org",
    "groups",
    "theme",
    "tags",
    "res_format",
    "license_id",
    "access",
    "schema",
    "charter",
)
NUMBER_KEYS = ("metadata_modified", "metadata_created", "num_resources", "num_tags")
SORT_KEYS = frozenset({"score", "id", "name", "title", "title_string", *NUMBER_KEYS})
# Numbers held beside the sort keys: how recent a dataset's data is (hub.freshness), which
# hub.search's freshness facets measure against the clock.
HELD_NUMBERS = (*NUMBER_KEYS, "fresh_at")
MISSING_BATCH = 500  # ids read per statement when the copy grows
# Ranked hits kept per process and database, in bytes (ids, scores, positions and two orders:
# 40 bytes a hit): 64 MiB hold about 70 searches of 25 000 hits.
RESULTS_BYTES = 64 * 2**20
ORDERS_KEPT = 2  # sorts remembered per kept search
# A page is sorted from the hits whose first sort key is among its best when it is this many
# times smaller than the hits, else from all of them.
TOP_FRACTION = 4
TOP_KEPT = 100  # at least this many first hits sorted (and kept) for a page
NARROWED_KEPT = 64  # choices of held values (a producer, a facet clicked on `*:*`) kept
# Values computed from catalogue rows at one generation (hub.api.ckan.search's package dicts,
# licence titles, organization names), per process and database: a package dict is 2–5 kB.
DERIVED_ENTRIES = 10_000


@dataclass
class _Facet:
    """One field's values: entry i says the document at `positions[i]` has `values[codes[i]]`."""

    positions: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    codes: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    values: list[str] = field(default_factory=list)
    code_of: dict[str, int] = field(default_factory=dict)
    value_rank: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    folded: list[str] = field(default_factory=list)  # each value as hub.wording.fold writes it
    # The same entries by document: the codes of the document at position p are
    # `by_position[starts[p]:starts[p + 1]]`, so counting a search's hits reads only theirs;
    # `single`: no document has two values, and then `direct[p]` is the code of the document
    # at p plus one (0: none), counted in one pass. One tuple, replaced whole, as searches
    # read it.
    # Held as 32-bit integers: a cold search's counts gather from them at every hit, and half
    # the bytes to fetch took a tag count over 35,000 hits from 1.28 to 1.13 ms, caches cold.
    grouped: tuple[np.ndarray, np.ndarray, bool, np.ndarray] = field(
        default_factory=lambda: (
            np.zeros(1, np.int32),
            np.empty(0, np.int32),
            True,
            np.empty(0, np.int32),
        )
    )

    def group(self, offsets: np.ndarray, codes: np.ndarray, documents: int) -> None:
        """Append the entries of `documents` new documents (`offsets`: each entry's document,
        counted from the first new one) to `grouped`."""
        starts, by_position, single, direct = self.grouped
        per_document = np.bincount(offsets, minlength=documents)
        single = single and per_document.max(initial=0) <= 1
        if single:
            added = np.zeros(documents, np.int32)
            added[offsets] = codes + 1
            direct = np.concatenate([direct, added])
        ends = starts[-1] + np.cumsum(per_document)
        self.grouped = (
            np.concatenate([starts, ends.astype(np.int32)]),
            np.concatenate(
                [by_position, codes[np.argsort(offsets, kind="stable")].astype(np.int32)]
            ),
            single,
            direct if single else np.empty(0, np.int32),
        )

    def code(self, value: str) -> int:
        found = self.code_of.get(value)
        if found is None:
            found = self.code_of[value] = len(self.values)
            self.values.append(value)
            self.folded.append(fold(value))
        return found


class Documents:
    """Every search document this process has seen: its dataset id, sort keys and facet values,
    as columns in the order the documents were read (a position never changes)."""

    def __init__(self) -> None:
        self.ids = np.empty(0, np.int64)
        self.names = np.empty(0, object)  # dataset ids
        self.titles = np.empty(0, object)  # lower-cased titles
        self.numbers = {key: np.empty(0, np.float64) for key in HELD_NUMBERS}
        self.facets = {name: _Facet() for name in FACET_FIELDS}
        self.loaded = 0  # documents held after the last whole read
        self._sorted = np.empty(0, np.int64)  # the ids in order, to find a position
        self._where = np.empty(0, np.int64)  # … and the position of each
        self._ranks: dict[str, np.ndarray] = {}  # name and title ranks, computed when first used

    def placed(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where those of these ids the copy holds sit, and which it holds, once `documents` has
        read them into it: a hit whose document a change committed between two of a search's
        statements deleted (each statement reads its own snapshot: pysqlite's SELECTs,
        PostgreSQL's READ COMMITTED) is read from nowhere, and is left out."""
        if not len(self._sorted):
            return np.zeros(0, np.int64), np.zeros(len(ids), bool)
        at = np.minimum(np.searchsorted(self._sorted, ids), len(self._sorted) - 1)
        held = self._sorted[at] == ids
        return self._where[at[held]], held

    def missing(self, ids: np.ndarray) -> np.ndarray:
        """The ids this copy does not hold yet."""
        return ids[~self.placed(ids)[1]]

    def add(
        self,
        docs: Sequence[tuple[int, str]],
        fields: Iterable[tuple[int, str, str, float | None]],
    ) -> None:
        """Hold these documents (id, dataset id) and their field rows (id, field, value, number)."""
        if not docs:
            return
        first = len(self.ids)
        position = {doc_id: first + index for index, (doc_id, _) in enumerate(docs)}
        titles: dict[int, str] = {}
        numbers: dict[str, dict[int, float]] = {key: {} for key in HELD_NUMBERS}
        entries: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in FACET_FIELDS}
        for doc_id, name, value, number in fields:
            if doc_id not in position:
                continue
            if name in entries:
                at, codes = entries[name]
                at.append(position[doc_id])
                codes.append(self.facets[name].code(value))
            elif name == "title":
                titles[doc_id] = value.lower()
            elif name in numbers and number is not None:
                numbers[name][doc_id] = number
        self.ids = np.concatenate([self.ids, np.fromiter(position, np.int64, len(position))])
        self.names = np.concatenate([self.names, np.array([d[1] for d in docs], object)])
        added = np.array([titles.get(d[0], "") for d in docs], object)
        self.titles = np.concatenate([self.titles, added])
        for key in HELD_NUMBERS:
            column = np.array([numbers[key].get(d[0], np.nan) for d in docs], np.float64)
            self.numbers[key] = np.concatenate([self.numbers[key], column])
        for name, (at, codes) in entries.items():
            facet = self.facets[name]
            added_at, added_codes = np.array(at, np.int64), np.array(codes, np.int64)
            facet.positions = np.concatenate([facet.positions, added_at])
            facet.codes = np.concatenate([facet.codes, added_codes])
            facet.group(added_at - first, added_codes, len(docs))
            if len(facet.value_rank) != len(facet.values):
                facet.value_rank = _ranks(np.array(facet.values, object))
        self._where = np.argsort(self.ids, kind="stable")
        self._sorted = self.ids[self._where]
        self._ranks = {}

    def counts(self, name: str, hits: np.ndarray) -> np.ndarray:
        """How many of the hits (positions) have each value of a field, by value code."""
        facet = self.facets[name]
        starts, by_position, single, direct = facet.grouped
        if single:
            return np.bincount(direct[hits], minlength=len(facet.values) + 1)[1:]
        # Each hit's run of codes, gathered in one index array.
        first, end = starts[hits], starts[hits + 1]
        size = end - first
        runs = np.repeat(first - (np.cumsum(size, dtype=np.int32) - size), size)
        codes = by_position[runs + np.arange(len(runs), dtype=np.int32)]
        return np.bincount(codes, minlength=len(facet.values))

    def having(self, name: str, folded: set[str], hits: np.ndarray) -> np.ndarray:
        """Which of the hits (positions) have a value of a field among `folded` (values as
        hub.wording.fold writes them, as the search's SQL compares them)."""
        facet = self.facets[name]
        codes = [code for code, value in enumerate(facet.folded) if value in folded]
        chosen = np.zeros(len(self.ids), bool)
        if codes:
            chosen[facet.positions[np.isin(facet.codes, codes)]] = True
        return chosen[hits]

    def top(
        self, name: str, counts: np.ndarray, mincount: int, limit: int
    ) -> list[tuple[str, int]]:
        """The values of a field counted at least `mincount` times, most first, then by value."""
        facet = self.facets[name]
        kept = np.flatnonzero(counts >= max(mincount, 1))
        kept = kept[np.lexsort((facet.value_rank[kept], -counts[kept]))]
        if limit >= 0:
            kept = kept[:limit]
        return [(facet.values[code], int(counts[code])) for code in kept]

    def order(
        self,
        hits: np.ndarray,
        scores: np.ndarray | None,
        sort: Sequence[tuple[str, bool]],
        stop: int | None = None,
    ) -> np.ndarray:
        """The hits (positions) in the order of the sort keys, missing values last, then by
        dataset id; only the first `stop` of them when it is given (a page needs no more).

        For those first few, only the hits whose first key is within the `stop` best are
        sorted: the order is total (it ends on the dataset id), so they come out as the head of
        the whole order would."""
        ranked = [(key, down) for key, down in sort if key != "score" or scores is not None]
        first = self._columns(hits, scores, ranked[:1])
        if stop is not None and first and stop * TOP_FRACTION < len(hits):
            bound = np.partition(first[0], max(stop, 1) - 1)[max(stop, 1) - 1]
            kept = first[0] <= bound
            hits = hits[kept]
            scores = scores[kept] if scores is not None else None
        columns = self._columns(hits, scores, sort)  # most significant first
        columns.append(self.rank("names")[hits].astype(np.float64))
        ordered = hits[np.lexsort(columns[::-1])]
        return ordered if stop is None else ordered[:stop]

    def _columns(
        self, hits: np.ndarray, scores: np.ndarray | None, sort: Sequence[tuple[str, bool]]
    ) -> list[np.ndarray]:
        """The sort keys' values for the hits, ascending, missing values as infinity."""
        columns = []
        for key, descending in sort:
            if key == "score":
                if scores is None:
                    continue
                column = scores.astype(np.float64)
            elif key in ("id", "name"):
                column = self.rank("names")[hits].astype(np.float64)
            elif key in ("title", "title_string"):
                column = self.rank("titles")[hits].astype(np.float64)
            else:
                column = self.numbers[key][hits]
            column = -column if descending else column
            columns.append(np.where(np.isnan(column), np.inf, column))
        return columns

    def rank(self, column: str) -> np.ndarray:
        """Each document's rank by dataset id (`names`) or lower-cased title (`titles`)."""
        if column not in self._ranks:
            self._ranks[column] = _ranks(getattr(self, column))
        return self._ranks[column]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank in code-point order (equal values, equal ranks)."""
    if not len(values):
        return np.empty(0, np.int64)
    _, ranks = np.unique(values.astype(str), return_inverse=True)
    return ranks.astype(np.int64).reshape(-1)


@dataclass
class Whole:
    """Every live document, as positions in a copy, with what was computed over all of them
    (orders by sort, counts by facet) while the index stays at its generation."""

    copy: Documents
    generation: int
    hits: np.ndarray
    orders: dict[tuple[tuple[str, bool], ...], np.ndarray] = field(default_factory=dict)
    counted: dict[str, np.ndarray] = field(default_factory=dict)
    narrowed: dict[Hashable, Placed] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def narrow(self, key: Hashable, chosen: Callable[[], np.ndarray]) -> Placed:
        """The documents some held conditions choose (`chosen`: their positions), with their
        orders and facet counts: kept under `key` at this generation (the last NARROWED_KEPT)."""
        with self.lock:
            found = self.narrowed.get(key)
        if found is None:
            found = Placed(self.copy, chosen(), None)
            with self.lock:
                while len(self.narrowed) >= NARROWED_KEPT:
                    self.narrowed.pop(next(iter(self.narrowed)))
                self.narrowed[key] = found
        return found

    def order(self, sort: tuple[tuple[str, bool], ...]) -> np.ndarray:
        if sort not in self.orders:
            self.orders[sort] = self.copy.order(self.hits, None, sort)
        return self.orders[sort]

    def counts(self, name: str) -> np.ndarray:
        if name not in self.counted:
            self.counted[name] = self.copy.counts(name, self.hits)
        return self.counted[name]


class Ranked:
    """The hits of one word expression at one generation of the index: their document ids
    (ascending, read-only) and relevance, and where they sit in this process's copy."""

    def __init__(self, ids: np.ndarray, scores: np.ndarray) -> None:
        order = np.argsort(ids, kind="stable")
        self.ids, self.scores = ids[order], scores[order]
        self.ids.setflags(write=False)
        self.scores.setflags(write=False)
        self._placed: Placed | None = None

    @property
    def size(self) -> int:
        """The bytes this entry may come to hold: ids, scores, positions, ORDERS_KEPT orders
        and some facet counts."""
        heads = self.ids.nbytes * ORDERS_KEPT // TOP_FRACTION  # each under a quarter of the hits
        return self.ids.nbytes * (3 + ORDERS_KEPT) + heads + 16 * 1024

    def unplace(self) -> None:
        """Forget where the hits sit (their copy was replaced by a fresh one)."""
        self._placed = None

    def held(self, connection: Connection) -> Placed:
        """The hits in this process's copy (read into it if need be), with what was computed
        over them there while that copy stays the one held."""
        placed = self._placed
        if placed is None or placed.copy is not _held_for(connection.engine).documents:
            copy, positions, held = place(connection, self.ids)
            placed = self._placed = Placed(copy, positions, self.scores[held])
        return placed


@dataclass
class Placed:
    """Ranked hits as positions in one copy, with their orders by sort and counts by facet."""

    copy: Documents
    hits: np.ndarray
    scores: np.ndarray | None  # None: not ranked
    orders: dict[tuple[tuple[str, bool], ...], np.ndarray] = field(default_factory=dict)
    heads: dict[tuple[tuple[str, bool], ...], np.ndarray] = field(default_factory=dict)
    counted: dict[str, np.ndarray] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def order(self, sort: tuple[tuple[str, bool], ...]) -> np.ndarray:
        """The hits (positions) in the order of `sort` (the first ORDERS_KEPT sorts kept)."""
        with self.lock:
            found = self.orders.get(sort)
        if found is None:
            found = self.copy.order(self.hits, self.scores, sort)
            with self.lock:
                if len(self.orders) < ORDERS_KEPT:
                    self.orders[sort] = found
        return found

    def head(self, sort: tuple[tuple[str, bool], ...], stop: int) -> np.ndarray:
        """The first `stop` hits (positions) in the order of `sort`: from the whole order if
        it is kept, else sorted alone (at least TOP_KEPT of them, kept for the next page)."""
        with self.lock:
            found = self.orders.get(sort)
            if found is None:
                found = self.heads.get(sort)
        if found is not None and (len(found) >= stop or len(found) == len(self.hits)):
            return found[:stop]
        if stop * TOP_FRACTION >= len(self.hits):
            return self.order(sort)[:stop]
        found = self.copy.order(self.hits, self.scores, sort, max(stop, TOP_KEPT))
        with self.lock:
            if sort in self.heads or len(self.heads) < ORDERS_KEPT:
                self.heads[sort] = found
        return found[:stop]

    def counts(self, name: str) -> np.ndarray:
        """How many hits have each value of a held facet, by value code."""
        with self.lock:
            found = self.counted.get(name)
        if found is None or len(found) != len(self.copy.facets[name].values):
            found = self.copy.counts(name, self.hits)  # the copy grew new values: count again
            with self.lock:
                self.counted[name] = found
        return found


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """Values by key, each read moving it to the end: the least recently used come first."""

    def __init__(self) -> None:
        self.entries: OrderedDict[K, V] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
            return found


class _Results(_Recent[tuple[int, str], Ranked]):
    """Ranked hits by (generation, expression), the least recently used dropped first once
    they would hold more than RESULTS_BYTES."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def unplace(self) -> None:
        with self.lock:
            for entry in self.entries.values():
                entry.unplace()

    def put(self, key: tuple[int, str], entry: Ranked) -> None:
        with self.lock:
            if key in self.entries or entry.size > RESULTS_BYTES:
                return
            self.entries[key] = entry
            self.size += entry.size
            while self.size > RESULTS_BYTES:
                _, dropped = self.entries.popitem(last=False)
                self.size -= dropped.size


class _Derived(_Recent[tuple[int, Hashable], Any]):
    """Values by (generation, key), the least recently used dropped past DERIVED_ENTRIES."""

    def put(self, values: Mapping[tuple[int, Hashable], Any]) -> None:
        with self.lock:
            self.entries.update(values)
            while len(self.entries) > DERIVED_ENTRIES:
                self.entries.popitem(last=False)


class _Held:
    def __init__(self) -> None:
        self.documents = Documents()
        self.whole: Whole | None = None
        self.lock = threading.Lock()
        self.results = _Results()
        self.derived = _Derived()


class Derived:
    """What a request computes from catalogue rows that changes only when the search index
    does (a package dict, a licence's title, an organization's name), kept per process under
    the index's generation as the ranked hits are: every change to a dataset, its resources or
    its organization names a new generation (hub.searchindex), so a value kept under the
    generation a search reads is what reading the rows would give.

    One per request: it reads the generation once; what `lookup` reads meanwhile is kept by
    `keep`, at the end of the request, only if the generation is still the same then (nothing
    committed while the values were read)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.generation = generation(connection)
        self._store = _held_for(connection.engine).derived
        self._read: dict[Hashable, Any] = {}

    def get(self, key: Hashable) -> Any | None:
        """The value kept under `key` at this generation (or read by this request), or None."""
        found = self._read.get(key)
        return found if found is not None else self._store.get((self.generation, key))

    def lookup(
        self, keys: Iterable[Hashable], read: Callable[[list[Any]], Mapping[Any, Any]]
    ) -> dict[Any, Any]:
        """The values of these keys: kept ones, the others from `read` (given the keys
        missing, it answers the values it found), to be kept by `keep`."""
        found: dict[Any, Any] = {}
        missing = []
        for key in keys:
            value = self.get(key)
            if value is None:
                missing.append(key)
            else:
                found[key] = value
        if missing:
            fresh = dict(read(missing))
            self._read.update(fresh)
            found.update(fresh)
        return found

    def keep(self) -> None:
        """Keep what this request read, if no change was committed since the generation was
        read (read again now: one statement however many values)."""
        if self._read and generation(self.connection) == self.generation:
            self._store.put({(self.generation, key): v for key, v in self._read.items()})
        self._read = {}


def ranked(
    connection: Connection, expression: str, read: Callable[[], tuple[np.ndarray, np.ndarray]]
) -> Ranked:
    """The ranked hits of a word expression (`read` reads their ids and relevance in the
    caller's transaction): kept from an earlier search at the same generation of the index, or
    read now and kept if no change to the index was committed meanwhile."""
    results = _held_for(connection.engine).results
    before = generation(connection)
    found = results.get((before, expression))
    if found is not None:
        return found
    ids, scores = read()
    found = Ranked(ids, scores)
    if generation(connection) == before:
        results.put((before, expression), found)
    return found


_held: weakref.WeakKeyDictionary[Engine, _Held] = weakref.WeakKeyDictionary()
_held_lock = threading.Lock()


def rows(connection: Connection, statement: sa.Executable) -> list[Any]:
    """All rows of a statement as the driver's tuples: thousands of hit ids need no Row objects."""
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall()) if result.cursor is not None else []
    finally:
        result.close()


def whole(connection: Connection) -> Whole:
    """Every live document. Its ids are read again only when the index's generation changes."""
    held = _held_for(connection.engine)
    before = generation(connection)
    with held.lock:
        known = held.whole
        if known is not None and known.generation == before and known.copy is held.documents:
            return known
    ids = np.array([r[0] for r in rows(connection, sa.select(searchdoc.c.id))], np.int64)
    copy, positions, _ = place(connection, ids)
    found = Whole(copy, before, positions)
    if generation(connection) == before:  # nothing committed while the ids were read
        with held.lock:
            held.whole = found
    return found


def _held_for(engine: Engine) -> _Held:
    with _held_lock:
        held = _held.get(engine)
        if held is None:
            held = _held[engine] = _Held()
        return held


def place(connection: Connection, hits: np.ndarray) -> tuple[Documents, np.ndarray, np.ndarray]:
    """This process's copy for the connection's database, holding at least these hit ids, and
    where they sit in it and which it holds (Documents.placed): placed once when the copy
    holds them all already, as it does for all but the first searches after a change."""
    held = _held_for(connection.engine)
    with held.lock:
        copy = held.documents
        positions, placed = copy.placed(hits)
        if placed.all():
            return copy, positions, placed
        missing = hits[~placed]
        stale = len(copy.ids) - copy.loaded
        if not len(copy.ids) or len(missing) > MISSING_BATCH * 4 or stale > copy.loaded + 1000:
            copy = held.documents = _read(connection, None)
            copy.loaded = len(copy.ids)
            held.results.unplace()  # kept hits let go of the copy read before
            missing = copy.missing(hits)
        for start in range(0, len(missing), MISSING_BATCH):
            batch = missing[start : start + MISSING_BATCH].tolist()
            _extend(copy, connection, batch)
        return copy, *copy.placed(hits)


def _read(connection: Connection, ids: list[int] | None) -> Documents:
    copy = Documents()
    _extend(copy, connection, ids)
    return copy


def _extend(copy: Documents, connection: Connection, ids: list[int] | None) -> None:
    """Add the documents of these ids (None: every document) with their field rows."""
    docs = sa.select(searchdoc.c.id, searchdoc.c.dataset_id)
    joined = searchfield.join(searchdoc, searchdoc.c.dataset_id == searchfield.c.dataset_id)
    fields = (
        sa.select(searchdoc.c.id, searchfield.c.field, searchfield.c.value, searchfield.c.number)
        .select_from(joined)
        .where(searchfield.c.field.in_((*FACET_FIELDS, "title", *HELD_NUMBERS)))
    )
    if ids is not None:
        docs = docs.where(searchdoc.c.id.in_(ids))
        fields = fields.where(searchdoc.c.id.in_(ids))
    found = [(int(i), str(name)) for i, name in rows(connection, docs)]
    copy.add(found, ((int(i), f, v, n) for i, f, v, n in rows(connection, fields)))
