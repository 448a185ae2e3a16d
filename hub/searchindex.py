"""The search rows of each dataset, kept in step with the catalogue by every flush that changes it.

A dataset has one `searchdoc` row (its words in three weighted parts, and its extent) and one
`searchfield` row per value of a field the search filters, sorts or counts facets on (theme,
organization, tags, formats, licence, access, dates, counts, under CKAN's names). SQLite matches
the words through the FTS5 table `searchfts` (same rowid), PostgreSQL through the GIN-indexed
`searchdoc.document` tsvector. The tables are created by migration 0007; nothing here decides who
may see what (`hub.search` does, through `hub.access`). On SQLite, each change also goes to the
term postings (`hub.searchpostings`) that rank plain words without FTS5's bm25().

Every change to these rows also gives one of `searchstate`'s rows (migration 0014) a new random
`generation`, in the same transaction; the index's generation is their exclusive or.
`hub.searchcache` keeps a word expression's ranked hits under the generation it read them at,
so they serve only searches that read that same state.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction

from hub import freshness, recordnames, searchpostings, wording
from hub.models import Dataset, Organization, Resource, as_utc

metadata = sa.MetaData()
searchdoc = sa.Table(
    "searchdoc",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("dataset_id", sa.String(100), nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("keywords", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("west", sa.Float),
    sa.Column("south", sa.Float),
    sa.Column("east", sa.Float),
    sa.Column("north", sa.Float),
)
searchfield = sa.Table(
    "searchfield",
    metadata,
    sa.Column("dataset_id", sa.String(100), nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("folded", sa.Text, nullable=False),
    sa.Column("number", sa.Float),
)
searchstate = sa.Table(
    "searchstate",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
)
DATASETS: sa.Table = Dataset.__table__  # type: ignore[attr-defined]
RESOURCES: sa.Table = Resource.__table__  # type: ignore[attr-defined]
ORGANIZATIONS: sa.Table = Organization.__table__  # type: ignore[attr-defined]

# Weighted parts of a dataset's words, as CKAN's boosts (name^4 title^4 tags^2 groups^2 text):
# FTS5 columns, and PostgreSQL weights A, B, C.
PARTS = searchpostings.PARTS
WEIGHTS = {"title": 4.0, "keywords": 2.0, "body": 1.0}
PG_DOCUMENT = (
    "setweight(to_tsvector('simple', title), 'A') || "
    "setweight(to_tsvector('simple', keywords), 'B') || "
    "setweight(to_tsvector('simple', body), 'C')"
)
# Fields computed from the rows: they follow the rows' access (hub.search filters on them only
# for datasets the caller may read whole).
COMPUTED_FIELDS = frozenset({"record_count", "temporal_start", "temporal_end", "source_url"})
# Fields holding times (their `number` is epoch seconds) and counts: a range on one compares
# numbers, so each bound must be a time, or a number.
TIME_FIELDS = frozenset(
    {
        *("metadata_created", "metadata_modified", "published_at", "fresh_at"),
        *("temporal_start", "temporal_end"),
    }
)
NUMBER_FIELDS = frozenset({"num_resources", "num_tags", "record_count"})
# Every field `document` indexes (a query naming another is refused: hub.api.ckan.query).
INDEX_FIELDS = frozenset(
    {
        *("id", "name", "title", "organization", "owner_org", "groups", "theme", "tags"),
        *("res_format", "license_id", "access", "schema", "schema_version", "charter"),
        *("charter_version", "mandatory_mention", "type", "state", "capacity", "num_resources"),
        *("num_tags", "source_url", "names"),  # names: places and taxa its records hold
        *TIME_FIELDS,
        *NUMBER_FIELDS,
    }
)
VALUE_CHARS = 500  # a field value longer than this is cut: it is for matching, not display


def refresh(connection: Connection, dataset_ids: Iterable[str]) -> None:
    """Rewrite the search rows of these datasets (a dataset gone loses its rows)."""
    ids = sorted(set(dataset_ids))
    if ids:
        _new_generation(connection)
    change = searchpostings.Change()
    for start in range(0, len(ids), 500):
        _refresh(connection, ids[start : start + 500], change)
    if connection.dialect.name == "sqlite":
        searchpostings.write(connection, change)


def rebuild(connection: Connection) -> None:
    """Rewrite every dataset's search rows (after a migration, or to repair the index)."""
    ids = [row[0] for row in connection.execute(sa.select(DATASETS.c.id))]
    _new_generation(connection)
    _clear(connection, None, searchpostings.Change())
    refresh(connection, ids)


def incomplete(connection: Connection) -> bool:
    """Whether some dataset has no search row (the index must be rebuilt)."""
    count = sa.select(sa.func.count())
    datasets = connection.execute(count.select_from(DATASETS)).scalar_one()
    return datasets != connection.execute(count.select_from(searchdoc)).scalar_one()


def unposted(connection: Connection) -> bool:
    """Whether SQLite's term postings miss documents of the index (a store from before them)."""
    if connection.dialect.name != "sqlite":
        return False
    documents = connection.execute(sa.select(sa.func.count()).select_from(searchdoc)).scalar_one()
    return documents != searchpostings.documents(connection)


def _refresh(connection: Connection, ids: list[str], change: searchpostings.Change) -> None:
    _clear(connection, ids, change)
    dataset_t, resource_t = DATASETS, RESOURCES
    datasets = connection.execute(sa.select(dataset_t).where(dataset_t.c.id.in_(ids))).all()
    if not datasets:
        return
    resources: dict[str, list[Any]] = {}
    for row in connection.execute(
        sa.select(resource_t)
        .where(resource_t.c.dataset_id.in_(ids))
        .order_by(resource_t.c.position)
    ):
        resources.setdefault(row.dataset_id, []).append(row)
    org_ids = {d.organization_id for d in datasets}
    org_t = ORGANIZATIONS
    organizations = {
        o.id: o for o in connection.execute(sa.select(org_t).where(org_t.c.id.in_(org_ids)))
    }
    docs, fields = [], []
    for dataset in datasets:
        doc, values = document(
            dataset, organizations.get(dataset.organization_id), resources.get(dataset.id, [])
        )
        if connection.dialect.name == "sqlite":
            doc["id"] = _new_id()
            change.add(doc["id"], [doc[part] for part in PARTS])
        docs.append(doc)
        fields += values
    connection.execute(searchdoc.insert(), docs)
    if fields:
        connection.execute(searchfield.insert(), fields)
    if connection.dialect.name == "sqlite":
        connection.execute(
            sa.text(
                "INSERT INTO searchfts (rowid, title, keywords, body) "
                "SELECT id, title, keywords, body FROM searchdoc WHERE dataset_id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": ids},
        )
    else:
        connection.execute(
            sa.text(f"UPDATE searchdoc SET document = {PG_DOCUMENT} WHERE dataset_id = ANY(:ids)"),
            {"ids": ids},
        )


def generation(connection: Connection) -> int:
    """The index's generation as this connection's transaction sees it: the exclusive or of
    `searchstate`'s rows (GENERATION_SLOTS of them, read by primary key)."""
    found = 0
    # Read on every search, some twice: the driver's statement, without compiling one.
    for (value,) in connection.exec_driver_sql("SELECT generation FROM searchstate"):
        found ^= int(value)
    return found


GENERATION_SLOTS = 16  # rows of searchstate (migration 0014)
# A PostgreSQL writer takes its connection's own row if no other transaction holds it, else
# any free one, and waits only when all are held: a batch keeps its row locked until it
# commits, which may be minutes, and concurrent harvests must not queue behind it.
_PG_SLOT = sa.text(
    "UPDATE searchstate SET generation = :generation WHERE id = coalesce("
    f"(SELECT id FROM searchstate WHERE id = pg_backend_pid() % {GENERATION_SLOTS} + 1 "
    "FOR UPDATE SKIP LOCKED), "
    "(SELECT id FROM searchstate ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1), 1)"
)


def _new_generation(connection: Connection) -> None:
    """Name the index's state after this change: one row gets a random number, never handed
    out twice, so a generation rolled back with its transaction never names another state
    (the exclusive or changes with any row's value). SQLite has one writer at a time."""
    if connection.dialect.name == "postgresql":
        connection.execute(_PG_SLOT, {"generation": _new_id()})
        return
    connection.execute(
        searchstate.update().where(searchstate.c.id == 1).values(generation=_new_id())
    )


def _new_id() -> int:
    """A document id never given before, even by a transaction that rolled back.

    `hub.searchcache` trusts an id to name one version of a document for ever. PostgreSQL's
    sequence never hands out a number twice; SQLite's rowid would reuse the highest one after a
    delete or a rollback, so SQLite rows take a random 62-bit id instead.
    """
    return secrets.randbits(62) + 1


def _clear(connection: Connection, ids: list[str] | None, change: searchpostings.Change) -> None:
    """Delete the search rows of these datasets (None: of all); their postings leave with
    `change`."""
    if connection.dialect.name == "sqlite":
        if ids is None:
            connection.execute(sa.text("DELETE FROM searchfts"))
            searchpostings.clear(connection)
        else:
            leaving = sa.select(searchdoc.c.id, *(searchdoc.c[p] for p in PARTS))
            for doc, *parts in connection.execute(leaving.where(searchdoc.c.dataset_id.in_(ids))):
                change.remove(doc, parts)
            connection.execute(
                sa.text(
                    "DELETE FROM searchfts WHERE rowid IN "
                    "(SELECT id FROM searchdoc WHERE dataset_id IN :ids)"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": ids},
            )
    for table in (searchdoc, searchfield):
        statement = table.delete()
        if ids is not None:
            statement = statement.where(table.c.dataset_id.in_(ids))
        connection.execute(statement)


def document(
    dataset: Any, organization: Any | None, resources: list[Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A dataset's searchdoc row and searchfield rows, from its catalogue rows."""
    keywords = list(dataset.keywords or [])
    schema_words = []
    for resource in resources:
        for field in (resource.schema_descriptor or {}).get("fields", []):
            schema_words += [str(field.get("name", "")), str(field.get("title", ""))]
    org_name = organization.name if organization is not None else ""
    # The places and taxa its rows name, for whoever may search it only when anyone may read them.
    row_names = recordnames.of(resources) if dataset.access == "open" else []
    bbox = dataset.bbox if isinstance(dataset.bbox, list) and len(dataset.bbox) == 4 else None
    doc = {
        "dataset_id": dataset.id,
        "title": wording.index_terms(f"{dataset.id} {dataset.title}"),
        "keywords": wording.index_terms(" ".join([*keywords, dataset.theme])),
        "body": wording.index_terms(
            " ".join(
                [
                    dataset.description or "",
                    dataset.organization_id,
                    org_name,
                    dataset.schema_name,
                    *schema_words,
                    *row_names,
                ]
            )
        ),
        **dict(zip(("west", "south", "east", "north"), bbox or [None] * 4, strict=True)),
    }
    formats = sorted({r.format for r in resources if r.kind != "records"} | _records(resources))
    values: dict[str, list[Any]] = {
        "id": [dataset.id],
        "name": [dataset.id],
        "title": [dataset.title],
        "organization": [dataset.organization_id],
        "owner_org": [dataset.organization_id],
        "groups": [dataset.theme],
        "theme": [dataset.theme],
        "tags": sorted(set(keywords)),
        "res_format": formats,
        "license_id": [dataset.licence_id or "notspecified"],
        "access": [dataset.access],
        "schema": [dataset.schema_name],
        "schema_version": [dataset.schema_version],
        "charter": [dataset.charter_id],
        "charter_version": [dataset.charter_version],
        "mandatory_mention": [dataset.mandatory_mention],
        "type": ["dataset"],
        "state": ["active"],
        "capacity": ["public"],
        "metadata_created": [dataset.created_at],
        "metadata_modified": [dataset.modified_at],
        "published_at": [dataset.published_at],
        "fresh_at": [freshness.data_moment(dataset.published_at, dataset.time_max)],
        "num_resources": [len(resources)],
        "num_tags": [len(set(keywords))],
        "record_count": [dataset.record_count],
        "temporal_start": [dataset.time_min],
        "temporal_end": [dataset.time_max],
        "source_url": [dataset.source_url],
        "names": sorted(set(row_names)),  # places and taxa, for "did you mean"
    }
    rows = [
        _field_row(dataset.id, name, value)
        for name, found in values.items()
        for value in found
        if value not in (None, "")
    ]
    return doc, rows


def _records(resources: list[Any]) -> set[str]:
    """A record table is served as CSV (its CKAN resource's format)."""
    return {"CSV"} if any(r.kind == "records" for r in resources) else set()


def _field_row(dataset_id: str, field: str, value: Any) -> dict[str, Any]:
    number: float | None = None
    if isinstance(value, datetime):
        moment = as_utc(value)
        number, value = moment.timestamp(), moment.replace(tzinfo=None).isoformat()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    text = str(value)[:VALUE_CHARS]
    return {
        "dataset_id": dataset_id,
        "field": field,
        "value": text,
        "folded": wording.fold(text),
        "number": number,
    }


# --- keeping the index in step ----------------------------------------------------------------


def _changed_datasets(session: OrmSession, _context: UOWTransaction) -> None:
    """After a flush: the datasets whose search rows it made stale are rewritten, in the same
    transaction, so a search never sees a dataset its catalogue row does not say."""
    touched: set[str] = set()
    organizations: set[str] = set()
    changed = [i for i in session.dirty if session.is_modified(i)]
    for instance in [*session.new, *changed, *session.deleted]:
        if isinstance(instance, Dataset):
            touched.add(instance.id)
        elif isinstance(instance, Resource):
            touched.add(instance.dataset_id)
        elif isinstance(instance, Organization) and instance not in session.new:
            organizations.add(instance.id)
    if not touched and not organizations:
        return
    connection = session.connection()
    if organizations:
        dataset_t = DATASETS
        touched |= set(
            connection.execute(
                sa.select(dataset_t.c.id).where(dataset_t.c.organization_id.in_(organizations))
            ).scalars()
        )
    refresh(connection, touched)


def install() -> None:
    """Keep the search rows in step with every session's flushes (idempotent)."""
    if not event.contains(OrmSession, "after_flush", _changed_datasets):
        event.listen(OrmSession, "after_flush", _changed_datasets)
