"""The charters' pages: every data-sharing charter, then each one's versions and datasets."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.responses import Response

from hub import access, charterdays, charters
from hub.api.deps import SessionDep
from hub.charters import Charter
from hub.models import Dataset, Organization
from hub.ui.pages import N_, render
from hub.ui.visitors import VisitorDep

log = logging.getLogger(__name__)

# A charter page lists at most this many datasets (a count says how many more there are).
DATASETS_SHOWN = 100

router = APIRouter(include_in_schema=False)

# The GDPR article 6(1) grounds a personal charter names, in words.
LEGAL_BASES = {
    "consent": N_("the data subject's consent (GDPR art. 6(1)(a))"),
    "contract": N_("a contract with the data subject (GDPR art. 6(1)(b))"),
    "legal-obligation": N_("a legal obligation (GDPR art. 6(1)(c))"),
    "vital-interests": N_("vital interests (GDPR art. 6(1)(d))"),
    "public-task": N_("a task in the public interest (GDPR art. 6(1)(e))"),
    "legitimate-interests": N_("legitimate interests (GDPR art. 6(1)(f))"),
}
# Where a version stands on a given day (see `standing`).
STANDINGS = {
    "in-force": N_("in force"),
    "superseded": N_("superseded by a newer version"),
    "ended": N_("ended"),
    "upcoming": N_("not yet in force"),
}


@dataclass(frozen=True)
class CharterView:
    """A charter as its pages show it: its versions, the one that applies today, or why none."""

    id: str
    versions: list[Charter]  # oldest first; empty when the files cannot be read
    current: Charter | None  # the version in force today (hub.charters), else the latest

    @property
    def broken(self) -> bool:
        """Whether the charter's files cannot be read (the hub publishes nothing under it)."""
        return self.current is None

    def standing(self, version: Charter, today: date) -> str:
        """Where a version stands today: in force, superseded, ended or not yet in force."""
        if version.valid_until is not None and version.valid_until < today:
            return "ended"
        if version.valid_from > today:
            return "upcoming"
        return "in-force" if version is self.current else "superseded"


def today() -> date:
    """Today in the territory (the day charters are checked against)."""
    return charterdays.today()


def view_of(charter_id: str, on: date) -> CharterView:
    """A charter's view; a charter whose files cannot be read has no versions (and is logged)."""
    try:
        versions = charters.charter_versions(charter_id)
    except charters.CharterError as error:
        log.warning("charter %s cannot be read: %s", charter_id, error)
        return CharterView(charter_id, [], None)
    current = (charters.in_force_among(versions, on) or versions[-1]) if versions else None
    return CharterView(charter_id, versions, current)


def charter_views(on: date) -> list[CharterView]:
    """Every charter of the charter folders, by id."""
    return [view_of(charter_id, on) for charter_id in charters.known_charters()]


def dataset_counts(session: Session) -> dict[tuple[str, str], int]:
    """How many datasets are published under each (charter, version)."""
    statement = select(Dataset.charter_id, Dataset.charter_version, func.count()).group_by(
        col(Dataset.charter_id), col(Dataset.charter_version)
    )
    return {(c, v): n for c, v, n in session.exec(statement).all()}


def organization_names(session: Session) -> dict[str, str]:
    """Every organization's name by id."""
    return dict(session.exec(select(Organization.id, Organization.name)).all())


def legal_basis(code: str) -> str:
    """A GDPR legal basis in words (its code when the hub does not know it)."""
    return LEGAL_BASES.get(code, code)


@router.get("/charters")
def render_charters(request: Request, session: SessionDep, visitor: VisitorDep) -> Response:
    """Every charter: its producer, access level, current version, validity and datasets."""
    on = today()
    counts = dataset_counts(session)
    per_charter: dict[str, int] = defaultdict(int)
    for (charter_id, _version), n in counts.items():
        per_charter[charter_id] += n
    return render(
        request,
        visitor,
        "charters.html",
        {
            "views": charter_views(on),
            "today": on,
            "dataset_counts": per_charter,
            "names": organization_names(session),
            "standings": STANDINGS,
        },
    )


@router.get("/charters/{charter_id}")
def render_charter(
    request: Request, session: SessionDep, visitor: VisitorDep, charter_id: str
) -> Response:
    """One charter: every version's terms, and the datasets published under each."""
    on = today()
    statement = (
        select(Dataset)
        .where(Dataset.charter_id == charter_id)
        .order_by(col(Dataset.title), col(Dataset.id))
        .limit(DATASETS_SHOWN)
    )
    datasets = list(session.exec(statement).all())
    version_counts = {v: n for (_c, v), n in dataset_counts_of(session, charter_id).items()}
    known = charter_id in charters.known_charters()
    if not known and not datasets:
        return render(request, visitor, "charter.html", {"missing": charter_id, "view": None}, 404)
    by_version: dict[str, list[Dataset]] = defaultdict(list)
    for dataset in datasets:
        by_version[dataset.charter_version].append(dataset)
    view = view_of(charter_id, on) if known else CharterView(charter_id, [], None)
    listed = {c.version for c in view.versions}
    return render(
        request,
        visitor,
        "charter.html",
        {
            "missing": None,
            "view": view,
            "gone": not known,  # datasets name a charter no folder holds any more
            "today": on,
            "by_version": by_version,
            # datasets checked against a version whose file is gone
            "orphans": {v: ds for v, ds in by_version.items() if v not in listed},
            "shown": len(datasets),
            "total": sum(version_counts.values()),
            "version_counts": version_counts,
            "names": organization_names(session),
            "standings": STANDINGS,
            "legal_basis": legal_basis,
            "terms_of": charters.terms_of,
            # the member list is for the parties to the charter only, as in the API
            "sees_members": lambda version: access.sees_members(version, visitor.caller.actor),
        },
    )


def dataset_counts_of(session: Session, charter_id: str) -> dict[tuple[str, str], int]:
    """How many datasets each version of one charter has."""
    statement = (
        select(Dataset.charter_id, Dataset.charter_version, func.count())
        .where(Dataset.charter_id == charter_id)
        .group_by(col(Dataset.charter_id), col(Dataset.charter_version))
    )
    return {(c, v): n for c, v, n in session.exec(statement).all()}
