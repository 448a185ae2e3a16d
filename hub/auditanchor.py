"""The access log's seal and anchor: what someone who can write the database cannot forge.

The hash chain (hub.audit) finds an entry edited or removed in the middle, but whoever can write
the database can recompute the whole chain, or delete its last entries, and the chain still
holds. So each entry is also sealed with an HMAC under the hub's secret key, and the head of the
log (last id and hash, and where sealing starts) is kept outside the database, in
`HUB_DATA_DIR/audit/`, sealed too: one file per database, moved forward after every append and
never back (only `hub audit reanchor` replaces it, after a restore or a key change). `verify`
then finds a rewritten chain (the seals) and a shortened one (the anchor).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from hub.config import get_settings
from hub.keys import private_folder, secret_key
from hub.models import AccessEvent

log = logging.getLogger(__name__)

FOLDER = "audit"


class AnchorError(RuntimeError):
    """The kept head cannot be trusted: unreadable, or not sealed with the hub's key."""


@dataclass(frozen=True)
class Anchor:
    """The last entry this host saw appended to one database's log."""

    database: str
    id: int
    hash: str
    sealed_from: int | None  # the first entry sealed with the key (None: none yet)
    # Set by `hub audit reanchor` after a key change: entries before it carry a former key's
    # seals, which this key cannot check; this head, sealed with the key, holds them instead.
    keyed_from: int | None = None


def seal(kind: str, text: str) -> str:
    """HMAC-SHA256 of `text` under a key derived from the hub's secret key, per `kind`."""
    key = hmac.new(secret_key(), b"hub access log", hashlib.sha256).digest()
    return hmac.new(key, f"{kind}\n{text}".encode(), hashlib.sha256).hexdigest()


def database_of(engine: Engine) -> str:
    """Which database this is, from its settings (never from its content, which may be forged):
    a SQLite file's absolute path, else the URL without its password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite:{Path(url.database or '').resolve()}"
    return url.set(password=None).render_as_string(hide_password=False)


def path_of(engine: Engine) -> Path:
    """Where the head of this database's log is kept."""
    return _where(engine)[1]


def _where(engine: Engine) -> tuple[str, Path]:
    place = (str(engine.url), str(get_settings().data_dir))
    if place not in _places:  # resolved once: `keep` runs on every append
        database = database_of(engine)
        name = hashlib.sha256(database.encode()).hexdigest()[:16]
        _places[place] = (database, get_settings().data_dir / FOLDER / f"{name}.json")
    return _places[place]


_places: dict[tuple[str, str], tuple[str, Path]] = {}


def kept(engine: Engine) -> Anchor | None:
    """The head kept for this database, None if none; AnchorError if it cannot be trusted."""
    path = path_of(engine)
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AnchorError(f"the head kept in {path} cannot be read ({exc})") from exc
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        return _parsed(engine, path, _read(descriptor))
    finally:
        os.close(descriptor)


def keep(engine: Engine, head_id: int, head_hash: str, prev_hash: str | None = None) -> None:
    """Move the kept head forward to (head_id, head_hash) if the log still holds the head kept
    so far; `prev_hash` (the new head's link) saves reading it back when it is the next one."""
    path = path_of(engine)
    private_folder(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # a file made or copied with another mode is made private
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # one writer at a time across this host
        text = _read(descriptor)
        anchor = _parsed(engine, path, text) if text.strip() else None
        if anchor is not None and anchor.id >= head_id:
            return  # another process of this host got further
        if anchor is not None:
            held = prev_hash if anchor.id == head_id - 1 else _hash_at(engine, anchor.id)
            if held != anchor.hash:
                # Moving on would forget that entries were removed or rewritten behind it.
                log.error(
                    "the access log no longer holds entry %d as kept in %s: the head is not "
                    "moved; run `hub audit verify`",
                    anchor.id,
                    path,
                )
                return
        sealed_from = anchor.sealed_from if anchor and anchor.sealed_from else _first_sealed(engine)
        keyed_from = anchor.keyed_from if anchor else None
        _write(descriptor, Anchor(_where(engine)[0], head_id, head_hash, sealed_from, keyed_from))
    finally:
        os.close(descriptor)


def _write(descriptor: int, anchor: Anchor) -> None:
    record = json.dumps({**anchor.__dict__, "seal": seal("head", _sealed_text(anchor))})
    # Written in place at a fixed size: a rename per append costs more than the append.
    os.pwrite(descriptor, record.ljust(max(RECORD, len(record))).encode(), 0)


@dataclass(frozen=True)
class Replaced:
    """What `replace` did: the head it wrote, and where the one before it was kept aside."""

    head: Anchor
    kept_aside: Path | None


def replace(engine: Engine, head_id: int, head_hash: str, keyed_from: int | None) -> Replaced:
    """Keep (head_id, head_hash) as this database's head whatever was kept before, which is
    moved aside (never deleted: it records the head before a restore or a key change) and the
    change noted in `reanchored.log` beside it. Only `hub audit reanchor` calls it, after
    checking the chain up to that head."""
    path = path_of(engine)
    private_folder(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        old = _read(descriptor)
        aside = None
        if old.strip():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            aside = path.with_name(f"{path.stem}.replaced-{stamp}.json")
            aside.write_text(old.rstrip() + "\n", encoding="utf-8")
            aside.chmod(0o600)
        fresh = Anchor(_where(engine)[0], head_id, head_hash, _first_sealed(engine), keyed_from)
        os.ftruncate(descriptor, 0)
        _write(descriptor, fresh)
    finally:
        os.close(descriptor)
    note = {"at": datetime.now(UTC).isoformat(), "database": fresh.database, "head": head_id,
            "hash": head_hash, "keyed_from": keyed_from, "replaced": str(aside or "")}  # fmt: skip
    with open(path.with_name("reanchored.log"), "a", encoding="utf-8") as trail:
        trail.write(json.dumps(note) + "\n")
    log.warning(
        "access log of %s re-anchored at entry %d (%s); the head kept before is in %s",
        fresh.database, head_id, head_hash, aside or "no file (none was kept)",
    )  # fmt: skip
    return Replaced(fresh, aside)


def kept_unchecked(engine: Engine) -> tuple[dict[str, object], bool] | None:
    """The head kept for this database as its file says, and whether its seal holds; None if
    there is none. For showing what a reanchor replaces: never trust it for anything else."""
    path = path_of(engine)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"file": str(path)}, False
    try:
        kept(engine)
    except AnchorError:
        return data, False
    return data, True


RECORD = 4096  # bytes of a kept head, padded with spaces (JSON ignores them)


def _read(descriptor: int) -> str:
    return os.pread(descriptor, 1 << 20, 0).decode("utf-8", errors="replace")


def _parsed(engine: Engine, path: Path, text: str) -> Anchor:
    try:
        data = json.loads(text)
        anchor = Anchor(
            data["database"],
            int(data["id"]),
            data["hash"],
            data["sealed_from"],
            data.get("keyed_from"),
        )
        good = hmac.compare_digest(data["seal"], seal("head", _sealed_text(anchor)))
    except (ValueError, KeyError, TypeError) as exc:
        raise AnchorError(f"the head kept in {path} is unreadable ({exc})") from exc
    if not good or anchor.database != _where(engine)[0]:
        raise AnchorError(
            f"the head kept in {path} does not carry the hub's seal for this database: it was "
            "edited or copied, or the hub's secret key changed"
        )
    return anchor


def _sealed_text(anchor: Anchor) -> str:
    text = f"{anchor.database}\n{anchor.id}\n{anchor.hash}\n{anchor.sealed_from}"
    # Heads kept before `keyed_from` existed keep their seal.
    return text if anchor.keyed_from is None else f"{text}\n{anchor.keyed_from}"


_events = AccessEvent.__table__  # type: ignore[attr-defined]


def _hash_at(engine: Engine, entry: int) -> str | None:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(_events.c.hash).where(_events.c.id == entry)
        ).scalar_one_or_none()


def _first_sealed(engine: Engine) -> int | None:
    # Once per kept head: later moves carry it forward.
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.min(_events.c.id)).where(_events.c.mac != "")
        ).scalar_one_or_none()
