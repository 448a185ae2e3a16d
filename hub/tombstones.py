"""Tombstones: the datasets a portal stopped listing, kept after their withdrawal.

A withdrawn dataset leaves the catalogue, so the filters that tell harvesters what changed since
a time (metadata_modified, modified_since, updated_since) cannot list it. Its tombstone can: CKAN
keeps a deleted package as `state: deleted` for the same reason. A dataset listed again loses its
tombstone. Only what the catalogue listed of it stays (id, title, organization, theme), which
is listed to everyone whatever its charter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from hub.models import Dataset, WithdrawnDataset, utcnow


def bury(session: Session, dataset: Dataset, source_id: str, run_id: int | None) -> dict[str, Any]:
    """Keep a tombstone of a dataset about to be withdrawn; its `dataset` event for the feed."""
    tombstone = session.get(WithdrawnDataset, dataset.id) or WithdrawnDataset(
        id=dataset.id, title=dataset.title, organization_id=dataset.organization_id, theme=""
    )
    tombstone.title, tombstone.theme = dataset.title, dataset.theme
    tombstone.organization_id, tombstone.source_id = dataset.organization_id, source_id
    tombstone.run_id, tombstone.withdrawn_at = run_id, utcnow()
    session.add(tombstone)
    payload = {
        "dataset": dataset.id,
        "theme": dataset.theme,
        "run": run_id,
        "withdrawn": True,
        "time": tombstone.withdrawn_at.isoformat(),
        "geometry": None,
    }
    return {
        "kind": "dataset",
        "dataset_id": dataset.id,
        "theme": dataset.theme,
        "access": dataset.access,
        "payload": payload,
    }


def revive(session: Session, dataset_id: str) -> None:
    """A dataset published again is no longer withdrawn."""
    session.execute(sa.delete(WithdrawnDataset).where(col(WithdrawnDataset.id) == dataset_id))


def forget_old(session: Session, before: datetime) -> int:
    """Delete the tombstones of datasets withdrawn before `before`: a harvester that has not
    come back for that long compares whole listings again, as a CKAN harvester always does."""
    old = col(WithdrawnDataset.withdrawn_at) < before
    count = session.exec(select(sa.func.count()).select_from(WithdrawnDataset).where(old)).one()
    if count:
        session.execute(sa.delete(WithdrawnDataset).where(old))
    session.commit()
    return int(count)


def since(
    session: Session, moment: datetime | None, limit: int, offset: int
) -> tuple[int, list[WithdrawnDataset]]:
    """How many datasets were withdrawn at or after `moment` (ever, for None), and a page of
    them, oldest first (a harvester keeps the time of the last it saw)."""
    where = [] if moment is None else [col(WithdrawnDataset.withdrawn_at) >= moment]
    total = session.exec(select(sa.func.count()).select_from(WithdrawnDataset).where(*where)).one()
    page = (
        select(WithdrawnDataset)
        .where(*where)
        .order_by(col(WithdrawnDataset.withdrawn_at), col(WithdrawnDataset.id))
        .offset(offset)
        .limit(limit)
    )
    return int(total), list(session.exec(page).all())
