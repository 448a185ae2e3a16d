"""The access log: append-only, each entry chained to the one before by its hash.

Entry N stores the hash of entry N-1 and its own hash over its fields and that link, so editing,
removing or inserting an entry breaks the chain from there on; `verify` names the first break.
The database also refuses UPDATE and DELETE on the table (triggers in migration 0002). Whoever
can lift that guard could recompute the chain, or cut its end: so each entry is also sealed with
the hub's secret key, and the head is kept outside the database (hub.auditanchor).

A read of personal rows also says whose rows it covered, so that each data subject finds every
read of theirs: `*` for a read of every row (each subject of the dataset counts it), else the
root of a Merkle tree over the pseudonyms of its grant, salted with the entry's `prev_hash`. The
root is chained; the pseudonyms are kept beside it. When the read counted each subject's rows, a
leaf holds the count too, so each subject learns (and can check) how many of their own rows it
took, and nobody else's. A subject checks their entry with its fields and a proof of their
pseudonym's place under the root, without seeing anyone else's.

`rows` counts everyone's rows, so it is chained through a salted commitment: each entry keeps a
random `rows_nonce` (not chained) and chains `rows_commit` = SHA-256 of it and `rows`. A subject
hashes the commitment without learning the others' rows; `verify`, which sees rows and nonce,
checks it. Entries from before the commitment (migration 0021) chain `rows` itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session, col, select

from hub import auditanchor
from hub.models import AccessEvent, AccessSubject, as_utc, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64
EVERY_SUBJECT = "*"
CHAINED = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "organization",
    "dataset_id",
    "producer",
    "outcome",
    "scope",
    "purpose",
    "rows",
    "route",
    "reason",
    "prev_hash",
)
ATTEMPTS = 50
UNAVAILABLE = "the access log cannot be written just now, so the read was not served: retry later"
_appending = threading.Lock()  # one appender per process; the unique prev_hash orders processes


class AuditUnavailable(RuntimeError):
    """The access log could not be written: the read it would record must not happen."""


@dataclass(frozen=True)
class Entry:
    """What one read (or refused read) leaves in the log."""

    actor_id: str
    actor_role: str
    organization: str
    dataset_id: str
    producer: str
    outcome: str  # granted | denied
    scope: str
    route: str
    reason: str = ""
    purpose: str = ""
    rows: int | None = None
    subjects: tuple[str, ...] = ()  # the pseudonyms whose rows a read of personal data covered
    every_subject: bool = False  # a read of every row of a personal dataset
    # rows the read took of each subject it named (pseudonym -> rows); empty: not counted
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Written:
    """Where an entry landed in the chain."""

    id: int
    hash: str
    prev_hash: str


@dataclass(frozen=True)
class Verification:
    """The outcome of `verify`: how many entries hold, and the first that does not."""

    checked: int
    head: str
    broken_at: int | None = None
    problem: str = ""
    sealed_from: int | None = None  # the first entry sealed with the hub's key
    anchored: int | None = None  # the id of the kept head found in the chain (None: none kept)
    anchor: str = ""  # where the head is kept
    keyed_from: int | None = None  # entries before it carry a former key's seals

    @property
    def intact(self) -> bool:
        """Whether every entry is where and as it was written (an empty log is not)."""
        return self.broken_at is None and self.checked > 0


def fingerprint(fields: dict[str, Any]) -> str:
    """The SHA-256 of an entry's chained fields in a canonical JSON form."""
    values = {name: fields[name] for name in CHAINED}
    if fields.get("rows_commit"):  # entries from before it chain their rows themselves
        del values["rows"]
        values["rows_commit"] = fields["rows_commit"]
    if fields.get("subjects"):  # entries from before it hash as they did
        values["subjects"] = fields["subjects"]
    values["at"] = as_utc(values["at"]).isoformat(timespec="microseconds")
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def rows_commitment(nonce: str, rows: int | None) -> str:
    """The SHA-256 of 'rows\n' + nonce + '\n' + rows as JSON (`null`: not counted)."""
    return hashlib.sha256(f"rows\n{nonce}\n{json.dumps(rows)}".encode()).hexdigest()


def append(engine: Engine, entry: Entry) -> Written:
    """Add an entry after the current head; AuditUnavailable if that keeps failing."""
    with _appending:
        for attempt in range(ATTEMPTS):
            try:
                return _append_once(engine, entry)
            except (IntegrityError, OperationalError) as exc:
                if not _contended(exc):
                    log.exception("access log unavailable")
                    raise AuditUnavailable(UNAVAILABLE) from exc
                # Another process appended after the head we read (or held the write lock).
                log.debug("access log append retried (%s)", type(exc).__name__)
                time.sleep(min(0.002 * (attempt + 1), 0.05))
            except SQLAlchemyError as exc:
                log.exception("access log unavailable")
                raise AuditUnavailable(UNAVAILABLE) from exc
    log.error("access log append gave up after %d attempts", ATTEMPTS)
    raise AuditUnavailable(UNAVAILABLE)


def _contended(exc: Exception) -> bool:
    """Whether an append lost a race (another head, a held lock) rather than hit a fault."""
    text = str(exc).lower()
    return isinstance(exc, IntegrityError) or "locked" in text or "busy" in text


def _append_once(engine: Engine, entry: Entry) -> Written:
    table = AccessEvent.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        # The head this process wrote last saves a read; if another process appended since,
        # the insert collides on the id or prev_hash, and the retry reads the real head.
        head = (
            _heads.get(engine.url)
            or connection.execute(
                sa.select(table.c.id, table.c.hash).order_by(table.c.id.desc()).limit(1)
            ).first()
        )
        listed = sorted(set(entry.subjects))
        fields: dict[str, Any] = {
            **{
                k: v
                for k, v in entry.__dict__.items()
                if k not in ("subjects", "every_subject", "counts")
            },
            "at": utcnow(),
            "id": head[0] + 1 if head else 1,
            "prev_hash": head[1] if head else GENESIS,
            "subject_list": f" {' '.join(listed)} " if listed else "",
            # random, so that nobody can find the rows by hashing each count with it
            "rows_nonce": secrets.token_hex(16),
        }
        fields["rows_commit"] = rows_commitment(fields["rows_nonce"], entry.rows)
        fields["subjects"] = (
            EVERY_SUBJECT
            if entry.every_subject
            else subjects_root(fields["prev_hash"], listed, entry.counts)
            if listed
            else ""
        )
        fields["hash"] = fingerprint(fields)
        fields["mac"] = auditanchor.seal("entry", fields["hash"])
        try:
            # Parameters apart from the statement: it is compiled once, not once per read.
            connection.execute(_INSERT, fields)
            if listed and fields["subjects"] != EVERY_SUBJECT:
                connection.execute(
                    _INDEX,
                    [
                        {
                            "pseudonym": p,
                            "dataset_id": entry.dataset_id,
                            "event_id": fields["id"],
                            "rows": entry.counts.get(p),
                        }
                        for p in listed
                    ],
                )
        except Exception:
            _heads.pop(engine.url, None)
            raise
    _heads[engine.url] = (fields["id"], fields["hash"])
    try:
        auditanchor.keep(engine, fields["id"], fields["hash"], fields["prev_hash"])
    except (OSError, auditanchor.AnchorError):
        # The entry is written; the kept head lags behind it, and `verify` says why.
        log.exception("the access log's head could not be kept outside the database")
    return Written(fields["id"], fields["hash"], fields["prev_hash"])


_INSERT = sa.insert(AccessEvent.__table__)  # type: ignore[attr-defined]
_INDEX = sa.insert(AccessSubject.__table__)  # type: ignore[attr-defined]
_heads: dict[Any, tuple[int, str]] = {}


def verify(
    engine: Engine,
    given: tuple[int, str] | None = None,
    batch: int = 5000,
    *,
    anchored: bool = True,
    former_key: bool = False,
) -> Verification:
    """Walk the chain from the first entry; report the first altered, missing, added or unsealed
    one, and a log that ends before the head kept outside the database (or `given`).

    `anchored=False` ignores the kept head (`hub audit reanchor` checks the chain before
    replacing it); `former_key` lets the entries before the first one sealed with the current
    key carry seals it cannot check (after a key change), which `keyed_from` then reports."""
    where = str(auditanchor.path_of(engine))
    try:
        anchor = auditanchor.kept(engine) if anchored else None
    except auditanchor.AnchorError as exc:
        return Verification(0, GENESIS, 0, str(exc), anchor=where)
    heads = {anchor.id: ("the head kept in " + where, anchor.hash)} if anchor else {}
    if given:
        heads[given[0]] = ("the head you gave", given[1])
    # Sealing starts where the kept head says, else at the first sealed entry found.
    must_seal = anchor.sealed_from if anchor else None
    # Seals before `keyed_from` are a former key's: the kept head (this key's) holds them.
    keyed_from = anchor.keyed_from if anchor else None
    previous_id, previous_hash, checked, sealed_from = 0, GENESIS, 0, None
    for event in _walk(engine, batch):
        if former_key and keyed_from is None and _sealed_here(event):
            keyed_from = event.id
        former = (former_key and keyed_from is None) or (event.id or 0) < (keyed_from or 0)
        problem = _problem(
            event, previous_id, previous_hash, sealed_from or must_seal, heads, not former
        )
        if problem:
            return Verification(
                checked, previous_hash, previous_id + 1, problem, sealed_from, None, where
            )
        sealed_from = sealed_from or (event.id if event.mac else None)
        previous_id, previous_hash, checked = event.id or 0, event.hash, checked + 1
    if former_key and keyed_from is None:
        keyed_from = previous_id + 1  # no entry sealed with this key yet
    ahead = [(n, label) for n, (label, _) in heads.items() if n > previous_id]
    if ahead:
        last, label = max(ahead)
        return Verification(
            checked,
            previous_hash,
            previous_id + 1,
            f"the log ends at entry {previous_id} but {label} is entry {last}: entries "
            f"{previous_id + 1} to {last} were removed, or this is not the database they "
            "were written to",
            sealed_from,
            None,
            where,
        )
    return Verification(
        checked,
        previous_hash,
        None,
        "",
        sealed_from,
        anchor.id if anchor else None,
        where,
        keyed_from,
    )


def _sealed_here(event: AccessEvent) -> bool:
    """Whether an entry carries the seal of the current key."""
    return bool(event.mac) and hmac.compare_digest(event.mac, auditanchor.seal("entry", event.hash))


def _problem(
    event: AccessEvent,
    previous_id: int,
    previous_hash: str,
    must_seal: int | None,
    heads: dict[int, tuple[str, str]],
    check_seal: bool = True,
) -> str:
    """What is wrong with one entry, given the one before it ("" if nothing)."""
    if event.id != previous_id + 1:
        return f"entry {previous_id + 1} is missing (next is {event.id})"
    if event.prev_hash != previous_hash:
        return (
            f"entry {event.id} does not follow entry {previous_id}: one of "
            "them was altered, removed or inserted"
        )
    if fingerprint(event.model_dump()) != event.hash or not _rows_committed(event):
        return f"entry {event.id} was altered after it was written"
    if check_seal and event.mac and not _sealed_here(event):
        return (
            f"entry {event.id} does not carry the hub's seal: it was written or rewritten "
            "without the hub's secret key (or the key changed)"
        )
    if not event.mac and must_seal is not None and (event.id or 0) >= must_seal:
        return (
            f"entry {event.id} is not sealed, though the log is sealed from entry {must_seal}: "
            "it was written or rewritten without the hub's secret key"
        )
    label, expected = heads.get(event.id or 0, ("", event.hash))
    if event.hash != expected:
        return f"entry {event.id} is not the one {label} names: the chain was rewritten up to it"
    return ""


def _rows_committed(event: AccessEvent) -> bool:
    """Whether an entry's rows and nonce are those its chained commitment names."""
    if not event.rows_commit:  # from before the commitment: its hash holds the rows
        return True
    found = rows_commitment(event.rows_nonce, event.rows)
    return hmac.compare_digest(found, event.rows_commit)


def _walk(engine: Engine, batch: int) -> Iterator[AccessEvent]:
    after = 0
    while True:
        with Session(engine) as session:
            page = session.exec(
                select(AccessEvent)
                .where(col(AccessEvent.id) > after)
                .order_by(col(AccessEvent.id))
                .limit(batch)
            ).all()
        if not page:
            return
        yield from page
        after = page[-1].id or 0


def entries(
    session: Session,
    *,
    producers: set[str] | None = None,
    dataset: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[AccessEvent]:
    """Entries in id order, of some producers' datasets (None: all), filtered."""
    statement = select(AccessEvent).where(col(AccessEvent.id) > after)
    if producers is not None:
        statement = statement.where(col(AccessEvent.producer).in_(sorted(producers)))
    if dataset:
        statement = statement.where(AccessEvent.dataset_id == dataset)
    if start is not None:
        statement = statement.where(col(AccessEvent.at) >= start)
    if end is not None:
        statement = statement.where(col(AccessEvent.at) < end)
    return list(session.exec(statement.order_by(col(AccessEvent.id)).limit(limit)).all())


def subjects_root(salt: str, pseudonyms: list[str], counts: Mapping[str, int] | None = None) -> str:
    """The Merkle root over `pseudonyms` (with the rows of each in `counts`, when counted), each
    leaf salted with `salt` (the entry's prev_hash, so that the same subject's leaves cannot be
    matched across entries)."""
    level = sorted(_leaf(salt, p, (counts or {}).get(p)) for p in set(pseudonyms))
    while len(level) > 1:
        level = _up(level)
    return level[0]


def subjects_proof(
    salt: str, pseudonyms: list[str], pseudonym: str, counts: Mapping[str, int] | None = None
) -> list[str]:
    """The sibling hashes from `pseudonym`'s leaf up to the root (see `includes`)."""
    counted = counts or {}
    level = sorted(_leaf(salt, p, counted.get(p)) for p in set(pseudonyms))
    mine = _leaf(salt, pseudonym, counted.get(pseudonym))
    if mine not in level:
        raise ValueError("that pseudonym is not among the entry's subjects")
    proof = []
    while len(level) > 1:
        position = level.index(mine)
        sibling = position ^ 1  # its pair's other half; none for the odd one out
        if sibling < len(level):
            proof.append(level[sibling])
            mine = _node(mine, level[sibling])
        level = _up(level)
    return proof


def includes(
    root: str, salt: str, pseudonym: str, proof: list[str], rows: int | None = None
) -> bool:
    """Whether `proof` places `pseudonym` (with `rows` of theirs, when the read counted them)
    under `root`: what a subject checks of their entry."""
    digest = _leaf(salt, pseudonym, rows)
    for sibling in proof:
        digest = _node(digest, sibling)
    return digest == root


def _leaf(salt: str, pseudonym: str, rows: int | None = None) -> str:
    counted = "" if rows is None else f"\n{rows}"  # entries that counted no rows hash as before
    return hashlib.sha256(f"leaf\n{salt}\n{pseudonym}{counted}".encode()).hexdigest()


def _node(left: str, right: str) -> str:
    # Each pair hashed in sorted order, so a proof needs no left/right flags.
    low, high = sorted((left, right))
    return hashlib.sha256(f"node\n{low}{high}".encode()).hexdigest()


def _up(level: list[str]) -> list[str]:
    """The next level of the tree: pairs hashed together, an odd last one carried up."""
    pairs = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    return pairs + level[len(pairs) * 2 :]


def listed_subjects(event: AccessEvent) -> list[str]:
    """The pseudonyms an entry's read covered (none for `*`: every subject of its dataset)."""
    return event.subject_list.split()


def covering(
    session: Session,
    held: dict[str, set[str]],
    *,
    after: int = 0,
    before: int | None = None,
    limit: int = 100,
    newest_first: bool = False,
    excluding: set[str] | None = None,
) -> list[AccessEvent]:
    """Reads that covered the rows of a subject who holds the pseudonyms `held[dataset]`:
    those naming one of them, and those of every row of the dataset; ids in (after, before),
    oldest or newest first, leaving out reads by the tokens `excluding`."""
    ids = _covering_ids(held, excluding)
    if ids is None:
        return []
    statement = select(AccessEvent).where(col(AccessEvent.id).in_(ids), col(AccessEvent.id) > after)
    if before is not None:
        statement = statement.where(col(AccessEvent.id) < before)
    order = col(AccessEvent.id).desc() if newest_first else col(AccessEvent.id)
    return list(session.exec(statement.order_by(order).limit(limit)).all())


def count_covering(
    session: Session, held: dict[str, set[str]], *, excluding: set[str] | None = None
) -> int:
    """How many reads `covering` finds in all."""
    ids = _covering_ids(held, excluding)
    if ids is None:
        return 0
    return session.exec(select(sa.func.count()).select_from(ids.subquery())).one()


def _covering_ids(
    held: dict[str, set[str]], excluding: set[str] | None
) -> sa.CompoundSelect | None:
    """The ids of the granted reads covering the held pseudonyms (found through the subject
    index and the (dataset, subjects) index, never by scanning the log); None: nothing held."""
    if not held:
        return None
    index = AccessSubject.__table__  # type: ignore[attr-defined]
    events = AccessEvent.__table__  # type: ignore[attr-defined]
    named = sa.select(index.c.event_id).where(
        sa.or_(
            *(
                sa.and_(index.c.dataset_id == dataset, index.c.pseudonym.in_(sorted(pseudonyms)))
                for dataset, pseudonyms in sorted(held.items())
            )
        )
    )
    whole = sa.select(events.c.id).where(
        events.c.dataset_id.in_(sorted(held)),
        events.c.subjects == EVERY_SUBJECT,
        events.c.outcome == "granted",
    )
    if excluding:
        # named entries are reads of granted personal rows only (hub.reading.record)
        mine = sa.select(events.c.id).where(events.c.actor_id.in_(sorted(excluding)))
        named = named.where(index.c.event_id.not_in(mine))
        whole = whole.where(events.c.actor_id.not_in(sorted(excluding)))
    return sa.union(named, whole)


def head(session: Session) -> tuple[int, str]:
    """The chain's last entry: its id and hash (0 and GENESIS for an empty log)."""
    found = session.exec(
        select(AccessEvent.id, AccessEvent.hash).order_by(col(AccessEvent.id).desc()).limit(1)
    ).first()
    return (found[0] or 0, found[1]) if found else (0, GENESIS)
