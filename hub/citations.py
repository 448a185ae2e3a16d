"""How to cite a dataset: its version (the last run that changed its data) and a copy-ready
attribution line meeting its licence's terms.

Licence Ouverte 2.0 asks a reuse to name the source and the date of its last update; CC BY 4.0
the licence with its link and a link to the material. The line gives all of them: producer,
title, licence and its URL, last update, version and the dataset's page. The hub upserts rows
(a corrected value replaces the old one) and keeps no snapshot per run, so the version says
which run last changed the data; it does not fetch the data as they were then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from hub import withdrawal
from hub.models import Dataset, HarvestRun, Organization, as_utc


@dataclass(frozen=True)
class Version:
    """The run that last changed a dataset's data, and when it did."""

    run_id: int
    updated: date

    @property
    def label(self) -> str:
        """As DCAT's dcat:version, CKAN's and the data package's `version` give it."""
        return str(self.run_id)


def version_of(session: Session, dataset_id: str) -> Version | None:
    """The dataset's version; None if no run changed its data (see `versions_of`)."""
    return versions_of(session, [dataset_id]).get(dataset_id)


def versions_of(session: Session, dataset_ids: list[str]) -> dict[str, Version]:
    """Each dataset's last run that published, updated or withdrew rows (or a grid), in one
    query; a dataset no run changed (a portal's listing, one not yet filled) has none."""
    if not dataset_ids:
        return {}
    changed = sa.or_(
        col(HarvestRun.rows_published) > 0,
        col(HarvestRun.rows_updated) > 0,
        col(HarvestRun.error).startswith(withdrawal.NOTE),
    )
    last = (
        select(sa.func.max(HarvestRun.id))
        .where(
            col(HarvestRun.dataset_id).in_(dataset_ids),
            col(HarvestRun.status).in_(("succeeded", "partial")),
            changed,
        )
        .group_by(col(HarvestRun.dataset_id))
    )
    runs = session.exec(select(HarvestRun).where(col(HarvestRun.id).in_(last))).all()
    return {
        run.dataset_id: Version(run.id, as_utc(run.finished_at or run.started_at).date())
        for run in runs
        if run.id is not None
    }


@dataclass(frozen=True)
class Citation:
    """What an attribution line names, for any language to word."""

    producer: str
    title: str
    licence: str  # its title, and its URL in brackets when it has one
    updated: date
    version: str  # "" when no run changed data (a portal's listing)
    link: str  # the dataset's page


def citation_of(
    dataset: Dataset, organization: Organization | None, version: Version | None, base: str
) -> Citation:
    """The parts of the dataset's attribution line."""
    licence = dataset.licence_title or dataset.licence_id or "licence not stated"
    if dataset.licence_url and dataset.licence_id != "notspecified":
        # a licence not stated has no licence to link to (its URL is the producer's terms page,
        # which grants nothing: hub.licences)
        licence = f"{licence} ({dataset.licence_url})"
    updated: datetime | date = version.updated if version else as_utc(dataset.modified_at)
    return Citation(
        producer=organization.name if organization else dataset.organization_id,
        title=dataset.title,
        licence=licence,
        updated=updated.date() if isinstance(updated, datetime) else updated,
        version=version.label if version else "",
        link=f"{base}datasets/{dataset.id}",
    )


def attribution(citation: Citation) -> str:
    """The attribution line in English (REST, CKAN, DCAT; the page words it in its language)."""
    version = f", version {citation.version}" if citation.version else ""
    return (
        f"{citation.producer}, “{citation.title}”, {citation.licence}, last updated "
        f"{citation.updated.isoformat()}{version}, {citation.link}"
    )
