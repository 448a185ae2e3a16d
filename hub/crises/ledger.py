"""A crisis's life in the access log: its declaration, each update and its close are entries of
the hash-chained log, so that an operator whose data it opens can prove to its regulator who
opened it, over which area (its SHA-256), window and cells, and whether it was changed since.

Each entry names as `producer` every operator whose crisis datasets the area touches (their
extent meets the area's bounding box, or they have none yet), so each reads it in its own log;
an area touching none is one entry with no producer, for the admin's log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import audit
from hub.access import Actor
from hub.models import Crisis, Dataset, as_utc

SCOPE = "crisis"
VERBS = ("declared", "updated", "closed")


def area_hash(crisis: Crisis) -> str:
    """The SHA-256 of the crisis's area as the hub stores it (compact JSON, keys sorted)."""
    text = json.dumps(crisis.area, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def producers(engine: Engine, crisis: Crisis) -> list[str]:
    """The organizations whose crisis datasets the crisis's area touches."""
    with Session(engine) as session:
        found = session.exec(
            select(Dataset.organization_id, Dataset.bbox).where(Dataset.access == "crisis")
        ).all()
    return sorted({organization for organization, bbox in found if _meets(bbox, crisis.bbox)})


def opens_data_of(engine: Engine, crisis: Crisis, organizations: Iterable[str]) -> bool:
    """Whether the crisis's area touches crisis data of one of these organizations."""
    wanted = set(organizations)
    return bool(wanted) and bool(wanted & set(producers(engine, crisis)))


def sees_cells(engine: Engine, actor: Actor, crisis: Crisis) -> bool:
    """Whether `actor` may see a crisis's cells and who declared it: an admin, a cell of that
    crisis (not of another), an operator whose crisis data it opens."""
    if actor.role == "admin":
        return True
    if actor.role == "crisis-cell":
        return bool(set(crisis.cells) & actor.organizations)
    return actor.role == "operator" and opens_data_of(engine, crisis, actor.organizations)


def record(
    engine: Engine,
    crisis: Crisis,
    verb: str,
    *,
    by: str,
    route: str,
    changes: str = "",
    also: Iterable[str] = (),
) -> None:
    """The entries of a crisis declared, updated or closed by `by` (a token id, or `cli`), one
    per producer its area touches (and those in `also`: an update's former producers)."""
    reason = describe(crisis, verb, changes)
    for producer in sorted(set(producers(engine, crisis)) | set(also)) or [""]:
        audit.append(
            engine,
            audit.Entry(
                actor_id=(by or "cli")[:64],
                actor_role="admin",
                organization="",
                dataset_id="*",
                producer=producer,
                outcome="granted",
                scope=SCOPE,
                route=route[:200],
                reason=reason,
            ),
        )


def describe(crisis: Crisis, verb: str, changes: str = "") -> str:
    """What an entry says of the crisis: its identity, window, cells, area and declarant."""
    exercise = " (exercise)" if getattr(crisis, "exercise", False) else ""
    window = f"{_iso(crisis.starts_at)}/{_iso(crisis.ends_at)}"
    text = (
        f"{verb} crisis {crisis.id} {crisis.name[:120]!r}{exercise}: window {window}, "
        f"cells {','.join(crisis.cells)}, area sha256:{area_hash(crisis)}, "
        f"declared by {crisis.declared_by}"
    )
    return f"{text}; changed {changes}" if changes else text


def _meets(bbox: object, other: list[float]) -> bool:
    """Whether a dataset's extent meets an area's bounding box (no extent yet: it may)."""
    if not isinstance(bbox, list) or len(bbox) != 4:
        return True
    try:
        west, south, east, north = (float(v) for v in bbox)
        a_west, a_south, a_east, a_north = (float(v) for v in other)
    except (TypeError, ValueError):
        return True
    return west <= a_east and a_west <= east and south <= a_north and a_south <= north


def _iso(moment: object) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")  # type: ignore[arg-type]
