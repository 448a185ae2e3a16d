"""The operator's dashboard: its sources, their runs and failures, quarantine, downloads and
whether each source keeps to its schedule.

Every query is bounded: the feeds are paged (most operators have one page), and the runs,
failures and downloads of a page's feeds are read through the (dataset, time) indexes of the
runs and of the access log, capped or counted in the database; so an operator with thousands of
datasets and long run histories gets its page about as fast as a small one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy as sa
from cronsim import CronSim, CronSimError
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlmodel import Session, col, select
from starlette.responses import Response

from hub import access, reading
from hub.api.datasets import quarantine_csv
from hub.api.deps import SessionDep
from hub.api.records import field_names
from hub.api.shapes import freshness_of
from hub.models import AccessEvent, Dataset, HarvestRun, Organization, as_utc
from hub.sourcefiles import all_sources, dataset_of
from hub.ui.pages import N_, RUN_STATUSES, redirect, render
from hub.ui.visitors import Visitor, VisitorDep

if TYPE_CHECKING:
    from pipelines.sources import Source

log = logging.getLogger(__name__)

FEEDS_PAGE = 25
RUNS_SHOWN = 5
FAILURES_SHOWN = 20
WINDOW = timedelta(days=30)  # failures and downloads of the last 30 days
SUCCESS = ("succeeded", "partial")  # a partial run published its valid rows
FAILURE = ("failed", "refused")
GRACE = timedelta(hours=1)  # how long a scheduled run may take before its source counts late
SKEW = timedelta(minutes=1)  # a run may start a little before its scheduled time
# Kinds of readers, in the order the downloads table shows them.
READERS = {
    "agency": N_("agencies"),
    "crisis-cell": N_("crisis cells"),
    "service": N_("services"),
    "subject": N_("data subjects"),
    "operator": N_("operators"),
    "admin": N_("administrators"),
}
TIMELINESS = {
    "on-time": N_("on time"),
    "late": N_("late"),
    "never": N_("no successful run yet"),
    "unscheduled": N_("no schedule"),
    "disabled": N_("disabled"),
    "unreadable": N_("schedule not understood"),
}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Timeliness:
    """Whether a source keeps to its schedule: a successful run since `due` is expected."""

    state: str  # a key of TIMELINESS
    due: datetime | None = None  # the scheduled time a successful run should have followed
    every: timedelta | None = None  # the schedule's last interval


def timeliness(
    schedule: str | None, enabled: bool, last_success: datetime | None, now: datetime
) -> Timeliness:
    """Late when no run has succeeded since the last scheduled time (once a run started then
    has had GRACE to finish; until then, since the time before it)."""
    if not schedule:
        return Timeliness("unscheduled")
    if not enabled:
        return Timeliness("disabled")
    try:
        times = CronSim(schedule, now.replace(tzinfo=None), reverse=True)
        latest, before = next(times), next(times)
    except (CronSimError, StopIteration, ValueError):
        return Timeliness("unreadable")
    latest, before = latest.replace(tzinfo=UTC), before.replace(tzinfo=UTC)
    every = latest - before
    due = latest if now - latest >= min(every, GRACE) else before
    if last_success is None:
        return Timeliness("never", due, every)
    on_time = as_utc(last_success) >= due - min(SKEW, every / 2)
    return Timeliness("on-time" if on_time else "late", due, every)


@dataclass
class Feed:
    """What the dashboard shows of one source (or of a dataset published without a source
    file): its last runs, its last successful one, and whether it keeps to its schedule."""

    dataset_id: str
    title: str
    source: Source | None = None
    dataset: Dataset | None = None
    runs: list[HarvestRun] = field(default_factory=list)
    last_success: HarvestRun | None = None
    timeliness: Timeliness = Timeliness("unscheduled")

    @property
    def anchor(self) -> str:
        """The id of the feed's section on the page."""
        return f"feed-{self.source.id if self.source else self.dataset_id}"

    @property
    def latest(self) -> HarvestRun | None:
        """The newest run, if any."""
        return self.runs[0] if self.runs else None


def feeds_of(session: Session, organizations: frozenset[str]) -> tuple[list[Feed], list[str]]:
    """The operator's feeds, by title, without their runs: each source file of its
    organizations, then each of their datasets no source file publishes to."""
    sources, broken = all_sources()
    mine = [s for s in sources if s.operator.id in organizations]
    targets = {dataset_of(s) for s in mine}
    rows = session.exec(
        select(Dataset.id, Dataset.title, Dataset.organization_id).where(
            sa.or_(
                col(Dataset.organization_id).in_(sorted(organizations)),
                col(Dataset.id).in_(sorted(targets)),
            )
        )
    ).all()
    known = {dataset_id: (title, owner) for dataset_id, title, owner in rows}
    feeds: list[Feed] = []
    for source in mine:
        target = dataset_of(source)
        title, owner = known.get(target, (source.title, source.operator.id))
        if owner in organizations:  # another organization's dataset is not this one's feed
            feeds.append(Feed(target, title, source=source))
    covered = {feed.dataset_id for feed in feeds}
    feeds += [
        Feed(dataset_id, title)
        for dataset_id, (title, owner) in known.items()
        if owner in organizations and dataset_id not in covered
    ]
    feeds.sort(key=lambda f: (f.title.casefold(), f.source.id if f.source else f.dataset_id))
    return feeds, broken


def fill(session: Session, feeds: list[Feed], now: datetime) -> None:
    """Read each feed's last runs, its last successful run and its dataset."""
    datasets = {
        d.id: d
        for d in session.exec(
            select(Dataset).where(col(Dataset.id).in_(sorted({f.dataset_id for f in feeds})))
        ).all()
    }
    for feed in feeds:
        feed.dataset = datasets.get(feed.dataset_id)
        feed.runs = _runs(session, feed, RUNS_SHOWN)
        feed.last_success = next((r for r in feed.runs if r.status in SUCCESS), None)
        if feed.last_success is None and len(feed.runs) == RUNS_SHOWN:
            older = _runs(session, feed, 1, statuses=SUCCESS)
            feed.last_success = older[0] if older else None
        if feed.source is not None:
            feed.timeliness = timeliness(
                feed.source.schedule,
                feed.source.enabled,
                feed.last_success.started_at if feed.last_success else None,
                now,
            )


def _runs(
    session: Session, feed: Feed, limit: int, statuses: tuple[str, ...] = ()
) -> list[HarvestRun]:
    """A feed's newest runs, through the (dataset, start) index: its dataset's, or only its
    source's when several sources publish to one dataset (a portal's files)."""
    statement = select(HarvestRun).where(HarvestRun.dataset_id == feed.dataset_id)
    if feed.source is not None and feed.source.id != feed.dataset_id:
        statement = statement.where(HarvestRun.source_id == feed.source.id)
    if statuses:
        statement = statement.where(col(HarvestRun.status).in_(statuses))
    statement = statement.order_by(
        col(HarvestRun.started_at).desc(), col(HarvestRun.id).desc()
    ).limit(limit)
    return list(session.exec(statement).all())


def failures(session: Session, feeds: list[Feed], since: datetime) -> list[HarvestRun]:
    """The newest failed or refused runs of these feeds since `since`, through the (dataset,
    start) index (a refused batch may have no dataset yet: it has its source's dataset id)."""
    statement = (
        select(HarvestRun)
        .where(
            col(HarvestRun.dataset_id).in_(sorted({f.dataset_id for f in feeds})),
            col(HarvestRun.status).in_(FAILURE),
            col(HarvestRun.started_at) >= since,
        )
        .order_by(col(HarvestRun.started_at).desc(), col(HarvestRun.id).desc())
        .limit(FAILURES_SHOWN)
    )
    return list(session.exec(statement).all())


@dataclass
class Reads:
    """The reads of one dataset's records in the window, by kind of reader."""

    dataset_id: str
    granted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    denied: int = 0
    rows: int = 0

    @property
    def total(self) -> int:
        """Every granted read."""
        return sum(self.granted.values())


def downloads(session: Session, feeds: list[Feed], since: datetime) -> list[Reads]:
    """Reads of these feeds' datasets since `since`, from the access log (through its
    (dataset, time) index), counted in the database by dataset, kind of reader and outcome;
    the most read first."""
    statement = (
        sa.select(
            col(AccessEvent.dataset_id),
            col(AccessEvent.actor_role),
            col(AccessEvent.outcome),
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(AccessEvent.rows), 0),
        )
        .where(
            col(AccessEvent.dataset_id).in_(sorted({f.dataset_id for f in feeds})),
            col(AccessEvent.at) >= since,
        )
        .group_by(
            col(AccessEvent.dataset_id), col(AccessEvent.actor_role), col(AccessEvent.outcome)
        )
    )
    found: dict[str, Reads] = {}
    for dataset_id, role, outcome, count, rows in session.connection().execute(statement):
        reads = found.setdefault(dataset_id, Reads(dataset_id))
        if outcome == "granted":
            reads.granted[role] += int(count)
            reads.rows += int(rows or 0)
        else:
            reads.denied += int(count)
    return sorted(found.values(), key=lambda r: (-r.total, -r.denied, r.dataset_id))


def refuse(request: Request, visitor: Visitor) -> Response:
    """Anonymous visitors sign in first; other roles than operators are told why not (403)."""
    if visitor.actor.anonymous:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(request, f"/signin?next={quote(target, safe='/')}")  # target: the full path
    return render(request, visitor, "dashboard.html", {"refused": "role"}, status_code=403)


@router.get("/dashboard")
def render_dashboard(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    page: int = Query(1, ge=1, le=1_000_000),
) -> Response:
    """The signed-in operator's sources: runs, failures, quarantine, downloads, timeliness."""
    actor = visitor.actor
    if actor.role != "operator":
        return refuse(request, visitor)
    now = datetime.now(UTC)
    since = now - WINDOW
    organizations = actor.organizations
    every, broken = feeds_of(session, organizations)
    start = (page - 1) * FEEDS_PAGE
    shown = every[start : start + FEEDS_PAGE]
    fill(session, shown, now)
    names = dict(
        session.exec(
            select(Organization.id, Organization.name).where(
                col(Organization.id).in_(sorted(organizations))
            )
        ).all()
    )
    titles = {f.dataset_id: f.title for f in every}
    reads = downloads(session, shown, since)
    context: dict[str, Any] = {
        "refused": None,
        "organizations": [names.get(o, o) for o in sorted(organizations)],
        "feeds": shown,
        "feed_count": len(every),
        "page": page,
        "more": start + FEEDS_PAGE < len(every),
        "pages": max(1, -(-len(every) // FEEDS_PAGE)),
        "sources_broken": broken,
        "failures": failures(session, shown, since),
        "downloads": reads,
        "reader_kinds": [k for k in READERS if any(k in r.granted for r in reads)]
        + sorted({k for r in reads for k in r.granted} - set(READERS)),
        "run_statuses": RUN_STATUSES,
        "titles": titles,
        "readers": READERS,
        "timeliness_names": TIMELINESS,
        "freshness_of": freshness_of,
        "window_days": WINDOW.days,
        "now": now,
    }
    page_answer = render(request, visitor, "dashboard.html", context)
    page_answer.headers["Cache-Control"] = "private, no-store"
    return page_answer


@router.get("/dashboard/quarantine/{dataset_id}.csv")
def download_quarantine(
    request: Request,
    session: SessionDep,
    visitor: VisitorDep,
    dataset_id: str,
    run: int | None = Query(None, ge=1, le=2**31 - 1),
) -> Response:
    """A run's quarantined rows as CSV (default the latest run), for an operator of the
    dataset's organization, through the read path's checks and access log."""
    actor = visitor.actor
    if actor.anonymous:
        return refuse(request, visitor)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        return Response(f"no dataset {dataset_id!r}", status_code=404, media_type="text/plain")
    caller = visitor.caller
    engine = reading.engine_of(session)
    if not actor.operates(dataset.organization_id):
        # Only the producer's operators download quarantine here; a refused attempt on closed
        # data is logged as the API logs it.
        with suppress(access.AccessDenied):
            reading.admit(engine, dataset, caller, whole=True)
        return render(
            request, visitor, "dashboard.html", {"refused": "organization"}, status_code=403
        )
    chosen = _chosen_run(session, dataset_id, run)
    if run is not None and chosen is None:
        return Response(
            f"dataset {dataset_id!r} has no run {run}", status_code=404, media_type="text/plain"
        )
    try:
        pages = reading.stream_quarantine(session, dataset, caller, chosen.id if chosen else None)
    except access.AccessDenied as denied:
        return Response(denied.reason, status_code=403, media_type="text/plain")
    name = f"{dataset_id}-run-{chosen.id}-quarantine.csv" if chosen else f"{dataset_id}.csv"
    return StreamingResponse(
        quarantine_csv(pages, field_names(session, dataset_id)),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def _chosen_run(session: Session, dataset_id: str, run: int | None) -> HarvestRun | None:
    """The run asked for (None if it is not this dataset's), else the latest run."""
    if run is not None:
        found = session.get(HarvestRun, run)
        return found if found is not None and found.dataset_id == dataset_id else None
    latest = session.exec(
        select(HarvestRun)
        .where(HarvestRun.dataset_id == dataset_id)
        .order_by(col(HarvestRun.started_at).desc(), col(HarvestRun.id).desc())
        .limit(1)
    ).first()
    return latest
