"""What a DCAT document describes, loaded in a few queries whatever the catalogue's size."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from hub.citations import Version, versions_of
from hub.models import Dataset, Organization, Resource


@dataclass(frozen=True)
class Entry:
    """A dataset with its organization and resources (in their order)."""

    dataset: Dataset
    organization: Organization | None
    resources: list[Resource]
    schedule: str | None = None  # the cron schedule of the source that publishes it
    version: Version | None = None  # the last run that changed its data


@dataclass(frozen=True)
class Page:
    """One page of the catalogue: its entries, and how many datasets all pages hold."""

    entries: list[Entry]
    total: int
    modified: datetime | None  # the latest change to any dataset (of all pages)


def load_page(session: Session, number: int, size: int, since: datetime | None = None) -> Page:
    """Page `number` (from 1) of the datasets by id, modified at or after `since` if given."""
    where = [] if since is None else [col(Dataset.modified_at) >= since]
    total, modified = session.exec(
        select(sa.func.count(), sa.func.max(Dataset.modified_at)).select_from(Dataset).where(*where)
    ).one()
    start = (number - 1) * size
    if start >= total:  # past the end: nothing to read (the route answers 404)
        return Page([], int(total), modified)
    statement = select(Dataset).where(*where).order_by(col(Dataset.id)).offset(start)
    datasets = list(session.exec(statement.limit(size)).all())
    return Page(entries(session, datasets), int(total), modified)


def load_entry(session: Session, dataset: Dataset) -> Entry:
    """One dataset's entry."""
    (entry,) = entries(session, [dataset])
    return entry


def entries(session: Session, datasets: list[Dataset]) -> list[Entry]:
    """The datasets with their organizations, resources and versions: three queries for all."""
    if not datasets:
        return []
    ids = [d.id for d in datasets]
    organization_ids = sorted({d.organization_id for d in datasets})
    organizations = {
        o.id: o
        for o in session.exec(
            select(Organization).where(col(Organization.id).in_(organization_ids))
        ).all()
    }
    resources: dict[str, list[Resource]] = defaultdict(list)
    listed = select(Resource).where(col(Resource.dataset_id).in_(ids))
    for resource in session.exec(listed.order_by(col(Resource.position), col(Resource.id))):
        resources[resource.dataset_id].append(resource)
    schedules = source_schedules()
    versions = versions_of(session, ids)
    return [
        Entry(
            d,
            organizations.get(d.organization_id),
            resources.get(d.id, []),
            schedule_of(d, schedules),
            versions.get(d.id),
        )
        for d in datasets
    ]


def source_schedules() -> dict[str, tuple[str, str]]:
    """The operator and schedule of every enabled source file that has one, by the dataset it
    publishes to (a portal's listing: by its id, the prefix of its datasets' ids)."""
    from hub.sourcefiles import all_sources, dataset_of  # read once per change of a file

    sources, _ = all_sources()
    return {dataset_of(s): (s.operator.id, s.schedule) for s in sources if s.enabled and s.schedule}


def schedule_of(dataset: Dataset, schedules: dict[str, tuple[str, str]]) -> str | None:
    """The schedule of the operator's source that publishes a dataset, if one has any."""
    found = schedules.get(dataset.id) or schedules.get(dataset.id.split("--", 1)[0])
    return found[1] if found and found[0] == dataset.organization_id else None
