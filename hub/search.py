"""The one search of the catalogue, for the REST API, CKAN's package_search and the UI.

A query is words (stemmed in English and French, the schemas' enum labels as synonyms), a
condition tree (CKAN's q and fq compile to one), field filters, an area, an updated-since date, a
time-coverage window, a sort and a page. The matching documents (and their relevance) are found
in SQL over `hub.searchindex`'s tables: FTS5 on SQLite, a tsvector on PostgreSQL. Their facets are
counted, and they are ordered and paged, over the columns `hub.searchcache` holds in memory; a
sort on a value computed from the rows stays in SQL. The freshness facets and filters
(`freshness`, `timeliness`) are measured against the clock when the search runs. What is
computed from a dataset's rows (extent, time range, counts) is matched only for datasets whose
rows the caller may read whole, as `hub.access` decides.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session, col, select

from hub import access, schemas, searchcache, searchrelevance, searchtokens, thesaurus, wording
from hub.access import ANONYMOUS, Actor
from hub.api.shapes import DEFAULT_STALE_AFTER, STALE_AFTER
from hub.models import Dataset
from hub.searchindex import COMPUTED_FIELDS, DATASETS, PARTS, WEIGHTS, searchdoc, searchfield

dataset_t = DATASETS
_PG_DOCUMENT: ColumnElement[Any] = sa.literal_column(
    "searchdoc.document"
)  # PostgreSQL only: migration 0007
PG_PARTS = {"title": "A", "keywords": "B", "body": "C"}
# ts_rank's weights of D, C, B, A: the same ratios as the FTS5 weights.
PG_WEIGHTS = f"{{0.1, {WEIGHTS['body'] / 4}, {WEIGHTS['keywords'] / 4}, 1.0}}"


# --- conditions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Everything:
    """Every dataset (CKAN's `*:*`)."""


@dataclass(frozen=True)
class Words:
    """Datasets holding every word of `text` (any stem or synonym), in one part or in any."""

    text: str
    part: str | None = None  # title | keywords | body


@dataclass(frozen=True)
class Equals:
    """Datasets with a value of `field` equal to `value` (folded); `*` and `?` as wildcards."""

    field: str
    value: str
    pattern: bool = False


@dataclass(frozen=True)
class Between:
    """Datasets with a value of `field` inside a range; None leaves a side open."""

    field: str
    low: float | str | None
    high: float | str | None
    low_inclusive: bool = True
    high_inclusive: bool = True


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition = Everything | Words | Equals | Between | AllOf | AnyOf | Not

# Sort keys: the index's names (CKAN's), each an SQL expression below.
SORT_KEYS = (
    "score",
    "id",
    "name",
    "title",
    "title_string",
    "metadata_modified",
    "metadata_created",
    "num_resources",
    "num_tags",
    "record_count",
)
RELEVANCE = (("score", True), ("metadata_modified", True))

# Facets and filters on how recent a dataset's data is, computed at search time from the latest
# time its rows cover, or when it last received rows if earlier (`fresh_at`, `hub.freshness`):
# `freshness` is its age, `timeliness` whether that age is within
# what its theme expects (hub.api.shapes.STALE_AFTER: the `stale` flag every summary carries).
# No value is stored for them: they change with the clock, not with the dataset.
AGES = (("day", timedelta(days=1)), ("week", timedelta(days=7)), ("month", timedelta(days=30)))
FRESHNESS_VALUES = (*(name for name, _ in AGES), "older", "never")
TIMELINESS_VALUES = ("fresh", "stale")
CLOCK_FACETS = {"freshness": FRESHNESS_VALUES, "timeliness": TIMELINESS_VALUES}


@dataclass(frozen=True)
class Query:
    """What to find, how to order it, which page, and which facets to count."""

    text: str = ""
    where: Condition = Everything()
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)  # field → any of these
    bbox: tuple[float, float, float, float] | None = None  # intersects the dataset's extent
    updated_since: datetime | None = None
    covers_from: datetime | None = None  # the dataset's time range overlaps this window
    covers_until: datetime | None = None
    sort: tuple[tuple[str, bool], ...] = RELEVANCE  # (key, descending)
    limit: int = 20
    offset: int = 0
    facets: tuple[str, ...] = ()
    facet_limit: int = 50  # negative: every value
    facet_mincount: int = 1
    # A facet counted without its own filter shows what choosing another value would give.
    facets_beside_filters: bool = False
    now: datetime | None = None  # what `freshness` and `timeliness` are measured from (None: now)


@dataclass(frozen=True)
class Found:
    """A page of matching dataset ids, how many match, and facet counts (most first)."""

    total: int
    ids: list[str]
    facets: dict[str, list[tuple[str, int]]]


class BadQuery(ValueError):
    """A query the search cannot run (an unknown sort key, a malformed range)."""


def find(session: Session, query: Query, actor: Actor = ANONYMOUS) -> Found:
    """The datasets matching `query`, as `actor` may search them."""
    connection = session.connection()
    # One moment for the whole search: the clock facets count what the clock filters match.
    query = dataclasses.replace(query, now=_utc(query.now or datetime.now(UTC)))
    query = _wordless_as_nothing(query)
    compiler = _Compiler(connection, actor)
    matched = compiler.conditions(query, skip_filter=None)
    if not all(key in searchcache.SORT_KEYS for key, _ in query.sort):
        return _find_in_sql(compiler, matched, query)
    if _everything(query):
        return _find_everything(connection, query)
    held = _held_conditions(query)
    if held is not None and not held[1]:
        return _find_chosen(connection, query, held[0])
    if held is not None:
        return _find_held(connection, query, *held)
    if _words_and_held_filters(query):
        return _find_words_filtered_in_memory(connection, query, actor)
    if compiler.ranked and _ranked(query) and _text_only(query):
        return _find_words(compiler, compiler.ranked_hits().held(connection), matched, query)
    hit_ids, scores = compiler.hits(matched, query)
    copy, hits, kept = searchcache.place(connection, hit_ids)
    if scores is not None:
        scores = scores[kept]
    ids: list[str] = []
    if query.limit > 0 and query.offset < len(hits):
        ordered = copy.order(hits, scores, query.sort, query.offset + query.limit)
        ids = copy.names[ordered[query.offset :]].tolist()
    facets = {}
    for name in query.facets:
        beside = query.facets_beside_filters and name in query.filters
        condition = compiler.conditions(query, skip_filter=name) if beside else matched
        if name not in searchcache.FACET_FIELDS and name not in CLOCK_FACETS:
            facets[name] = compiler.facet(name, condition, query)
            continue
        if beside:
            others, _ = compiler.hits(condition, query, scored=False)
            copy, counted, _ = searchcache.place(connection, others)
        else:
            counted = hits
        facets[name] = _held_facet(copy, name, counted, query)
    return Found(len(hits), ids, facets)


NOTHING = Not(Everything())


def _wordless_as_nothing(query: Query) -> Query:
    """Words without a letter or digit (`😀`, `—`, `&|!`) match no dataset, as in Solr, where
    a query of no searchable term finds nothing: they are not "no query", which would list the
    whole catalogue as matching. Blank text stays no query (the catalogue's first page)."""
    where = _nothing_for_wordless(query.where)
    if wordless(query.text):
        return dataclasses.replace(query, text="", where=AllOf((NOTHING, where)))
    return query if where is query.where else dataclasses.replace(query, where=where)


def wordless(text: str) -> bool:
    """Whether a query text holds something, but no letter or digit to look for."""
    return bool(text.strip()) and not any(c.isalnum() for c in text)


def _nothing_for_wordless(condition: Condition) -> Condition:
    if isinstance(condition, Words):
        return NOTHING if wordless(condition.text) else condition
    if isinstance(condition, AllOf | AnyOf):
        parts = tuple(_nothing_for_wordless(p) for p in condition.parts)
        if all(new is old for new, old in zip(parts, condition.parts, strict=True)):
            return condition
        return type(condition)(parts)
    if isinstance(condition, Not):
        part = _nothing_for_wordless(condition.part)
        return condition if part is condition.part else Not(part)
    return condition


def _ranked(query: Query) -> bool:
    return any(key == "score" for key, _ in query.sort)


def _find_words(
    compiler: _Compiler, placed: searchcache.Placed, matched: ColumnElement[bool], query: Query
) -> Found:
    """`find` for words alone ranked by relevance: their kept hits, order and facet counts."""
    copy, hits = placed.copy, placed.hits
    ids = _head_page(placed, query)
    facets = {}
    for name in query.facets:
        if name in CLOCK_FACETS:
            facets[name] = _held_facet(copy, name, hits, query)
        elif name in searchcache.FACET_FIELDS:
            counts = placed.counts(name)
            facets[name] = copy.top(name, counts, query.facet_mincount, query.facet_limit)
        else:
            facets[name] = compiler.facet(name, matched, query)
    return Found(len(hits), ids, facets)


def _words_and_held_filters(query: Query) -> bool:
    """Words ranked by relevance, narrowed only by filters on values the copy holds: the words'
    one ranked pass, then the filters in memory (no second pass over the same hits in SQL)."""
    filters = {name: values for name, values in query.filters.items() if values}
    if not filters or not _ranked(query):
        return False
    if any(n not in searchcache.FACET_FIELDS or n in COMPUTED_FIELDS for n in filters):
        return False
    words = dataclasses.replace(query, filters={})
    return _text_only(words) and not _everything(words)


def _find_words_filtered_in_memory(connection: Connection, query: Query, actor: Actor) -> Found:
    """`find` for words and held filters: the words' kept hits, the filters and their facets
    counted in memory."""
    words = dataclasses.replace(query, filters={})
    compiler = _Compiler(connection, actor)
    compiler.conditions(words, skip_filter=None)
    placed = compiler.ranked_hits().held(connection)
    copy, every = placed.copy, placed.hits
    masks = {
        name: copy.having(name, {wording.fold(v) for v in values}, every)
        for name, values in query.filters.items()
        if values
    }
    base = np.ones(len(every), bool)
    hits = every[_chosen(base, masks)]
    ids = _page(copy, placed.order, hits, query)
    facets = {}
    for name in query.facets:
        beside = query.facets_beside_filters and name in masks
        if name in searchcache.FACET_FIELDS and beside and set(masks) == {name}:
            counts = placed.counts(name)  # the only filter, left out: all the words' hits
            facets[name] = copy.top(name, counts, query.facet_mincount, query.facet_limit)
        elif name in searchcache.FACET_FIELDS or name in CLOCK_FACETS:
            counted = every[_chosen(base, masks, name)] if beside else hits
            facets[name] = _held_facet(copy, name, counted, query)
        else:
            matched = compiler.conditions(query, skip_filter=None)
            facets[name] = compiler.facet(name, matched, query)
    return Found(len(hits), ids, facets)


def _held_facet(
    copy: searchcache.Documents, name: str, hits: np.ndarray, query: Query
) -> list[tuple[str, int]]:
    """A facet counted over the copy in memory: a stored field's values, most first, or a clock
    facet's values in their own order (youngest first)."""
    if name not in CLOCK_FACETS:
        counts = copy.counts(name, hits)
        return copy.top(name, counts, query.facet_mincount, query.facet_limit)
    labels = _clock_labels(copy, name, hits, query.now or datetime.now(UTC))
    found = np.bincount(labels, minlength=len(CLOCK_FACETS[name]))
    return [
        (value, int(n))
        for value, n in zip(CLOCK_FACETS[name], found, strict=True)
        if n >= max(query.facet_mincount, 1)
    ]


def _clock_labels(
    copy: searchcache.Documents, name: str, hits: np.ndarray, now: datetime
) -> np.ndarray:
    """Each hit's value of a clock facet, as an index into CLOCK_FACETS[name]."""
    age = _utc(now).timestamp() - copy.numbers["fresh_at"][hits]
    never = np.isnan(age)
    if name == "freshness":
        limits = np.array([span.total_seconds() for _, span in AGES])
        labels = np.searchsorted(limits, np.where(never, 0.0, age), side="left")
        return np.where(never, FRESHNESS_VALUES.index("never"), labels)
    themes = copy.facets["theme"]
    theme_of = np.full(len(copy.ids), -1, np.int64)
    theme_of[themes.positions] = themes.codes
    limit_of = np.array(
        [
            *(STALE_AFTER.get(v, DEFAULT_STALE_AFTER).total_seconds() for v in themes.values),
            DEFAULT_STALE_AFTER.total_seconds(),  # code -1: no theme
        ]
    )
    limit = limit_of[theme_of[hits]]
    stale = never | (age > np.where(never, 0.0, limit))
    return stale.astype(np.int64)  # 0: fresh, 1: stale


def _find_everything(connection: Connection, query: Query) -> Found:
    """Every dataset: its order and facets computed once while the catalogue stays the same."""
    whole = searchcache.whole(connection)
    copy, total = whole.copy, len(whole.hits)
    ids: list[str] = []
    if query.limit > 0 and query.offset < total:
        page = whole.order(query.sort)[query.offset : query.offset + query.limit]
        ids = copy.names[page].tolist()
    facets = {
        name: _held_facet(copy, name, whole.hits, query)
        if name in CLOCK_FACETS
        else copy.top(name, whole.counts(name), query.facet_mincount, query.facet_limit)
        for name in query.facets
    }
    return Found(total, ids, facets)


def _held_conditions(
    query: Query,
) -> tuple[list[tuple[str, set[str]]], dict[str, set[str]]] | None:
    """The query as conditions on values the copy holds, without words (a producer's datasets,
    a facet chosen on `*:*`): the condition tree's, each a field and any of its values (folded,
    as the SQL compares them), all to hold, and the filters' apart (a facet may be counted
    beside its own filter); None when it asks for more (words, ranges, an area, dates, a
    negation, a wildcard, a value computed from the rows, a facet counted in SQL)."""
    if query.bbox is not None or query.updated_since is not None:
        return None
    if query.covers_from is not None or query.covers_until is not None:
        return None
    if not all(n in searchcache.FACET_FIELDS or n in CLOCK_FACETS for n in query.facets):
        return None
    held = set(searchcache.FACET_FIELDS) - COMPUTED_FIELDS
    where: list[tuple[str, set[str]]] = []
    parts: list[Condition] = [Words(query.text), query.where]
    while parts:
        part = parts.pop()
        if isinstance(part, AllOf):
            parts += part.parts
            continue
        if isinstance(part, Everything):
            continue
        if isinstance(part, Words) and not query_words(part.text):
            continue
        options = part.parts if isinstance(part, AnyOf) else (part,)
        if not options or not all(
            isinstance(o, Equals) and o.field in held and not _wildcard(o) for o in options
        ):
            return None
        fields = {o.field for o in options if isinstance(o, Equals)}
        if len(fields) != 1:
            return None
        where.append(
            (fields.pop(), {wording.fold(o.value) for o in options if isinstance(o, Equals)})
        )
    filters = {}
    for name, values in query.filters.items():
        if not values:
            continue
        if name not in held:
            return None
        filters[name] = {wording.fold(v) for v in values}
    return where, filters


def _wildcard(condition: Equals) -> bool:
    folded = wording.fold(condition.value)
    return condition.pattern and ("*" in folded or "?" in folded)


def _find_held(
    connection: Connection,
    query: Query,
    where: list[tuple[str, set[str]]],
    filters: dict[str, set[str]],
) -> Found:
    """`find` for conditions on held values alone: every live document narrowed in memory,
    in the order kept for every document, with facets counted in memory."""
    whole = searchcache.whole(connection)
    copy, every = whole.copy, whole.hits
    base = np.ones(len(every), bool)
    for name, folded in where:
        base &= copy.having(name, folded, every)
    masks = {name: copy.having(name, folded, every) for name, folded in filters.items()}
    hits = every[_chosen(base, masks)]
    ids = _page(copy, whole.order, hits, query)
    facets = {}
    for name in query.facets:
        beside = query.facets_beside_filters and name in masks
        counted = every[_chosen(base, masks, name)] if beside else hits
        facets[name] = _held_facet(copy, name, counted, query)
    return Found(len(hits), ids, facets)


def _find_chosen(connection: Connection, query: Query, where: list[tuple[str, set[str]]]) -> Found:
    """`find` for conditions on held values alone, no filter beside: the documents they choose
    kept per generation with their page orders and facet counts (a producer's datasets asked
    again)."""
    whole = searchcache.whole(connection)
    copy, every = whole.copy, whole.hits

    def chosen() -> np.ndarray:
        base = np.ones(len(every), bool)
        for name, folded in where:
            base &= copy.having(name, folded, every)
        return every[base]

    key = frozenset((name, frozenset(folded)) for name, folded in where)
    placed = whole.narrow(key, chosen)
    hits = placed.hits
    ids = _head_page(placed, query)
    facets = {}
    for name in query.facets:
        if name in CLOCK_FACETS:
            facets[name] = _held_facet(copy, name, hits, query)
        else:
            counts = placed.counts(name)
            facets[name] = copy.top(name, counts, query.facet_mincount, query.facet_limit)
    return Found(len(hits), ids, facets)


def _head_page(placed: searchcache.Placed, query: Query) -> list[str]:
    """The ids of the query's page among kept hits, sorting no further than its end."""
    if query.limit <= 0 or query.offset >= len(placed.hits):
        return []
    ordered = placed.head(query.sort, query.offset + query.limit)
    return placed.copy.names[ordered[query.offset :]].tolist()


def _chosen(base: np.ndarray, masks: dict[str, np.ndarray], skip: str | None = None) -> np.ndarray:
    """Which of the hits `base` keeps every filter's mask keeps, but `skip`'s (a facet counted
    beside its own filter)."""
    chosen = base.copy()
    for name, mask in masks.items():
        if name != skip:
            chosen &= mask
    return chosen


def _page(
    copy: searchcache.Documents,
    order: Callable[[tuple[tuple[str, bool], ...]], np.ndarray],
    hits: np.ndarray,
    query: Query,
) -> list[str]:
    """The page of `hits` the query asks for, in `order` (kept for more documents than the
    hits), narrowed to them: the same as ordering them alone, the order being total (it ends
    on the dataset id)."""
    if query.limit <= 0 or query.offset >= len(hits):
        return []
    member = np.zeros(len(copy.ids), bool)
    member[hits] = True
    ordered = order(query.sort)
    ordered = ordered[member[ordered]]
    return list(copy.names[ordered[query.offset : query.offset + query.limit]].tolist())


def _find_in_sql(compiler: _Compiler, matched: ColumnElement[bool], query: Query) -> Found:
    """`find` done wholly in SQL: for a sort on a value computed from the rows (record_count),
    which depends on the caller's grant."""
    connection = compiler.connection
    hits = _from().where(matched)
    total = connection.execute(
        sa.select(sa.func.count()).select_from(hits.with_only_columns(searchdoc.c.id).subquery())
    ).scalar_one()
    ids: list[str] = []
    if query.limit > 0 and query.offset < total:
        ordered = compiler.ordered(hits.with_only_columns(searchdoc.c.dataset_id), query)
        ids = list(connection.execute(ordered.limit(query.limit).offset(query.offset)).scalars())
    facets = {}
    for name in query.facets:
        condition = (
            compiler.conditions(query, skip_filter=name)
            if query.facets_beside_filters and name in query.filters
            else matched
        )
        if name not in CLOCK_FACETS:
            facets[name] = compiler.facet(name, condition, query)
            continue
        counted, _ = compiler.hits(condition, query, scored=False)
        copy, positions, _ = searchcache.place(connection, counted)
        facets[name] = _held_facet(copy, name, positions, query)
    return Found(total, ids, facets)


def clock_condition(name: str, value: str, now: datetime) -> Condition:
    """The datasets with this value of a clock facet at `now` (an unknown value: none), as
    conditions on `fresh_at` (epoch seconds in the index)."""
    moment = _utc(now).timestamp()
    if name == "freshness":
        bounds = [moment - span.total_seconds() for _, span in AGES]
        ranges: dict[str, Condition] = {
            "day": Between("fresh_at", bounds[0], None),
            "week": Between("fresh_at", bounds[1], bounds[0], high_inclusive=False),
            "month": Between("fresh_at", bounds[2], bounds[1], high_inclusive=False),
            "older": Between("fresh_at", None, bounds[2], high_inclusive=False),
            "never": Not(Between("fresh_at", None, None)),
        }
        return ranges.get(value, Not(Everything()))
    if name != "timeliness" or value not in TIMELINESS_VALUES:
        return Not(Everything())

    def within(limit: timedelta) -> Condition:
        return Between("fresh_at", moment - limit.total_seconds(), None)

    fresh = AnyOf(
        (
            *(AllOf((Equals("theme", t), within(limit))) for t, limit in STALE_AFTER.items()),
            AllOf(
                (
                    Not(AnyOf(tuple(Equals("theme", t) for t in STALE_AFTER))),
                    within(DEFAULT_STALE_AFTER),
                )
            ),
        )
    )
    return fresh if value == "fresh" else Not(fresh)


def datasets(session: Session, ids: list[str]) -> list[Dataset]:
    """The datasets of these ids, in this order."""
    if not ids:
        return []
    found = {d.id: d for d in session.exec(select(Dataset).where(col(Dataset.id).in_(ids)))}
    return [found[i] for i in ids if i in found]


def sort_of(text: str) -> tuple[tuple[str, bool], ...]:
    """A REST sort (`relevance`, `name`, `-modified`, `title,-created`, …) as sort keys."""
    names = {"relevance": "score", "modified": "metadata_modified", "created": "metadata_created"}
    keys = []
    for item in (t.strip() for t in text.split(",")):
        if item in ("", "relevance"):
            keys += list(RELEVANCE)
            continue
        descending, name = item.startswith("-"), item.lstrip("-")
        key = names.get(name, name)
        if key not in SORT_KEYS:
            raise BadQuery(
                f"cannot sort on {name!r}: sort on relevance, name, title, modified, created"
            )
        keys.append((key, descending))
    return tuple(keys) or RELEVANCE


# --- compiling to SQL --------------------------------------------------------------------------


def _from() -> sa.Select[Any]:
    return sa.select(searchdoc.c.id).select_from(
        searchdoc.join(dataset_t, dataset_t.c.id == searchdoc.c.dataset_id)
    )


def query_words(text: str) -> tuple[wording.Word, ...]:
    """The words of a query text (a search reads them up to six times: the short texts people
    type are kept, a long one is not held in memory)."""
    if len(text) <= 200:
        return _query_words(text)
    return tuple(wording.query_words(text, synonyms()))


@lru_cache(maxsize=4096)
def _query_words(text: str) -> tuple[wording.Word, ...]:
    return tuple(wording.query_words(text, synonyms()))


@lru_cache(maxsize=1)
def synonyms() -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """Each name of every enum value in the schemas, and of every thesaurus group → all the
    names of that value or group."""
    named = schemas.all_category_labels()
    for first, *others in thesaurus.groups():
        named.setdefault(first, []).extend(others)  # a group may add words to an enum value
    return wording.synonym_table(named)


class _Compiler:
    """Conditions → SQL for one connection's dialect and one caller."""

    def __init__(self, connection: Connection, actor: Actor) -> None:
        self.connection, self.actor = connection, actor
        self.sqlite = connection.dialect.name == "sqlite"
        self._whole: ColumnElement[bool] | None = None
        self.ranked: list[str] = []  # the match expressions that relevance is computed from
        # Each ranked expression as words of alternative tokens and the part they are sought in,
        # when SQLite's term postings can rank it (else None: see `_posted`).
        self.posted: list[tuple[list[tuple[str, ...]], str | None] | None] = []
        self.compiled = False

    def conditions(self, query: Query, skip_filter: str | None) -> ColumnElement[bool]:
        """The whole query as one SQL condition (relevance noted from the first call)."""
        parts: list[Condition] = [Words(query.text), query.where]
        for name, values in query.filters.items():
            if name != skip_filter and values:
                now = query.now or datetime.now(UTC)
                parts.append(
                    AnyOf(tuple(clock_condition(name, v, now) for v in values))
                    if name in CLOCK_FACETS
                    else AnyOf(tuple(Equals(name, v) for v in values))
                )
        ranked = not self.compiled
        self.compiled = True
        clauses = [self.condition(AllOf(tuple(parts)), ranked=ranked)]
        if query.updated_since is not None:
            clauses.append(dataset_t.c.modified_at >= _utc(query.updated_since))
        if query.bbox is not None:
            west, south, east, north = query.bbox
            clauses.append(
                self.whole()
                & (searchdoc.c.west <= east)
                & (searchdoc.c.east >= west)
                & (searchdoc.c.south <= north)
                & (searchdoc.c.north >= south)
            )
        if query.covers_from is not None or query.covers_until is not None:
            clauses.append(self.whole() & dataset_t.c.time_min.is_not(None))
            if query.covers_from is not None:
                clauses.append(dataset_t.c.time_max >= _utc(query.covers_from))
            if query.covers_until is not None:
                clauses.append(dataset_t.c.time_min <= _utc(query.covers_until))
        return sa.and_(*clauses)

    def hits(
        self, matched: ColumnElement[bool], query: Query, scored: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The ids of the matching search documents, and their relevance when the query is
        ordered by it (else None)."""
        ranked = scored and bool(self.ranked) and _ranked(query)
        if ranked and _text_only(query):
            # The match is the ranked expression itself: one pass over the full-text index.
            kept = self.ranked_hits()
            return kept.ids, kept.scores
        source: sa.FromClause = searchdoc
        if DATASETS in find_tables(matched, check_columns=True):
            source = source.join(dataset_t, dataset_t.c.id == searchdoc.c.dataset_id)
        statement = sa.select(searchdoc.c.id).select_from(source).where(matched)
        ids = np.array([r[0] for r in searchcache.rows(self.connection, statement)], np.int64)
        if not ranked:
            return ids, None
        words = self.ranked_hits()
        ranked_ids, ranked_scores = words.ids, words.scores  # ids ascending
        if not len(ranked_ids):
            return ids, np.zeros(len(ids))
        at = np.minimum(np.searchsorted(ranked_ids, ids), len(ranked_ids) - 1)
        # A hit matched through another branch (an OR, a filter) than the words ranks as 0.
        return ids, np.where(ranked_ids[at] == ids, ranked_scores[at], 0.0)

    def ranked_hits(self) -> searchcache.Ranked:
        """Every document matching any ranked expression, with its relevance: kept by this
        process while the index stays at the generation they were read at."""
        statement = self.scores()

        def read() -> tuple[np.ndarray, np.ndarray]:
            if self.sqlite and len(self.posted) == 1 and self.posted[0] is not None:
                terms, part = self.posted[0]
                weights = [WEIGHTS[p] for p in PARTS]
                return searchrelevance.relevance(self.connection, terms, part, weights)
            found = searchcache.rows(self.connection, statement)
            return (
                np.fromiter((r[0] for r in found), np.int64, len(found)),
                np.fromiter((r[1] for r in found), np.float64, len(found)),
            )

        return searchcache.ranked(self.connection, self.rank_expression(), read)

    def rank_expression(self) -> str:
        """The ranked expressions as one query of the store's full-text language."""
        return (" OR " if self.sqlite else " | ").join(f"({m})" for m in self.ranked)

    def scores(self) -> sa.Select[Any] | sa.TextClause:
        """Every document matching any ranked expression, with its relevance (higher first):
        BM25 over the weighted parts (FTS5), ts_rank on PostgreSQL."""
        if self.sqlite:
            weights = ", ".join(str(WEIGHTS[p]) for p in PARTS)
            return sa.text(
                f"SELECT rowid, -bm25(searchfts, {weights}) FROM searchfts "
                "WHERE searchfts MATCH :rank"
            ).bindparams(rank=self.rank_expression())
        query = sa.func.to_tsquery("simple", self.rank_expression())
        weights_array: ColumnElement[Any] = sa.literal_column(f"'{PG_WEIGHTS}'::float4[]")
        return sa.select(searchdoc.c.id, sa.func.ts_rank(weights_array, _PG_DOCUMENT, query)).where(
            _PG_DOCUMENT.op("@@")(query)
        )

    def condition(self, condition: Condition, ranked: bool = False) -> ColumnElement[bool]:
        if isinstance(condition, Everything):
            return sa.true()
        if isinstance(condition, Words):
            return self.words(condition, ranked)
        if isinstance(condition, Equals):
            return self.equals(condition)
        if isinstance(condition, Between):
            return self.between(condition)
        if isinstance(condition, AllOf):
            return sa.and_(sa.true(), *(self.condition(p, ranked) for p in condition.parts))
        if isinstance(condition, AnyOf):
            return sa.or_(sa.false(), *(self.condition(p, ranked) for p in condition.parts))
        return sa.not_(self.condition(condition.part))

    def words(self, condition: Words, ranked: bool) -> ColumnElement[bool]:
        words = list(query_words(condition.text))
        if not words:
            return sa.true()
        expression = match_expression(words, condition.part, FTS5 if self.sqlite else TSQUERY)
        if ranked:
            self.ranked.append(expression)
            self.posted.append(_posted(words, condition.part))
        if self.sqlite:
            inner = sa.text("SELECT rowid FROM searchfts WHERE searchfts MATCH :m").bindparams(
                sa.bindparam("m", expression, unique=True)
            )
            return searchdoc.c.id.in_(inner.columns(sa.column("rowid")))
        return _PG_DOCUMENT.op("@@")(sa.func.to_tsquery("simple", expression))

    def equals(self, condition: Equals) -> ColumnElement[bool]:
        folded = wording.fold(condition.value)
        inner = sa.select(searchfield.c.dataset_id).where(searchfield.c.field == condition.field)
        if condition.pattern and ("*" in folded or "?" in folded):
            like = re.sub(r"([\\%_])", r"\\\1", folded).replace("*", "%").replace("?", "_")
            inner = inner.where(searchfield.c.folded.like(like, escape="\\"))
        else:
            inner = inner.where(searchfield.c.folded == folded)
        return self.guarded(condition.field, searchdoc.c.dataset_id.in_(inner))

    def between(self, condition: Between) -> ColumnElement[bool]:
        low, high = _bound(condition.low), _bound(condition.high)
        numeric = all(b is None or isinstance(b, float) for b in (low, high))
        column = searchfield.c.number if numeric else searchfield.c.folded
        inner = sa.select(searchfield.c.dataset_id).where(searchfield.c.field == condition.field)
        if low is not None:
            inner = inner.where(column >= low if condition.low_inclusive else column > low)
        if high is not None:
            inner = inner.where(column <= high if condition.high_inclusive else column < high)
        if numeric:
            inner = inner.where(searchfield.c.number.is_not(None))
        return self.guarded(condition.field, searchdoc.c.dataset_id.in_(inner))

    def guarded(self, name: str, clause: ColumnElement[bool]) -> ColumnElement[bool]:
        """A match on a value computed from the rows counts only where they are readable."""
        return self.whole() & clause if name in COMPUTED_FIELDS else clause

    def whole(self) -> ColumnElement[bool]:
        """Datasets the caller may read whole, from hub.access's grant for each kind of dataset
        (access level, producer, charter): the few distinct kinds, not every dataset."""
        if self._whole is None:
            kinds = self.connection.execute(
                sa.select(
                    dataset_t.c.access,
                    dataset_t.c.organization_id,
                    dataset_t.c.charter_id,
                    dataset_t.c.charter_version,
                ).distinct()  # open kinds too: a charter version in force may close them
            ).all()
            readable = [
                tuple(kind)
                for kind in kinds
                if access.grant(
                    Dataset(
                        id="",
                        title="",
                        organization_id=kind.organization_id,
                        theme="",
                        schema_name="",
                        charter_id=kind.charter_id,
                        charter_version=kind.charter_version,
                        access=kind.access,
                    ),
                    self.actor,
                ).whole
            ]
            columns = sa.tuple_(
                dataset_t.c.access,
                dataset_t.c.organization_id,
                dataset_t.c.charter_id,
                dataset_t.c.charter_version,
            )
            self._whole = columns.in_(readable) if readable else sa.false()
        return self._whole

    def ordered(self, hits: sa.Select[Any], query: Query) -> sa.Select[Any]:
        keys = []
        for key, descending in query.sort:
            if key not in SORT_KEYS:
                raise BadQuery(f"cannot sort on {key!r}")
            expression = self.sort_expression(key)
            if expression is None:
                continue
            # Datasets without the value last, whichever the direction and the store.
            keys.append((expression.desc() if descending else expression.asc()).nulls_last())
        if any(k == "score" for k, _ in query.sort) and self.ranked:
            hits = self.with_score(hits)
        return hits.order_by(*keys, searchdoc.c.dataset_id)

    def sort_expression(self, key: str) -> Any:
        if key == "score":
            return sa.column("score") if self.ranked else None
        if key in ("id", "name"):
            return searchdoc.c.dataset_id
        if key in ("title", "title_string"):
            return sa.func.lower(dataset_t.c.title)
        if key == "metadata_modified":
            return dataset_t.c.modified_at
        if key == "metadata_created":
            return dataset_t.c.created_at
        if key == "record_count":
            return sa.case((self.whole(), dataset_t.c.record_count), else_=None)
        number = (
            sa.select(searchfield.c.number)
            .where(searchfield.c.dataset_id == searchdoc.c.dataset_id)
            .where(searchfield.c.field == key)
            .limit(1)
            .scalar_subquery()
        )
        return number

    def with_score(self, hits: sa.Select[Any]) -> sa.Select[Any]:
        """Join relevance: BM25 over the query's words (FTS5), ts_rank on PostgreSQL."""
        if self.sqlite:
            rank = (
                sa.text(
                    f"SELECT rowid, -bm25(searchfts, {', '.join(str(WEIGHTS[p]) for p in PARTS)})"
                    " AS score FROM searchfts WHERE searchfts MATCH :rank"
                )
                .bindparams(sa.bindparam("rank", self.rank_expression()))
                .columns(sa.column("rowid"), sa.column("score"))
                .subquery("ranking")
            )
            return hits.outerjoin(rank, rank.c.rowid == searchdoc.c.id).add_columns(
                sa.func.coalesce(rank.c.score, 0.0).label("score")
            )
        query = sa.func.to_tsquery("simple", self.rank_expression())
        weights: ColumnElement[Any] = sa.literal_column(f"'{PG_WEIGHTS}'::float4[]")
        score = sa.func.ts_rank(weights, _PG_DOCUMENT, query)
        return hits.add_columns(score.label("score"))

    def facet(self, name: str, matched: ColumnElement[bool], query: Query) -> list[tuple[str, int]]:
        """Counts of each value of one field over the matching datasets."""
        hits = _from().where(matched).with_only_columns(searchdoc.c.dataset_id)
        if name in COMPUTED_FIELDS:
            hits = hits.where(self.whole())
        count = sa.func.count().label("n")
        statement = (
            sa.select(searchfield.c.value, count)
            .where(searchfield.c.field == name)
            .where(searchfield.c.dataset_id.in_(hits))
            .group_by(searchfield.c.value)
            .having(count >= max(query.facet_mincount, 1))
            .order_by(count.desc(), searchfield.c.value)
        )
        if query.facet_limit >= 0:
            statement = statement.limit(query.facet_limit)
        return [(value, n) for value, n in self.connection.execute(statement)]


@dataclass(frozen=True)
class _Syntax:
    """How one store's full-text query language spells a term and its operators."""

    term: str  # with {stem} and {part}
    part: dict[str, str]  # a part of the index as the store names it
    both: str
    either: str


FTS5 = _Syntax('{part}"{stem}"', {p: f"{p} : " for p in PARTS}, " AND ", " OR ")
TSQUERY = _Syntax("'{stem}'{part}", {p: f":{w}" for p, w in PG_PARTS.items()}, " & ", " | ")


def match_expression(words: list[wording.Word], part: str | None, syntax: _Syntax) -> str:
    """Every word, by any of its stems or synonyms, in one part of the index or in any (the
    terms are letters and digits: nothing to quote)."""
    where = syntax.part[part] if part else ""

    def any_of(stems: Sequence[str]) -> str:
        terms = (syntax.term.format(stem=s, part=where) for s in stems)
        return "(" + syntax.either.join(terms) + ")"

    clauses = []
    for word in words:
        options = ["(" + syntax.both.join(any_of(s) for s in way) + ")" for way in _ways(word)]
        clauses.append("(" + syntax.either.join(options) + ")")
    return syntax.both.join(clauses)


def _ways(word: wording.Word) -> list[tuple[tuple[str, ...], ...]]:
    """The ways a word matches, each parts that must all appear (a part: any of its stems). Its
    one-part ways are one part, each term once, and a way with a part made of those terms is
    left out: it matches no more, and would have FTS5 score the same terms again (`énergie`:
    ten phrases to score on every hit, three without the repeats)."""
    single = [*word.stems, *(term for name in word.synonyms if len(name) == 1 for term in name[0])]
    alone = tuple(dict.fromkeys(single))
    ways: list[tuple[tuple[str, ...], ...]] = [(alone,)] if alone else []
    for name in dict.fromkeys(word.synonyms):
        if len(name) > 1 and not any(part and set(part) <= set(alone) for part in name):
            ways.append(name)
    return ways


def _posted(
    words: Sequence[wording.Word], part: str | None
) -> tuple[list[tuple[str, ...]], str | None] | None:
    """Words as `searchrelevance.relevance` ranks them: each word its alternatives, each one
    FTS5 token, when every word is matched one way. Left to FTS5: a term FTS5 cuts into a
    phrase of several tokens, and a multi-word synonym (for a document where only some of its
    words appear, FTS5 may still count their instances, as its AND's cursors stand)."""
    found = []
    for word in words:
        ways = _ways(word)
        if len(ways) != 1 or len(ways[0]) != 1:
            return None
        alternatives = [searchtokens.token(term) for term in ways[0][0]]
        if not alternatives or None in alternatives:
            return None
        found.append(tuple(t for t in alternatives if t is not None))
    return found, part


def _everything(query: Query) -> bool:
    """Whether the query asks for every dataset, counting only facets held in memory."""
    if any(query.filters.values()) or query.bbox is not None or query.updated_since is not None:
        return False
    if query.covers_from is not None or query.covers_until is not None:
        return False
    if not all(n in searchcache.FACET_FIELDS or n in CLOCK_FACETS for n in query.facets):
        return False
    parts: list[Condition] = [Words(query.text), query.where]
    while parts:
        part = parts.pop()
        if isinstance(part, AllOf):
            parts += part.parts
        elif isinstance(part, Words):
            if query_words(part.text):
                return False
        elif not isinstance(part, Everything):
            return False
    return True


def _text_only(query: Query) -> bool:
    """Whether the query is words and nothing else (no filter, area, date or other condition)."""
    if any(query.filters.values()) or query.bbox is not None or query.updated_since is not None:
        return False
    if query.covers_from is not None or query.covers_until is not None:
        return False
    parts: list[Condition] = [Words(query.text), query.where]
    left: list[Condition] = []
    while parts:
        part = parts.pop()
        if isinstance(part, AllOf):
            parts += part.parts
        elif isinstance(part, Words) and not query_words(part.text):
            continue
        elif not isinstance(part, Everything):
            left.append(part)
    return len(left) == 1 and isinstance(left[0], Words)


def _bound(value: float | str | None) -> float | str | None:
    """A range bound as the index compares it: a time as epoch seconds, a number, else folded
    (date math, `NOW-1DAY`, is the caller's to resolve: CKAN's query compiles it to seconds)."""
    if value is None or isinstance(value, float):
        return value
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return wording.fold(text)
    return number if math.isfinite(number) else wording.fold(text)


def _utc(moment: datetime) -> datetime:
    """A time as the catalogue stores it (UTC)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
