"""A data subject's access log: every read of their rows, by whoever read them, from the
hash-chained log (hub.audit), each with what lets the subject check it.

A read names its subjects (a Merkle root over their pseudonyms, chained) or covers every
subject of the dataset (`*`, an operator's or admin's read of all rows). A subject's entries are
the granted reads of the datasets they are or were linked to that name one of their pseudonyms,
or all: removing a link hides none of the reads of rows that were theirs (hub.models.PastLink).

An entry's `rows` counts everyone's rows, so a subject sees it (and the nonce that opens its
chained commitment) only when the read named their pseudonyms alone, or when the entry predates
the commitment and chains `rows` itself; otherwise `rows_commit` is what they hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from hub import audit
from hub.models import AccessEvent, AccessSubject, ApiToken, Service
from hub.selfdata import links

HOW_TO_VERIFY = (
    "Each entry's `hash` is the SHA-256 (hex) of the canonical JSON (keys sorted, separators "
    "',' and ':', UTF-8) of its fields id, at (ISO 8601 with microseconds and +00:00), actor_id, "
    "actor_role, organization, dataset_id, producer, outcome, scope, purpose, rows, route, "
    "reason, prev_hash, and subjects when it is not empty; when `rows_commit` is not empty, the "
    "field rows_commit takes the place of rows. rows_commit is the SHA-256 of 'rows\\n' + "
    "rows_nonce + '\\n' + rows as JSON (null when not counted): it chains the rows a read sent, "
    "everyone's, which you are shown (with `rows_nonce`, to check the commitment) only when the "
    "read named your rows alone; entries written before it chain rows itself, shown "
    "to you. `prev_hash` is the hash of the entry "
    "before it, so the entry is part of one chain up to `head`; keep the head you saw and ask "
    "again later: entries are never edited or removed, and `hub audit verify` checks the whole "
    "chain. The hub also seals each entry with an HMAC under its secret key, and keeps the head "
    "outside the database, so that whoever can write the database can neither recompute the "
    "chain nor cut its end without `hub audit verify` finding out; you cannot check that seal "
    "yourself, only the hash and the proof below. When `subjects` is `*`, the read covered "
    "every row of the dataset. Otherwise it is "
    "a Merkle root: start from leaf = SHA-256 of 'leaf\\n' + prev_hash + '\\n' + your pseudonym, "
    "then for each hash h of `proof`, node = SHA-256 of 'node\\n' + the two hex digests in "
    "sorted order concatenated; the last node must equal `subjects`. When the read counted your "
    "rows (`covered[].rows` is a number), the leaf is SHA-256 of 'leaf\\n' + prev_hash + '\\n' + "
    "your pseudonym + '\\n' + that number, so the count is chained too. A download or a feed "
    "stream logs a second entry when it ends, with the rows it sent."
)


@dataclass(frozen=True)
class Covered:
    """One of the subject's pseudonyms a read named: how many of its rows it took (None: not
    counted), and its Merkle proof under the entry's `subjects`."""

    pseudonym: str
    rows: int | None
    proof: list[str]


@dataclass(frozen=True)
class Seen:
    """One read of the subject's rows, and how it covered them."""

    event: AccessEvent
    who: str
    covered: list[Covered]  # each of the subject's pseudonyms it named; none: every subject
    only_yours: bool = False  # it named the subject's pseudonyms and nobody else's

    @property
    def pseudonym(self) -> str | None:
        """The first of the subject's pseudonyms it named (None: every subject)."""
        return self.covered[0].pseudonym if self.covered else None

    @property
    def proof(self) -> list[str] | None:
        """That pseudonym's Merkle proof."""
        return self.covered[0].proof if self.covered else None

    @property
    def rows(self) -> int | None:
        """How many of the subject's rows the read took, when it counted them."""
        counted = [c.rows for c in self.covered if c.rows is not None]
        return sum(counted) if counted else None

    @property
    def shows_rows(self) -> bool:
        """Whether the subject sees the read's `rows`: when it took none but theirs, or when the
        entry chains it itself (written before the commitment)."""
        return self.only_yours or not self.event.rows_commit

    @property
    def total(self) -> int | None:
        """The rows the read sent, as the subject sees them (None: not counted, or hidden)."""
        return self.event.rows if self.shows_rows else None

    @property
    def nonce(self) -> str:
        """The nonce of the rows' commitment, as the subject sees it ("": hidden or none): with
        it, a count is found by hashing each number until one matches."""
        return self.event.rows_nonce if self.shows_rows else ""


def entries(
    session: Session,
    account: str,
    after: int = 0,
    limit: int = 100,
    *,
    before: int | None = None,
    newest_first: bool = False,
    others_only: bool = False,
) -> list[Seen]:
    """The reads of the account's (once) linked rows with ids in (after, before), in chain order or
    newest first; only those by someone else than the account with `others_only`."""
    held = links.ever_held(session, account)
    excluding = own_tokens(session, account) if others_only else None
    found = audit.covering(
        session,
        held,
        after=after,
        before=before,
        limit=limit,
        newest_first=newest_first,
        excluding=excluding,
    )
    return seen_as(session, account, held, found)


def count(session: Session, account: str, *, others_only: bool = False) -> int:
    """How many reads of the account's linked rows there are (by others only, if asked)."""
    held = links.ever_held(session, account)
    excluding = own_tokens(session, account) if others_only else None
    return audit.count_covering(session, held, excluding=excluding)


def own_tokens(session: Session, account: str) -> set[str]:
    """The ids of the tokens that speak for the account: its own reads."""
    return set(session.exec(select(ApiToken.id).where(ApiToken.account == account)).all())


def seen_as(
    session: Session, account: str, held: dict[str, set[str]], found: list[AccessEvent]
) -> list[Seen]:
    """Log entries as the account sees them: who read, and the proof of its pseudonym."""
    names = _names(session, found)
    counts = _counts(session, found)
    seen = []
    for event in found:
        listed = audit.listed_subjects(event)
        counted = counts.get(event.id or 0, {})
        mine = sorted(held.get(event.dataset_id, set()) & set(listed))
        covered = [
            Covered(p, counted.get(p), audit.subjects_proof(event.prev_hash, listed, p, counted))
            for p in (mine if event.subjects != audit.EVERY_SUBJECT else [])
        ]
        only_yours = bool(listed) and len(mine) == len(set(listed))
        seen.append(Seen(event, _who(event, account, names), covered, only_yours))
    return seen


def _counts(session: Session, found: list[AccessEvent]) -> dict[int, dict[str, int]]:
    """The rows each entry took of each subject it named, where it counted them."""
    ids = [e.id for e in found if e.subject_list]
    if not ids:
        return {}
    rows = session.exec(
        select(AccessSubject.event_id, AccessSubject.pseudonym, AccessSubject.rows).where(
            col(AccessSubject.event_id).in_(ids), col(AccessSubject.rows).is_not(None)
        )
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for event_id, pseudonym, taken in rows:
        counts.setdefault(event_id, {})[pseudonym] = taken or 0
    return counts


def _names(session: Session, found: list[AccessEvent]) -> dict[str, tuple[str, str]]:
    """The account or service behind each token that read: token id -> (account, service)."""
    ids = sorted({e.actor_id for e in found if e.actor_role in ("subject", "service")})
    if not ids:
        return {}
    rows = session.exec(
        select(ApiToken.id, ApiToken.account, ApiToken.service_id, Service.name)
        .join(Service, col(Service.id) == col(ApiToken.service_id), isouter=True)
        .where(col(ApiToken.id).in_(ids))
    ).all()
    return {
        token: (account or token, f"{name} ({service})" if name else (service or ""))
        for token, account, service, name in rows
    }


def _who(event: AccessEvent, account: str, names: dict[str, tuple[str, str]]) -> str:
    """Who read, in words the subject understands."""
    behind = names.get(event.actor_id, ("", ""))
    if event.actor_role == "subject":
        return "you" if behind[0] == account else "another account linked to the same rows"
    if event.actor_role == "service":
        return f"service {behind[1] or event.actor_id}"
    if event.actor_role == "operator":
        return f"an operator of {event.organization or event.producer}"
    if event.actor_role == "admin":
        return "a hub administrator"
    return f"a {event.actor_role} token" + (
        f" of {event.organization}" if event.organization else ""
    )
